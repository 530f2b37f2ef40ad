"""Codec registry and the ``encode``/``decode`` front door of the codec stage.

Flow: ``ingest`` hands an :class:`~medseal.types.Image` to :func:`encode`, which
picks a backend by name (``htj2k``, ``jpegls``, ``j2k``) and returns an
:class:`~medseal.types.EncodedImage` (one raw codestream per frame);
``crypto`` then seals the bytes that :func:`medseal.codec.pack` makes of it.

Backends are registered by name, as pydicom registers its pixel-data plugins:
each lives in its own module, is imported only when used, and says what to
install when its library is missing. :func:`available_codecs` lists them all,
usable or not.

The default codec is HTJ2K, the fastest lossless DICOM-standard codec measured
here (``benchmarks/codec.py``, table and rule in ``docs/codec.md``);
:func:`default_codec` falls back to classic JPEG 2000 where no HTJ2K encoder
is installed.

The decompression-bomb guard lives here too: :func:`read_siz` parses a JPEG
2000 codestream's SIZ marker segment and :func:`read_jpegls_header` a JPEG-LS
SOF55 frame header, so that image sizes are checked against
:func:`medseal.config.max_pixels` *before* any decoder allocates memory.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, Unpack, cast

import numpy as np

from medseal._codestreams import frame_segment, siz_segment, sof_fields
from medseal.codec._probe import FrameOptions
from medseal.config import max_pixels as default_max_pixels
from medseal.errors import (
    CodecError,
    CodecUnavailableError,
    ImageTooLargeError,
    InputError,
    UnsupportedImageError,
)
from medseal.types import EncodedImage, Image

__all__ = [
    "DEFAULT_CODEC",
    "Backend",
    "CodecName",
    "SizInfo",
    "UnknownCodecError",
    "available_codecs",
    "decode",
    "default_codec",
    "encode",
    "frame_info",
    "get_backend",
    "read_jpegls_header",
    "read_siz",
    "register_backend",
]

#: dtypes a codestream can carry bit-exactly here (and DICOM's BitsAllocated 8 or 16).
SUPPORTED_DTYPES = ("uint8", "int8", "uint16", "int16")
#: JPEG 2000 and DICOM both cap rows and columns at 2**16 - 1.
MAX_SIDE = 65535


class CodecName(StrEnum):
    """The codecs medseal knows; plain strings (``"j2k"``) are accepted too.

    All three are lossless DICOM transfer syntaxes: ``j2k`` JPEG 2000 Part 1
    (``1.2.840.10008.1.2.4.90``), ``htj2k`` High-Throughput JPEG 2000 Part 15
    (``.201``), ``jpegls`` JPEG-LS (``.80``, lossless only here).
    """

    J2K = "j2k"
    HTJ2K = "htj2k"
    JPEGLS = "jpegls"


#: The fastest lossless DICOM-standard codec by measurement (docs/codec.md).
DEFAULT_CODEC = CodecName.HTJ2K


class UnknownCodecError(CodecError, ValueError):
    """A codec name that no backend is registered under."""


class Backend(Protocol):
    """What a backend module provides (module-level functions)."""

    def unavailable_reason(self) -> str | None:
        """``None`` when encoding works, else what is missing and what to install."""

    def encode_frame(self, frame: np.ndarray, **options: Unpack[FrameOptions]) -> bytes:
        """One frame ``(rows, cols)`` or ``(rows, cols, 3)`` -> one raw codestream."""

    def decode_frame(self, codestream: bytes) -> np.ndarray:
        """One raw codestream -> ``(rows, cols)`` or ``(rows, cols, samples)``."""


@dataclass(frozen=True)
class _Spec:
    name: str
    module: str
    requires: str


_REGISTRY: dict[str, _Spec] = {}


def register_backend(name: str, module: str, *, requires: str) -> None:
    """Register a backend module under ``name`` (imported lazily on first use).

    Parameters
    ----------
    name
        The codec name users pass to :func:`encode` (e.g. ``"j2k"``).
    module
        Dotted path of a module implementing :class:`Backend`'s functions.
    requires
        What a user installs to make it work (shown when it is missing).
    """
    _REGISTRY[str(name)] = _Spec(str(name), module, requires)


register_backend(CodecName.J2K, "medseal.codec.openjpeg", requires="pylibjpeg-openjpeg")
register_backend(CodecName.HTJ2K, "medseal.codec.htj2k", requires="imagecodecs")
register_backend(CodecName.JPEGLS, "medseal.codec.jpegls", requires="imagecodecs")


def _spec(name: CodecName | str) -> _Spec:
    key = str(name).lower()
    try:
        return _REGISTRY[key]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownCodecError(f"unknown codec {key!r}; known codecs: {known}") from None


def get_backend(name: CodecName | str) -> Backend:
    """The backend module registered under ``name`` (imported now).

    Raises
    ------
    UnknownCodecError
        No backend has that name.
    CodecUnavailableError
        The backend module itself could not be imported.
    """
    spec = _spec(name)
    try:
        module = importlib.import_module(spec.module)
    except ImportError as exc:
        raise CodecUnavailableError(
            f"codec {spec.name!r} is unavailable ({exc.name or 'import failed'}); "
            f"install it with: pip install {spec.requires}"
        ) from None
    return cast(Backend, module)


def available_codecs() -> dict[str, str | None]:
    """Every registered codec: ``None`` if it can encode here, else why not.

    Examples
    --------
    >>> available_codecs()["j2k"] is None
    True
    """
    out: dict[str, str | None] = {}
    for name in sorted(_REGISTRY):
        try:
            out[name] = get_backend(name).unavailable_reason()
        except CodecUnavailableError as exc:
            out[name] = str(exc)
    return out


def default_codec() -> CodecName:
    """:data:`DEFAULT_CODEC` when it can encode here, else classic JPEG 2000 (``j2k``).

    Examples
    --------
    >>> default_codec() in (CodecName.HTJ2K, CodecName.J2K)
    True
    """
    try:
        reason = get_backend(DEFAULT_CODEC).unavailable_reason()
    except CodecUnavailableError:
        reason = "unavailable"
    return DEFAULT_CODEC if reason is None else CodecName.J2K


# --------------------------------------------------------------------- SIZ header


@dataclass(frozen=True)
class SizInfo:
    """What a JPEG 2000 codestream's SIZ marker segment says about the image."""

    width: int
    height: int
    components: int
    precision: tuple[int, ...]
    signed: tuple[bool, ...]

    @property
    def samples(self) -> int:
        """Upper bound on the decoded sample count (sub-sampling ignored)."""
        return self.width * self.height * self.components


