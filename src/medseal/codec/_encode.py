"""``encode``: an :class:`~medseal.types.Image` into one raw codestream per frame.

Frames are split and checked here (dtype, shape, samples, bit depth), lossy
options validated, and a PSNR target met by encoding, measuring and retrying
(:func:`measure_psnr`). :func:`params_jsonable` makes the ``params`` that
encoding records safe for containers and manifests.

Public names are imported from :mod:`medseal.codec.registry` (or the package).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from medseal.codec._backends import Backend, CodecName, backend_spec, default_codec, get_backend
from medseal.codec._guard import MAX_SIDE, SUPPORTED_DTYPES
from medseal.errors import CodecError, CodecUnavailableError, InputError, UnsupportedImageError
from medseal.types import EncodedImage, Image


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
    >>> from medseal.codec import decode
    >>> from medseal.types import Image
    >>> img = Image(pixels=np.arange(64, dtype=np.uint8).reshape(8, 8))
    >>> enc = encode(img)
    >>> bool((decode(enc) == img.pixels).all())
    True
    """
    ratio, psnr = _lossy_settings(lossless, ratio, psnr)
    spec = backend_spec(default_codec() if codec is None else codec)
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
