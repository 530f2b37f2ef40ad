"""Read DICOM files into :class:`~medseal.types.Image` and turn them into display values.

Where it sits: the first step of the flow. :func:`read_dicom` parses a file with
pydicom, refuses what must not be stored (decompression bombs, burned-in
annotations, non-image objects), decodes the *stored* pixel values bit-exactly,
de-identifies the header (:mod:`medseal.ingest.deid`) and hands an ``Image`` to
the codec. :func:`to_display` applies the modality and VOI LUTs for viewing and
for models; it is never applied to what the vault stores.

Where things live: reading, the guards, decoding and the ``Image`` facts are
here; :func:`to_display` and :func:`display_attributes` are in
:mod:`medseal.ingest._dicom_display` (re-exported here), the per-frame codestream
guard in :mod:`medseal.ingest._frame_guard`.

Error messages name the file (its base name only), never header values.
"""

from __future__ import annotations

import contextlib
import copy
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pydicom
import pydicom.errors
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from medseal import config
from medseal.errors import (
    BurnedInAnnotationError,
    ImageTooLargeError,
    InputError,
    InvalidDicomError,
    MedsealError,
    UnsupportedImageError,
)
from medseal.ingest._dicom_display import display_attributes, float_or_none, to_display
from medseal.ingest._frame_guard import check_encapsulated_frames
from medseal.ingest._quiet import quiet_pydicom
from medseal.types import DeidReport, Image

if TYPE_CHECKING:  # pragma: no cover
    from medseal.ingest.deid import Deidentifier

__all__ = ["PIXEL_KEYWORDS", "read_dicom", "to_display"]

#: elements that hold (or index) pixel data; none of them is kept in ``Image.header``
PIXEL_KEYWORDS = (
    "PixelData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
)
_PIXEL_PAYLOADS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _source_name(src: object) -> str:
    """The base name of a path or file object (never a full path: folders can hold PHI)."""
    if isinstance(src, (str, os.PathLike)):
        return Path(os.fspath(src)).name or "<file>"
    name = getattr(src, "name", None)
    if isinstance(name, str) and name:
        return Path(name).name
    return "<stream>"


def _int(ds: Dataset, keyword: str, default: int | None, name: str) -> int:
    value = ds.get(keyword, default)
    if value is None or value == "":
        if default is None:
            raise InvalidDicomError(f"{name}: required attribute {keyword} is missing")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidDicomError(f"{name}: attribute {keyword} is not an integer") from None


def _transfer_syntax(ds: Dataset) -> UID:
    """The dataset's transfer syntax; inferred from how it was read when the meta lacks it."""
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return UID(str(ts))
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        return ExplicitVRLittleEndian
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _meta(ds: Dataset, ts: UID, frames: int, photometric_original: str) -> dict[str, Any]:
    attrs = display_attributes(ds)
    meta: dict[str, Any] = {
        "source_format": "dicom",
        "modality": str(ds.get("Modality", "") or "") or None,
        "sop_class_uid": str(ds.get("SOPClassUID", "") or "") or None,
        "transfer_syntax": str(ts),
        "photometric_original": photometric_original,
        "pixel_representation": int(ds.get("PixelRepresentation", 0) or 0),
        "bits_allocated": int(ds.get("BitsAllocated", 0) or 0),
        "number_of_frames": frames,
    }
    slope = float_or_none(attrs.get("RescaleSlope"))
    intercept = float_or_none(attrs.get("RescaleIntercept"))
    if slope is not None and intercept is not None:
        meta["rescale_slope"] = slope
        meta["rescale_intercept"] = intercept
    center = float_or_none(attrs.get("WindowCenter"))
    width = float_or_none(attrs.get("WindowWidth"))
    if center is not None and width is not None:
        meta["window_center"] = center
        meta["window_width"] = width
    return meta