def read_siz(codestream: bytes) -> SizInfo:
    """Parse the SIZ marker segment at the start of a raw J2K/HTJ2K codestream.

    Only the header bytes are read (with :mod:`medseal._codestreams`), so
    this is safe on hostile input.

    Raises
    ------
    CodecError
        The bytes do not start with SOC + SIZ or the segment is inconsistent.
    """
    try:
        width, height, ssiz = siz_segment(bytes(codestream[: 4 + 38 + 3 * 16384]))
    except ValueError as exc:
        raise CodecError(f"not a valid raw JPEG 2000 codestream: {exc}") from None
    precision = tuple((s & 0x7F) + 1 for s in ssiz)
    return SizInfo(width, height, len(ssiz), precision, tuple(bool(s & 0x80) for s in ssiz))


#: the JPEG-LS frame header marker
_SOF55 = frozenset({0xF7})


def read_jpegls_header(codestream: bytes) -> SizInfo:
    """Parse the SOF55 frame header of a JPEG-LS codestream (ISO/IEC 14495-1 C.2.2).

    Marker segments before the first scan are walked by their lengths (a few
    dozen bytes, never the coded data), so this is safe on hostile input.
    JPEG-LS carries no sign: ``signed`` is always false.

    Raises
    ------
    CodecError
        No SOI, no SOF55 before the first scan, or an inconsistent header.
    """
    data = bytes(codestream[:65536])
    if data[:2] != b"\xff\xd8":
        raise CodecError("not a JPEG-LS codestream (no SOI marker at the start)")
    try:
        pos = frame_segment(data, _SOF55)
        fields = None if pos is None else sof_fields(data, pos)
    except ValueError as exc:
        raise CodecError(f"corrupt JPEG-LS codestream: {exc}") from None
    if fields is None:
        raise CodecError("not a JPEG-LS codestream (no SOF55 frame header before the first scan)")
    precision, height, width, components = fields
    if not (2 <= precision <= 16) or width < 1 or height < 1:
        raise CodecError("corrupt JPEG-LS frame header")
    return SizInfo(width, height, components, (precision,) * components, (False,) * components)


def frame_info(codec: CodecName | str, codestream: bytes) -> SizInfo:
    """What one stored frame's own header says, read with the parser for ``codec``."""
    if _spec(codec).name == CodecName.JPEGLS:
        return read_jpegls_header(codestream)
    return read_siz(codestream)


