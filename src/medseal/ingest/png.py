"""Read PNG, JPEG and TIFF files (chest X-ray and histology data sets) into ``Image``.

Where it sits: the non-DICOM entry of the flow. Public data sets (NIH ChestX-ray14,
CheXpert, BreaKHis) ship PNG/JPEG; :func:`read_image` decodes them with Pillow
into stored values (8-bit grey, 16-bit grey or 8-bit RGB) for the codec. There is
no header to de-identify; Pillow's text chunks are not kept.
"""

from __future__ import annotations

import dataclasses
import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from medseal import config
from medseal.errors import ImageTooLargeError, InputError, MedsealError, UnsupportedImageError
from medseal.ingest.records import Record
from medseal.types import DeidReport, Image

if TYPE_CHECKING:  # pragma: no cover
    from medseal.ingest.deid import Deidentifier

__all__ = ["IMAGE_SUFFIXES", "image_record", "read_image", "with_pseudonym"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})
_BANDS = {"1": 1, "L": 1, "LA": 2, "P": 3, "PA": 3, "RGB": 3, "RGBA": 4, "CMYK": 4, "YCbCr": 3}


def _name(src: object) -> str:
    if isinstance(src, (str, os.PathLike)):
        return Path(os.fspath(src)).name or "<file>"
    name = getattr(src, "name", None)
    return Path(name).name if isinstance(name, str) and name else "<stream>"


def read_image(
    src: str | os.PathLike[str] | BinaryIO,
    *,
    max_pixels: int | None = None,
    name: str | None = None,
) -> Image:
    """Decode a PNG/JPEG/TIFF file into stored values.

    Parameters
    ----------
    src
        A path or binary file object.
    max_pixels
        Refuse images with more than this many samples (width x height x bands),
        checked from the file header before any pixel is decoded. Default
        :func:`medseal.config.max_pixels`.
    name
        The name error messages use instead of the file's base name (file names
        can carry patient names).

    Returns
    -------
    Image
        ``MONOCHROME2`` uint8 (mode ``L``/``1``), ``MONOCHROME2`` uint16 (16-bit
        modes ``I;16``/``I;16B``/``I`` within 0..65535) or ``RGB`` uint8.
        ``meta`` has ``source_format`` (``png``/``jpeg``/``tiff``), ``mode`` (Pillow's
        original mode) and ``converted`` (what was done to it).

    Notes
    -----
    - Alpha is dropped: ``RGBA``/``LA``/``PA`` become ``RGB``/``L`` (medical data sets
      use it only as an opaque layer; 21 files of the NIH 64 px subset are RGBA).
    - Grey content stored as RGB (R == G == B everywhere, as in the NIH 64 px
      subset) becomes ``L``, so grey images are stored once, not three times.
    - Palette images become ``L`` when the palette is grey, else ``RGB``.
    - Multi-page files (TIFF): only the first page is read; ``meta["n_frames"]`` says
      how many there are.

    Raises
    ------
    ImageTooLargeError
        The pixel-count guard was hit.
    UnsupportedImageError
        Not an image Pillow recognises, or a mode we do not store (float, CMYK
        with more than 8 bits ...).
    InputError
        The file is truncated or corrupt.
    """
    name = name or _name(src)
    limit = config.max_pixels() if max_pixels is None else int(max_pixels)
    try:
        with warnings.catch_warnings():
            # our own guard below replaces Pillow's decompression-bomb heuristics
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            pil = PILImage.open(src)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name} is a directory, not a file") from None
    except PILImage.DecompressionBombError:
        raise ImageTooLargeError(f"{name}: image dimensions exceed Pillow's safety limit") from None
    except UnidentifiedImageError:
        raise UnsupportedImageError(f"{name} is not an image format Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{name} could not be opened ({type(exc).__name__})") from None
    with pil:
        width, height = pil.size
        bands = _BANDS.get(pil.mode, len(pil.getbands()))
        count = int(width) * int(height) * int(bands)
        if count > limit:
            raise ImageTooLargeError(
                f"{name}: {width}x{height} pixels x {bands} bands = {count} exceeds the limit "
                f"of {limit} (MEDSEAL_MAX_PIXELS); nothing was decoded"
            )
        fmt = (pil.format or "unknown").lower()
        mode = pil.mode
        n_frames = int(getattr(pil, "n_frames", 1) or 1)
        try:
            pil.load()
            pixels, photometric, bits, converted = _to_array(pil, name)
        except MedsealError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise InputError(
                f"{name}: image data are truncated or corrupt ({type(exc).__name__})"
            ) from None
    meta: dict[str, Any] = {
        "source_format": {"jpg": "jpeg", "tif": "tiff"}.get(fmt, fmt),
        "mode": mode,
        "converted": converted,
    }
    if n_frames > 1:
        meta["n_frames"] = n_frames
    return Image(
        pixels=pixels,
        photometric=photometric,
        bits_stored=bits,
        frames=1,
        source=meta["source_format"],
        meta=meta,
    )