def _header_without_pixels(ds: Dataset) -> Dataset:
    """A plain ``Dataset`` (no file name, no pixel data) holding ``ds``'s other elements."""
    header = Dataset()
    for elem in ds:  # iterating converts raw elements with the file's own encoding
        if elem.keyword in PIXEL_KEYWORDS or elem.tag == 0xFFFCFFFC:
            continue
        header.add(copy.deepcopy(elem))
    file_meta = getattr(ds, "file_meta", None)
    header.file_meta = copy.deepcopy(file_meta) if file_meta is not None else FileMetaDataset()
    return header


def read_dicom(
    src: str | os.PathLike[str] | BinaryIO,
    *,
    deidentify: bool = True,
    deidentifier: Deidentifier | None = None,
    allow_burned_in: bool = False,
    max_pixels: int | None = None,
) -> Image:
    """Read one DICOM image: stored pixel values, de-identified header, PHI-free facts.

    Parameters
    ----------
    src
        A path or a binary file object.
    deidentify
        Apply :class:`~medseal.ingest.deid.Deidentifier` to the header (default).
    deidentifier
        The de-identifier to use (the vault passes its own, keyed by the vault's
        secret, so pseudonyms are stable); ``None`` makes a fresh one with a random
        secret (pseudonyms then differ on every call).
    allow_burned_in
        Accept ``BurnedInAnnotation == "YES"`` (with a warning) instead of refusing.
    max_pixels
        Refuse images with more than this many pixel samples
        (rows x columns x frames x samples per pixel), checked before decoding.
        Default :func:`medseal.config.max_pixels`.

    Returns
    -------
    Image
        ``pixels`` are the stored values exactly as pydicom decodes them (native
        byte order; multi-frame data has the frame axis first; colour that a codec
        or pydicom converts to RGB is labelled ``"RGB"``). ``header`` is the
        de-identified dataset without pixel data; ``meta`` holds modality, SOP
        class, original transfer syntax, rescale and window values, pixel
        representation, bits allocated and frame count.

    Raises
    ------
    InvalidDicomError
        Not DICOM, corrupt or truncated, or no pixel data (DICOMDIR, SR ...).
    UnsupportedImageError
        No installed pixel decoder handles the transfer syntax.
    ImageTooLargeError
        The pixel-count guard was hit (nothing was decoded).
    BurnedInAnnotationError
        The header says text is burned into the pixels and ``allow_burned_in`` is false.

    Examples
    --------
    >>> from medseal.ingest.datasets.embedded import pydicom_sample_paths
    >>> img = read_dicom(pydicom_sample_paths()[0])
    >>> img.header is not None and "PixelData" not in img.header
    True
    """
    name = _source_name(src)
    limit = config.max_pixels() if max_pixels is None else int(max_pixels)
    try:
        with quiet_pydicom():  # pydicom's parse warnings and log records may quote values
            ds = pydicom.dcmread(src)
    except pydicom.errors.InvalidDicomError:
        raise InvalidDicomError(f"{name} is not a DICOM file (no DICM preamble)") from None
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name} is a directory, not a file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except Exception as exc:  # pydicom raises many types on damaged files
        raise InvalidDicomError(
            f"{name} could not be parsed as DICOM ({type(exc).__name__}): corrupt or truncated"
        ) from None

    try:
        return _image_from_dataset(
            ds,
            name,
            deidentify=deidentify,
            deidentifier=deidentifier,
            allow_burned_in=allow_burned_in,
            limit=limit,
        )
    except MedsealError:
        raise
    except Exception as exc:  # lazily parsed elements fail here on damaged files
        raise InvalidDicomError(
            f"{name} could not be read ({type(exc).__name__}): corrupt or truncated"
        ) from None