# --------------------------------------------------------------------- encode


def _split_frames(image: Image) -> tuple[list[np.ndarray], int]:
    """Frames of ``image`` as C-contiguous little-endian 2-D/3-D arrays, plus samples."""
    px = image.pixels
    dtype = px.dtype
    if dtype.kind not in "iu" or dtype.itemsize not in (1, 2):
        raise UnsupportedImageError(
            f"pixel dtype {dtype} is not supported; expected one of {', '.join(SUPPORTED_DTYPES)}"
        )
    frame_ndim = px.ndim - (1 if image.frames > 1 else 0)
    if frame_ndim not in (2, 3):
        raise UnsupportedImageError(
            f"pixel array of shape {px.shape} does not match frames={image.frames}; expected "
            "(rows, cols[, samples]) or (frames, rows, cols[, samples])"
        )
    if image.frames > 1 and px.shape[0] != image.frames:
        raise UnsupportedImageError(
            f"pixel array of shape {px.shape} has {px.shape[0]} frames, image says {image.frames}"
        )
    samples = image.samples_per_pixel
    if samples not in (1, 3):
        raise UnsupportedImageError(f"{samples} samples per pixel is not supported (1 or 3)")
    if not (1 <= image.rows <= MAX_SIDE and 1 <= image.cols <= MAX_SIDE):
        raise UnsupportedImageError(
            f"image of {image.rows} x {image.cols} pixels: rows and columns must be in "
            f"[1, {MAX_SIDE}]"
        )
    native = np.dtype(dtype.newbyteorder("<"))
    stack = px if image.frames > 1 else px[np.newaxis]
    frames = []
    for f in stack:
        if f.ndim == 3 and samples == 1:
            f = f[..., 0]
        frames.append(np.ascontiguousarray(f, dtype=native))
    return frames, samples


def _check_bits(image: Image, frames: list[np.ndarray]) -> int:
    bits = int(image.bits_stored)
    dtype = frames[0].dtype
    if not 1 <= bits <= dtype.itemsize * 8:
        raise UnsupportedImageError(
            f"bits_stored={bits} is not valid for {dtype.name} pixels (1..{dtype.itemsize * 8})"
        )
    lo = min(int(f.min()) for f in frames)
    hi = max(int(f.max()) for f in frames)
    lowest, highest = (
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if dtype.kind == "i" else (0, (1 << bits) - 1)
    )
    ok = lowest <= lo and hi <= highest
    if not ok:
        raise UnsupportedImageError(
            f"pixel values do not fit in bits_stored={bits} ({dtype.name}); "
            "refusing to encode, as the codestream would not be lossless"
        )
    return bits


def _lossy_settings(
    lossless: bool, ratio: float | None, psnr: float | None
) -> tuple[float | None, float | None]:
    if lossless:
        if ratio is not None or psnr is not None:
            raise InputError("ratio and psnr apply to lossy encoding only; pass lossless=False")
        return None, None
    if (ratio is None) == (psnr is None):
        raise InputError("lossy encoding needs exactly one of ratio= or psnr=")
    if ratio is not None and not (math.isfinite(ratio) and ratio > 1):
        raise InputError("ratio must be a finite number greater than 1")
    if psnr is not None and not (math.isfinite(psnr) and psnr > 0):
        raise InputError("psnr must be a finite number of dB greater than 0")
    return (
        float(ratio) if ratio is not None else None,
        float(psnr) if psnr is not None else None,
    )


