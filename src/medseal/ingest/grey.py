"""One grey conversion for the whole flow: any decoded image to a 2-D ``uint8`` grey image.

Where it sits: ingest stage, so every later stage (masking in ``privacy``,
training arrays in ``models``) converts pixels the same way. An
:class:`~medseal.types.Image` that carries its DICOM header goes through
:func:`~medseal.ingest.dicom.to_display` (modality LUT, VOI LUT, MONOCHROME1
inverted); bare arrays (PNG, ``.npz``, masked pixels) keep their display
range: colour is turned into ITU-R 601 luma and values above 255 are
stretched from their own min..max.
"""

from __future__ import annotations

import numpy as np

from medseal.errors import InputError
from medseal.types import Image

__all__ = ["image_to_grey_uint8", "to_grey_uint8"]

#: ITU-R BT.601 luma weights of R, G and B
LUMA_601 = np.array([0.299, 0.587, 0.114])


def to_grey_uint8(pixels: np.ndarray) -> np.ndarray:
    """A 2-D ``uint8`` grey image from grey, RGB(A) or >8-bit input (display range kept)."""
    a = np.asarray(pixels)
    if a.ndim == 3:
        rgb = a[..., :3].astype(np.float64)
        a = rgb @ LUMA_601 if rgb.shape[-1] == 3 else rgb[..., 0]
    if a.ndim != 2:
        raise InputError(
            f"expected a 2-D grey or colour image, got shape {np.asarray(pixels).shape}"
        )
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    if a.max(initial=0) > 255:
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / max(hi - lo, 1e-12))
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def image_to_grey_uint8(image: Image) -> np.ndarray:
    """:func:`to_grey_uint8` of an image, through its DICOM LUTs when it carries a header.

    A DICOM image is windowed by :func:`~medseal.ingest.dicom.to_display`
    (MONOCHROME1 inverted, so white is always high) and scaled to ``0..255``;
    any other image is :func:`to_grey_uint8` of its pixels.
    """
    if image.header is None:
        return to_grey_uint8(image.pixels)
    from medseal.ingest.dicom import to_display

    shown = np.asarray(to_display(image), dtype=np.float64)
    return to_grey_uint8(np.clip(np.rint(shown * 255.0), 0, 255).astype(np.uint8))