def _image_from_dataset(
    ds: Dataset,
    name: str,
    *,
    deidentify: bool,
    deidentifier: Deidentifier | None,
    allow_burned_in: bool,
    limit: int,
) -> Image:
    if not any(kw in ds for kw in _PIXEL_PAYLOADS):
        raise InvalidDicomError(
            f"{name} has no pixel data (a DICOMDIR, structured report or other non-image object)"
        )
    rows = _int(ds, "Rows", None, name)
    cols = _int(ds, "Columns", None, name)
    frames = _int(ds, "NumberOfFrames", 1, name)
    samples = _int(ds, "SamplesPerPixel", 1, name)
    if min(rows, cols, frames, samples) < 1:
        raise InvalidDicomError(f"{name}: image dimensions must be positive")
    count = rows * cols * frames * samples
    if count > limit:
        raise ImageTooLargeError(
            f"{name}: {rows}x{cols} pixels x {frames} frames x {samples} samples = {count} "
            f"exceeds the limit of {limit} (MEDSEAL_MAX_PIXELS); nothing was decoded"
        )

    burned = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if burned == "YES":
        if not allow_burned_in:
            raise BurnedInAnnotationError(
                f"{name}: BurnedInAnnotation is YES (identifying text may be in the pixels); "
                "pass allow_burned_in=True to store it anyway"
            )
        warnings.warn(
            f"{name}: BurnedInAnnotation is YES; the pixels may show identifying text "
            "that de-identification cannot remove",
            UserWarning,
            stacklevel=3,
        )

    ts = _transfer_syntax(ds)
    if not hasattr(ds, "file_meta"):
        ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = ts
    check_encapsulated_frames(ds, ts, name, limit)  # each frame's own header, before decoding
    pixels, photometric, frames = _decode(ds, ts, name)
    photometric_original = str(ds.get("PhotometricInterpretation", "") or "")
    bits_stored = int(ds.get("BitsStored", 0) or 0) or pixels.dtype.itemsize * 8
    meta = _meta(ds, ts, frames, photometric_original)

    header, report = _deidentified_header(ds, deidentify, deidentifier)
    return Image(
        pixels=pixels,
        photometric=photometric,
        bits_stored=bits_stored,
        frames=frames,
        source="dicom",
        header=header,
        meta=meta,
        deid=report,
    )


def _deidentified_header(
    ds: Dataset, deidentify: bool, deidentifier: Deidentifier | None
) -> tuple[Dataset, DeidReport | None]:
    """The header without pixels, de-identified; pydicom stays silent throughout.

    Raw elements are parsed here (lazily, nested ones included), and pydicom's
    warnings about their values quote the original values: none may reach a log.
    """
    from medseal.ingest.deid import Deidentifier

    with quiet_pydicom():
        header = _header_without_pixels(ds)
        if not deidentify:
            return header, None
        if deidentifier is None:
            deidentifier = Deidentifier.random()
        return header, deidentifier.deidentify(header)


def _decode(ds: Dataset, ts: UID, name: str) -> tuple[np.ndarray, str, int]:
    """Decode the stored pixel values with pydicom's decoder for ``ts``."""
    from pydicom.pixels import get_decoder

    label = ts.name if ts.is_valid and ts.name != ts else str(ts)
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise UnsupportedImageError(
            f"{name}: no pixel decoder exists for transfer syntax {label}"
        ) from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "a decoding plugin"
        raise UnsupportedImageError(f"{name}: decoding {label} needs {missing}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr, info = decoder.as_array(ds)
    except MemoryError:
        raise ImageTooLargeError(f"{name}: not enough memory to decode the pixel data") from None
    except Exception as exc:
        raise InvalidDicomError(
            f"{name}: pixel data could not be decoded ({label}, {type(exc).__name__}): "
            "corrupt or truncated, or a variant no installed plugin handles"
        ) from None
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    photometric = str(info.get("photometric_interpretation", "") or "")
    photometric = photometric or str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    frames = 1
    with contextlib.suppress(TypeError, ValueError):
        frames = int(info.get("number_of_frames", 1) or 1)
    if frames > 1 and (arr.ndim < 3 or arr.shape[0] != frames):
        raise InvalidDicomError(f"{name}: decoded pixel data do not match NumberOfFrames")
    return np.ascontiguousarray(arr), photometric, frames