def encode(
    image: Image,
    *,
    codec: CodecName | str | None = None,
    lossless: bool = True,
    ratio: float | None = None,
    psnr: float | None = None,
) -> EncodedImage:
    """Compress an image into one raw codestream per frame.

    Parameters
    ----------
    image
        Stored pixel values: 8- or 16-bit, signed or unsigned, grey or RGB,
        one frame or several. ``image.bits_stored`` becomes the codestream's
        precision.
    codec
        ``"htj2k"`` (JPEG 2000 Part 15, OpenJPH), ``"jpegls"`` (JPEG-LS,
        CharLS; lossless only) or ``"j2k"`` (JPEG 2000 Part 1, OpenJPEG).
        ``None`` means :func:`default_codec`.
    lossless
        Bit-exact when true (JPEG 2000: reversible 5/3 wavelet); otherwise
        JPEG 2000's irreversible 9/7 driven by ``ratio`` or ``psnr``.
    ratio
        Lossy only: target compression ratio (raw bytes / codestream bytes).
    psnr
        Lossy only: target peak signal-to-noise ratio in dB (peak
        ``2**bits_stored - 1``).

    Returns
    -------
    EncodedImage
        ``shape``/``dtype``/``photometric`` describe what :func:`decode`
        returns; ``params`` records ``mct`` (colour transform used),
        ``ratio``, ``psnr`` and the achieved ``compression_ratio``.

    Raises
    ------
    UnsupportedImageError
        dtype, shape, samples or bit depth not supported (the message says which).
    InputError
        Inconsistent lossy options.
    CodecUnavailableError
        The backend library is not installed.

    Examples
    --------
    >>> import numpy as np
    >>> from medseal.types import Image
    >>> img = Image(pixels=np.arange(64, dtype=np.uint8).reshape(8, 8))
    >>> enc = encode(img)
    >>> bool((decode(enc) == img.pixels).all())
    True
    """
    ratio, psnr = _lossy_settings(lossless, ratio, psnr)
    spec = _spec(default_codec() if codec is None else codec)
    frames, samples = _split_frames(image)
    bits = _check_bits(image, frames)
    backend = get_backend(spec.name)
    reason = backend.unavailable_reason()
    if reason is not None:
        raise CodecUnavailableError(reason)
    mct = (
        samples == 3
        and image.photometric.upper() == "RGB"
        and bool(getattr(backend, "SUPPORTS_MCT", True))
    )
    achieved: list[float] = []
    streams_list: list[bytes] = []
    for f in frames:
        if psnr is None:
            cs = backend.encode_frame(
                f, bits_stored=bits, lossless=lossless, ratio=ratio, psnr=None, mct=mct
            )
        else:
            cs, got = _encode_to_psnr(backend, f, bits, psnr, mct)
            achieved.append(got)
        streams_list.append(cs)
    streams = tuple(streams_list)
    raw = sum(f.nbytes for f in frames)
    params: dict[str, Any] = {
        "mct": mct,
        "ratio": ratio,
        "psnr": psnr,
        "compression_ratio": round(raw / max(1, sum(len(s) for s in streams)), 4),
    }
    if achieved:
        low = min(achieved)
        params["achieved_psnr"] = round(low, 3) if math.isfinite(low) else None
    return EncodedImage(
        codec=spec.name,
        frames=streams,
        shape=tuple(int(n) for n in image.pixels.shape),
        dtype=frames[0].dtype.name,
        bits_stored=bits,
        photometric=image.photometric,
        lossless=bool(lossless),
        params=params,
    )


_PSNR_TRIES = 6


def measure_psnr(reference: np.ndarray, test: np.ndarray, bits_stored: int) -> float:
    """PSNR in dB with peak ``2**bits_stored - 1`` (``inf`` when identical)."""
    diff = reference.astype(np.float64) - test.astype(np.float64)
    mse = float(np.mean(diff * diff))
    peak = float((1 << bits_stored) - 1)
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def _encode_to_psnr(
    backend: Backend, frame: np.ndarray, bits: int, target: float, mct: bool
) -> tuple[bytes, float]:
    """Encode, measure, and raise the requested PSNR until the target is met.

    OpenJPEG's dB-driven rate allocation estimates distortion and can land a
    few dB short, so the promise "PSNR >= target" is checked by decoding.
    """
    request = target
    best: tuple[bytes, float] | None = None
    for _ in range(_PSNR_TRIES):
        cs = backend.encode_frame(
            frame, bits_stored=bits, lossless=False, ratio=None, psnr=request, mct=mct
        )
        got = measure_psnr(frame, backend.decode_frame(cs).reshape(frame.shape), bits)
        if best is None or got > best[1]:
            best = (cs, got)
        if got >= target:
            return cs, got
        request += (target - got) + 0.5
    assert best is not None
    return best


# --------------------------------------------------------------------- decode


def frame_shape(enc_shape: tuple[int, ...], n_frames: int) -> tuple[int, ...]:
    """The shape of one frame of an encoded image of ``enc_shape`` with ``n_frames``."""
    if n_frames < 1:
        raise CodecError("encoded image has no frames")
    if n_frames > 1:
        if len(enc_shape) not in (3, 4) or enc_shape[0] != n_frames:
            raise CodecError("encoded image shape does not match its frame count")
        return tuple(enc_shape[1:])
    if len(enc_shape) not in (2, 3):
        raise CodecError("encoded image shape is not (rows, cols[, samples])")
    return tuple(enc_shape)