def _grey_if_equal(rgb: np.ndarray) -> np.ndarray | None:
    if rgb[..., 0].tobytes() == rgb[..., 1].tobytes() == rgb[..., 2].tobytes():
        return np.ascontiguousarray(rgb[..., 0])
    return None


def _to_array(pil: PILImage.Image, name: str) -> tuple[np.ndarray, str, int, str]:
    """(pixels, photometric, bits_stored, what was converted) for a loaded Pillow image."""
    mode = pil.mode
    if mode == "L":
        return np.array(pil, dtype=np.uint8), "MONOCHROME2", 8, "none"
    if mode == "1":
        return np.array(pil.convert("L"), dtype=np.uint8), "MONOCHROME2", 8, "1->L"
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        arr = np.array(pil)
        return arr.astype(np.uint16, copy=False), "MONOCHROME2", 16, "none"
    if mode == "I":
        arr = np.array(pil)
        if arr.size and (arr.min() < 0 or arr.max() > 0xFFFF):
            raise UnsupportedImageError(f"{name}: 32-bit integer pixels outside 0..65535")
        return arr.astype(np.uint16), "MONOCHROME2", 16, "I->uint16"
    if mode == "LA":
        return np.array(pil.getchannel("L"), dtype=np.uint8), "MONOCHROME2", 8, "alpha dropped"
    if mode in ("P", "PA"):
        rgb = np.array(pil.convert("RGB"), dtype=np.uint8)
        grey = _grey_if_equal(rgb)
        if grey is not None:
            return grey, "MONOCHROME2", 8, "palette->L"
        return rgb, "RGB", 8, "palette->RGB"
    if mode in ("RGB", "RGBA", "CMYK", "YCbCr", "RGBX"):
        rgb = np.array(pil.convert("RGB") if mode != "RGB" else pil, dtype=np.uint8)
        note = {"RGB": "none", "RGBA": "alpha dropped"}.get(mode, f"{mode}->RGB")
        grey = _grey_if_equal(rgb)
        if grey is not None:
            return grey, "MONOCHROME2", 8, ("grey RGB->L" if note == "none" else note + ", ->L")
        return np.ascontiguousarray(rgb), "RGB", 8, note
    raise UnsupportedImageError(f"{name}: Pillow mode {mode!r} is not supported")


def read_image_bytes(data: bytes, *, name: str = "<bytes>", max_pixels: int | None = None) -> Image:
    """:func:`read_image` on bytes already in memory (used by tests and loaders)."""
    buf = io.BytesIO(data)
    buf.name = name
    return read_image(buf, max_pixels=max_pixels)


def with_pseudonym(image: Image, original: str, name: str) -> Image:
    """``image`` carrying ``{original path: neutral name}`` for the vault's sealed pseudonym map."""
    report = DeidReport(
        profile="source path replaced by a keyed name",
        removed=("source path",),
        changed=(),
        burned_in_annotation="UNKNOWN",
        pseudonyms={original: name},
    )
    return dataclasses.replace(image, deid=report)


class _NamedImage:
    """Loader of a neutrally named image file (picklable; errors name the neutral name)."""

    __slots__ = ("max_pixels", "name", "original", "path")

    def __init__(self, path: Path, original: str, name: str, max_pixels: int | None) -> None:
        self.path, self.original, self.name, self.max_pixels = path, original, name, max_pixels

    def __call__(self) -> Image:
        image = read_image(self.path, max_pixels=self.max_pixels, name=self.name)
        return with_pseudonym(image, self.original, self.name)

    def __repr__(self) -> str:
        return f"<image {self.name}>"


def image_record(
    path: str | os.PathLike[str],
    original: str,
    *,
    deidentifier: Deidentifier | None = None,
    max_pixels: int | None = None,
) -> Record:
    """A lazily loaded record for one image file, named without its path.

    Parameters
    ----------
    path
        The file to read.
    original
        What identified it so far (the path relative to the ingest root).
    deidentifier
        Its secret keys the name (:meth:`~medseal.ingest.deid.Deidentifier.name_for`),
        so the same file gets the same name in every session of a vault; ``None``
        uses a random secret (names are then not reproducible).

    Returns
    -------
    Record
        ``key`` is ``img-<12 base32 characters>``; the loaded image's
        ``deid.pseudonyms`` maps ``original`` to that key.
    """
    if deidentifier is None:
        from medseal.ingest.deid import Deidentifier

        deidentifier = Deidentifier.random()
    name = deidentifier.name_for(original)
    loader = _NamedImage(Path(path), original, name, max_pixels)
    return Record(name, None, None, None, {"format": "image"}, loader)
