"""High-Throughput JPEG 2000 (Part 15) backend, registered as ``"htj2k"``.

Codec stage, beside :mod:`medseal.codec.openjpeg`. OpenJPEG (pylibjpeg-openjpeg
2.x) *decodes* HTJ2K but cannot *encode* it, so encoding needs the OpenJPH
encoder that ``imagecodecs`` ships (``imagecodecs.htj2k_encode``). When that is
missing this backend still appears in :func:`medseal.codec.available_codecs`
with the reason, and encoding raises :class:`~medseal.errors.CodecUnavailableError`
naming ``pip install imagecodecs``. Decoding uses OpenJPH when imagecodecs is
present (faster here, see ``docs/codec.md``) and OpenJPEG otherwise.

Notes
-----
OpenJPH takes a quantisation step, not a target, for lossy coding: a ``ratio``
or ``psnr`` target is met by bisecting the step (about 12 trial encodes).
OpenJPH writes the dtype's full precision (16 for ``uint16``). Lossless frames
with fewer bits stored are shifted and get the true precision written into
SIZ (see :mod:`medseal.codec.openjpeg`); lossy ones keep the full width.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType
from typing import Any, Unpack

import numpy as np

from medseal.codec._probe import IMAGECODECS_HINT, FrameOptions, imagecodecs_with, unavailable
from medseal.codec.openjpeg import set_siz_precision, to_unsigned_full_width
from medseal.codec.registry import measure_psnr
from medseal.errors import CodecError, CodecUnavailableError

__all__ = ["INSTALL_HINT", "decode_frame", "encode_frame", "unavailable_reason"]

INSTALL_HINT = IMAGECODECS_HINT
_REASON = (
    "codec 'htj2k' needs an HTJ2K encoder: pylibjpeg-openjpeg can only decode HTJ2K; "
    f"install OpenJPH through imagecodecs with: {INSTALL_HINT}"
)
_BISECT_STEPS = 12
_LOG_QSTEP_RANGE = (-6.0, 0.0)


def _imagecodecs() -> ModuleType:
    return imagecodecs_with("HTJ2K", _REASON, "HTJ2K")


def unavailable_reason() -> str | None:
    """``None`` when an HTJ2K encoder is importable, else what to install."""
    return unavailable(_imagecodecs)


def _encode(
    lib: ModuleType, frame: np.ndarray, lossless: bool, mct: bool, qstep: float | None
) -> bytes:
    try:
        out = lib.htj2k_encode(
            frame,
            None if lossless else qstep,
            reversible=lossless,
            rgb=mct if frame.ndim == 3 else None,
        )
    except Exception as exc:  # imagecodecs raises its own Htj2kError / ValueError
        raise CodecError(f"OpenJPH could not encode the frame: {type(exc).__name__}") from None
    return bytes(out)


def encode_frame(frame: np.ndarray, **options: Unpack[FrameOptions]) -> bytes:
    """Encode one frame to a raw HTJ2K codestream (see :func:`medseal.codec.encode`)."""
    bits_stored, lossless, mct = options["bits_stored"], options["lossless"], options["mct"]
    ratio, psnr = options["ratio"], options["psnr"]
    lib = _imagecodecs()
    if lossless:
        width = frame.dtype.itemsize * 8
        if bits_stored == width:
            return _encode(lib, frame, True, mct, None)
        # OpenJPH always writes the dtype's full precision: encode shifted
        # unsigned data and write the true precision in SIZ, as the J2K
        # backend does for small frames (exact for the reversible path).
        shifted = to_unsigned_full_width(frame, bits_stored)
        cs = _encode(lib, shifted, True, mct, None)
        return set_siz_precision(cs, bits_stored, signed=frame.dtype.kind == "i")
    # Bisect log10(qstep): larger steps give smaller files and lower PSNR.
    lo, hi = _LOG_QSTEP_RANGE
    best: bytes | None = None
    for _ in range(_BISECT_STEPS):
        mid = (lo + hi) / 2
        cs = _encode(lib, frame, False, mct, 10.0**mid)
        if ratio is not None:
            ok = frame.nbytes / len(cs) >= ratio
        else:
            ok = measure_psnr(frame, decode_frame(cs).reshape(frame.shape), bits_stored) >= float(
                psnr or 0.0
            )
        # for a ratio we want the finest step that is small enough; for PSNR the
        # coarsest step that is still good enough
        if ratio is not None:
            if ok:
                best, hi = cs, mid
            else:
                lo = mid
        elif ok:
            best, lo = cs, mid
        else:
            hi = mid
    if best is None:  # target unreachable in range: take the nearest end
        best = _encode(lib, frame, False, mct, 10.0 ** (hi if ratio is not None else lo))
    return best


# OpenJPH reports some corrupt codestreams from inside a callback; imagecodecs
# cannot raise there, so Python prints an "Exception ignored" traceback and the
# call returns an image anyway. A chained sys.unraisablehook collects those
# reports for the decoding thread, and the decode then fails as it should.
_capture = threading.local()
_hook_lock = threading.Lock()
_chained: list[Any] = [sys.unraisablehook]


def _unraisable(report: Any) -> None:
    sink = getattr(_capture, "errors", None)
    if sink is not None:
        sink.append(report.exc_type.__name__ if report.exc_type else "error")
        return
    _chained[0](report)


def _openjph_decode(lib: ModuleType, codestream: bytes) -> np.ndarray:
    with _hook_lock:
        if sys.unraisablehook is not _unraisable:  # (re)install, chaining to the current hook
            _chained[0] = sys.unraisablehook
            sys.unraisablehook = _unraisable
    errors: list[str] = []
    _capture.errors = errors
    try:
        out = np.asarray(lib.htj2k_decode(codestream))
    except Exception as exc:  # imagecodecs raises its own Htj2kError / ValueError
        raise CodecError(f"could not decode the HTJ2K codestream: {type(exc).__name__}") from None
    finally:
        _capture.errors = None
    if errors:
        raise CodecError(f"could not decode the HTJ2K codestream: OpenJPH reported {errors[0]}")
    return out


def decode_frame(codestream: bytes) -> np.ndarray:
    """Decode one HTJ2K codestream: OpenJPH (imagecodecs) when present, else OpenJPEG.

    OpenJPH decodes the CT and chest X-ray codestreams here 1.75-3.4x faster
    than OpenJPEG (``benchmarks/codec.py``), and importing it costs a tenth of
    importing pylibjpeg-openjpeg; OpenJPEG reads Part 15 too, so a vault
    without imagecodecs still opens its objects.
    """
    try:
        lib = _imagecodecs()
    except CodecUnavailableError:
        lib = None
    if lib is not None:
        return _openjph_decode(lib, codestream)
    try:
        import openjpeg as ojpeg
    except ImportError:
        raise CodecUnavailableError(
            "decoding HTJ2K needs OpenJPH or OpenJPEG: pip install imagecodecs "
            "(or pylibjpeg-openjpeg)"
        ) from None
    try:
        return np.asarray(ojpeg.decode(codestream, j2k_format=0))
    except (RuntimeError, ValueError) as exc:
        raise CodecError(f"could not decode the HTJ2K codestream: {exc}") from None