def check_size(shape: tuple[int, ...], n_frames: int, max_pixels: int | None) -> tuple[int, ...]:
    """Validate a recorded shape against ``max_pixels``; returns the per-frame shape.

    Raises
    ------
    ImageTooLargeError
        The image holds more pixel samples than allowed.
    CodecError
        The shape is malformed.
    """
    if any((not isinstance(n, int)) or isinstance(n, bool) or n < 1 for n in shape):
        raise CodecError("encoded image shape must hold positive integers")
    fshape = frame_shape(shape, n_frames)
    limit = default_max_pixels() if max_pixels is None else int(max_pixels)
    total = math.prod(shape)
    if total > limit:
        raise ImageTooLargeError(
            f"image holds {total} pixel samples, above the limit of {limit} (MEDSEAL_MAX_PIXELS)"
        )
    if fshape[0] > MAX_SIDE or fshape[1] > MAX_SIDE:
        raise CodecError("encoded image rows/columns exceed 65535")
    return fshape


def _expected_components(fshape: tuple[int, ...]) -> int:
    return fshape[2] if len(fshape) == 3 else 1


def decode(enc: EncodedImage, *, max_pixels: int | None = None) -> np.ndarray:
    """Decompress an :class:`EncodedImage` to its stored pixel values.

    Parameters
    ----------
    enc
        From :func:`encode` or :func:`medseal.codec.unpack`.
    max_pixels
        Pixel-sample limit (default :func:`medseal.config.max_pixels`). Both the
        recorded shape and every codestream's own SIZ header are checked
        before anything is decoded.

    Returns
    -------
    numpy.ndarray
        ``enc.shape`` and ``enc.dtype``; bit-exact to the input when lossless.

    Raises
    ------
    ImageTooLargeError
        Recorded shape or a codestream header exceeds ``max_pixels``.
    CodecError
        Corrupt, truncated or inconsistent codestream.
    """
    if enc.dtype not in SUPPORTED_DTYPES:
        raise CodecError(f"encoded dtype {enc.dtype!r} is not one medseal writes")
    shape = tuple(enc.shape)
    fshape = check_size(shape, len(enc.frames), max_pixels)
    limit = default_max_pixels() if max_pixels is None else int(max_pixels)
    sizs = [frame_info(enc.codec, cs) for cs in enc.frames]
    claimed = sum(s.samples for s in sizs)
    if claimed > limit:
        raise ImageTooLargeError(
            f"codestream headers claim {claimed} pixel samples, above the limit of {limit}"
        )
    want = (fshape[1], fshape[0], _expected_components(fshape))
    for siz in sizs:
        if (siz.width, siz.height, siz.components) != want:
            raise CodecError(
                f"codestream header says {siz.height} x {siz.width} x {siz.components}, "
                f"the record says {fshape}"
            )
    backend = get_backend(enc.codec)
    dtype = np.dtype(enc.dtype)
    out = np.empty((len(enc.frames), *fshape), dtype=dtype)
    for i, cs in enumerate(enc.frames):
        _check_complete(cs)
        try:
            arr = backend.decode_frame(bytes(cs))
        except CodecError:
            raise
        except Exception as exc:  # the C libraries raise RuntimeError/ValueError/...
            raise CodecError(f"could not decode frame {i}: {type(exc).__name__}") from None
        if arr.size != math.prod(fshape):
            raise CodecError(f"frame {i} decoded to an unexpected size")
        arr = arr.reshape(fshape)
        if arr.dtype.kind in "iu" and arr.dtype.itemsize == dtype.itemsize:
            arr = arr.view(dtype)  # JPEG-LS codes signed data as its unsigned bit pattern
        out[i] = arr.astype(dtype, copy=False)
    return out if len(enc.frames) > 1 else out[0]


def _check_complete(codestream: bytes) -> None:
    # OpenJPEG decodes a truncated codestream "as far as it goes" and returns a
    # partial image without raising; a complete one ends with the EOC marker
    # (JPEG 2000) or EOI marker (JPEG-LS), both FF D9.
    tail = bytes(codestream[-3:])
    if not (tail.endswith(b"\xff\xd9") or tail == b"\xff\xd9\x00"):
        raise CodecError("truncated codestream (no end-of-codestream marker at the end)")


def params_jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with only JSON-safe scalar values (for containers and manifests)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        finite_float = isinstance(value, float) and math.isfinite(value)
        if value is None or isinstance(value, bool | int | str) or finite_float:
            out[str(key)] = value
        elif isinstance(value, np.generic):
            out[str(key)] = value.item()
        else:
            raise CodecError(f"codec parameter {key!r} is not a JSON scalar")
    return out
