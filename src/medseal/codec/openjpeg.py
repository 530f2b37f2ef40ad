"""JPEG 2000 Part 1 backend on pylibjpeg-openjpeg (OpenJPEG), registered as ``"j2k"``.

Codec stage: :func:`medseal.codec.encode` calls :func:`encode_frame` once per
frame; :func:`decode_frame` also decodes HTJ2K codestreams (OpenJPEG >= 2.5
reads Part 15). The library is imported only when a function here runs.

OpenJPEG writes a raw codestream (no JP2 boxes, as DICOM requires) with one
tile, 64x64 code blocks, LRCP order and up to 6 decomposition levels; lossless
uses the reversible 5/3 wavelet (and RCT for RGB), lossy the 9/7 wavelet (ICT).

Small frames: pylibjpeg-openjpeg always asks for 6 resolution levels, which
OpenJPEG refuses for a side under 32 pixels. Those frames go through Pillow's
OpenJPEG encoder instead (fewer levels), which only writes unsigned 8/16-bit
samples: signed or ``bits_stored < 8k`` frames are shifted into that range and
the SIZ marker's Ssiz bytes are then set to the true sign and precision. For
the reversible path this is exact (the DC level shift is the only thing those
bytes change, and the QCD exponents stay valid upper bounds); the lossy path
allows only the sign change, since lossy step sizes depend on the precision.
"""

from __future__ import annotations

import io
import math
import struct
from types import ModuleType
from typing import Unpack

import numpy as np

from medseal.codec._probe import FrameOptions, unavailable
from medseal.errors import CodecError, CodecUnavailableError

__all__ = ["decode_frame", "encode_frame", "unavailable_reason"]

_INSTALL = "pip install pylibjpeg-openjpeg"
# openjpeg's encode_array photometric codes: 0 unspecified (no MCT), 1 sRGB (MCT allowed)
_PI_UNSPECIFIED = 0
_PI_SRGB = 1


def _library() -> ModuleType:
    try:
        import openjpeg
    except ImportError:
        raise CodecUnavailableError(
            f"codec 'j2k' needs OpenJPEG bindings; install them with: {_INSTALL}"
        ) from None
    return openjpeg


def unavailable_reason() -> str | None:
    """``None`` when pylibjpeg-openjpeg imports, else what to install."""
    return unavailable(_library)


#: OpenJPEG needs 2**(resolutions - 1) <= the smaller side; pylibjpeg-openjpeg uses 6.
_MIN_SIDE = 32


def encode_frame(frame: np.ndarray, **options: Unpack[FrameOptions]) -> bytes:
    """Encode one frame to a raw JPEG 2000 codestream.

    Parameters
    ----------
    frame
        ``(rows, cols)`` or ``(rows, cols, 3)``, little-endian u1/i1/u2/i2,
        C-contiguous.
    bits_stored
        Codestream precision; values must already fit.
    lossless
        Reversible 5/3 when true.
    ratio, psnr
        Lossy target (exactly one of them when ``lossless`` is false).
    mct
        Apply the multi-component (RCT/ICT) transform to 3-sample RGB data.
    """
    if min(frame.shape[0], frame.shape[1]) < _MIN_SIDE:
        return _encode_small(frame, **options)
    bits_stored, lossless, mct = options["bits_stored"], options["lossless"], options["mct"]
    ratio, psnr = options["ratio"], options["psnr"]
    lib = _library()
    kwargs: dict[str, object] = {}
    if not lossless:
        if ratio is not None:
            kwargs["compression_ratios"] = [float(ratio)]
        else:
            kwargs["signal_noise_ratios"] = [float(psnr or 0.0)]
    try:
        out = lib.encode(  # = openjpeg.utils.encode_array
            frame,
            bits_stored=int(bits_stored),
            photometric_interpretation=_PI_SRGB if mct else _PI_UNSPECIFIED,
            use_mct=bool(mct),
            codec_format=0,
            **kwargs,
        )
    except (RuntimeError, ValueError) as exc:
        raise CodecError(f"OpenJPEG could not encode the frame: {exc}") from None
    return bytes(out)


def _encode_small(frame: np.ndarray, **options: Unpack[FrameOptions]) -> bytes:
    """Encode a frame with a side under 32 px through Pillow (see module notes)."""
    bits_stored, lossless, mct = options["bits_stored"], options["lossless"], options["mct"]
    ratio, psnr = options["ratio"], options["psnr"]
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise CodecUnavailableError(
            "codec 'j2k' needs Pillow for images under 32 pixels a side: pip install pillow"
        ) from None
    width = frame.dtype.itemsize * 8
    signed = frame.dtype.kind == "i"
    if not lossless and bits_stored != width:
        raise CodecError(
            f"lossy JPEG 2000 of an image under {_MIN_SIDE} pixels a side needs "
            f"bits_stored == {width}; got {bits_stored}"
        )
    shifted = to_unsigned_full_width(frame, bits_stored)
    if shifted.ndim == 3 and width != 8:
        raise CodecError("colour images under 32 pixels a side must be 8-bit")
    side = min(frame.shape[0], frame.shape[1])
    pillow: dict[str, object] = {
        "no_jp2": True,
        "irreversible": not lossless,
        "num_resolutions": int(math.floor(math.log2(side))) + 1,
        "mct": 1 if mct else 0,
    }
    if not lossless:
        pillow["quality_mode"] = "rates" if ratio is not None else "dB"
        pillow["quality_layers"] = [float(ratio if ratio is not None else (psnr or 0.0))]
    buf = io.BytesIO()
    try:
        PILImage.fromarray(shifted).save(buf, "JPEG2000", **pillow)
    except (OSError, ValueError) as exc:
        raise CodecError(f"Pillow could not encode the small frame: {exc}") from None
    return set_siz_precision(buf.getvalue(), bits_stored, signed=signed)


def to_unsigned_full_width(frame: np.ndarray, bits_stored: int) -> np.ndarray:
    """Shift ``frame`` so an unsigned full-width encoder sees the true wavelet input.

    An unsigned ``w``-bit encoder subtracts ``2**(w-1)`` (the DC level shift);
    a decoder told the true sign and precision adds ``2**(bits_stored-1)``
    back for unsigned data and nothing for signed data. Adding the difference
    here makes the two meet exactly.
    """
    width = frame.dtype.itemsize * 8
    signed = frame.dtype.kind == "i"
    offset = (1 << (width - 1)) - (0 if signed else (1 << (bits_stored - 1)))
    udtype = np.uint8 if width == 8 else np.uint16
    return (frame.astype(np.int32) + offset).astype(udtype)


def set_siz_precision(codestream: bytes, bits_stored: int, *, signed: bool) -> bytes:
    """Rewrite every component's Ssiz byte (sign bit + precision - 1) in the SIZ segment."""
    cs = bytearray(codestream)
    (csiz,) = struct.unpack_from(">H", cs, 40)
    for i in range(csiz):
        cs[42 + 3 * i] = (0x80 if signed else 0) | (bits_stored - 1)
    return bytes(cs)


def decode_frame(codestream: bytes) -> np.ndarray:
    """Decode one raw J2K (or HTJ2K) codestream with OpenJPEG."""
    lib = _library()
    try:
        arr = lib.decode(codestream, j2k_format=0)
    except (RuntimeError, ValueError) as exc:
        raise CodecError(f"OpenJPEG could not decode the codestream: {exc}") from None
    return np.asarray(arr)
