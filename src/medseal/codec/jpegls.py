"""JPEG-LS lossless backend (ISO/IEC 14495-1, CharLS through imagecodecs), registered as ``"jpegls"``.

Codec stage, beside :mod:`medseal.codec.openjpeg` and :mod:`medseal.codec.htj2k`:
:func:`medseal.codec.encode` calls :func:`encode_frame` once per frame and
:func:`decode_frame` reverses it. The DICOM transfer syntax is JPEG-LS
Lossless, ``1.2.840.10008.1.2.4.80``.

Notes
-----
- Lossless only: JPEG-LS "near-lossless" bounds each pixel's error instead of
  hitting a ratio or PSNR target, so lossy requests are refused here (use
  ``j2k`` or ``htj2k``).
- JPEG-LS has no signed samples. As DICOM PS3.5 (8.2.3) and pydicom expect,
  signed pixels are coded as their two's-complement bit pattern (unsigned,
  full width) and read back as signed by the decoder's caller.
- CharLS (as imagecodecs drives it) writes the dtype's full precision (8 or
  16 bits) in the SOF55 frame header, whatever ``bits_stored`` is; the coded
  values are unchanged, so the round trip stays exact.
- No colour transform: RGB is coded as three components (DICOM stores
  JPEG-LS colour as RGB), so ``mct`` is ignored and reported as false.
- imagecodecs writes an optional SPIFF header (APP8 segments) after SOI; it is
  removed so the stored codestream is a plain JPEG-LS interchange stream.
"""

from __future__ import annotations

import struct
from types import ModuleType
from typing import Unpack

import numpy as np

from medseal.codec._probe import IMAGECODECS_HINT, FrameOptions, imagecodecs_with, unavailable
from medseal.errors import CodecError

__all__ = ["SUPPORTS_MCT", "decode_frame", "encode_frame", "strip_spiff", "unavailable_reason"]

#: JPEG-LS in DICOM has no multi-component transform: RGB stays RGB.
SUPPORTS_MCT = False
INSTALL_HINT = IMAGECODECS_HINT
_REASON = f"codec 'jpegls' needs CharLS; install it through imagecodecs with: {INSTALL_HINT}"
_SOI = b"\xff\xd8"
_APP8 = 0xE8


def _imagecodecs() -> ModuleType:
    return imagecodecs_with("JPEGLS", _REASON, "JPEG-LS")


def unavailable_reason() -> str | None:
    """``None`` when CharLS is importable through imagecodecs, else what to install."""
    return unavailable(_imagecodecs)


def strip_spiff(codestream: bytes) -> bytes:
    """``codestream`` without the APP8 (SPIFF) segments that directly follow SOI."""
    if codestream[:2] != _SOI:
        raise CodecError("not a JPEG-LS codestream (no SOI marker at the start)")
    pos = 2
    while pos + 4 <= len(codestream) and codestream[pos] == 0xFF and codestream[pos + 1] == _APP8:
        (length,) = struct.unpack_from(">H", codestream, pos + 2)
        if length < 2:
            raise CodecError("corrupt JPEG-LS codestream (bad APP8 segment length)")
        pos += 2 + length
    if pos == 2:
        return codestream
    return _SOI + codestream[pos:]


def encode_frame(frame: np.ndarray, **options: Unpack[FrameOptions]) -> bytes:
    """Encode one frame ``(rows, cols)`` or ``(rows, cols, 3)`` to a JPEG-LS codestream."""
    # bits_stored, ratio, psnr and mct do not apply: the coded values are the stored ones
    if not options["lossless"]:
        raise CodecError(
            "codec 'jpegls' is lossless only here; use codec 'j2k' or 'htj2k' for lossy coding"
        )
    lib = _imagecodecs()
    data = frame
    if frame.dtype.kind == "i":  # two's-complement bit pattern, as DICOM expects
        data = frame.view(np.dtype(f"<u{frame.dtype.itemsize}"))
    data = np.ascontiguousarray(data)
    try:
        out = lib.jpegls_encode(data)
    except Exception:  # imagecodecs raises its own JpeglsError / ValueError
        # imagecodecs sizes its output buffer from the input; noise-like frames
        # (colour ones especially) can code larger than that: retry with room
        try:
            out = lib.jpegls_encode(data, out=2 * data.nbytes + 4096)
        except Exception as exc:
            raise CodecError(f"CharLS could not encode the frame: {type(exc).__name__}") from None
    return strip_spiff(bytes(out))


def decode_frame(codestream: bytes) -> np.ndarray:
    """Decode one JPEG-LS codestream to unsigned samples (the caller reinterprets signed data)."""
    lib = _imagecodecs()
    try:
        return np.asarray(lib.jpegls_decode(codestream))
    except Exception as exc:
        raise CodecError(f"could not decode the JPEG-LS codestream: {type(exc).__name__}") from None
