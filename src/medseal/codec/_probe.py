"""Probes for the optional codec libraries, and the options every backend encodes with.

Where it sits: codec stage, under the backend modules. A backend's
``unavailable_reason()`` is :func:`unavailable` of its loader, and the
imagecodecs-based backends (HTJ2K through OpenJPH, JPEG-LS through CharLS)
load the library with :func:`imagecodecs_with`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TypedDict

from medseal.errors import CodecUnavailableError

__all__ = ["IMAGECODECS_HINT", "FrameOptions", "imagecodecs_with", "unavailable"]

IMAGECODECS_HINT = "pip install imagecodecs"


def imagecodecs_with(feature: str, reason: str, label: str) -> ModuleType:
    """``imagecodecs`` when its ``feature`` (e.g. ``"HTJ2K"``) is built in.

    Raises :class:`CodecUnavailableError` with ``reason`` when imagecodecs is
    missing, and says the build lacks ``label`` when the feature is.
    """
    try:
        import imagecodecs
    except ImportError:
        raise CodecUnavailableError(reason) from None
    if not getattr(getattr(imagecodecs, feature, None), "available", False):
        raise CodecUnavailableError(f"{reason} (this imagecodecs build lacks {label})")
    return imagecodecs


def unavailable(load: Callable[[], object]) -> str | None:
    """``None`` when ``load()`` succeeds, else its :class:`CodecUnavailableError` message."""
    try:
        load()
    except CodecUnavailableError as exc:
        return str(exc)
    return None


class FrameOptions(TypedDict):
    """What every backend's ``encode_frame(frame, **options)`` takes besides the frame.

    ``bits_stored``: codestream precision (values already fit); ``lossless``:
    reversible coding; ``ratio`` / ``psnr``: the lossy target (one of them when
    not lossless); ``mct``: multi-component transform of 3-sample RGB data.
    """

    bits_stored: int
    lossless: bool
    ratio: float | None
    psnr: float | None
    mct: bool
