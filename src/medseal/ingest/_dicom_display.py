"""Display values of a DICOM image: modality LUT, VOI LUT, MONOCHROME1, palette colour.

Where it sits: the viewing half of :mod:`medseal.ingest.dicom` (which re-exports
:func:`to_display`). :func:`display_attributes` gathers the rescale, window and
LUT attributes (lifted from functional groups for enhanced multi-frame objects);
:func:`to_display` applies them with pydicom's ``apply_modality_lut`` /
``apply_voi_lut`` / ``apply_color_lut`` and scales to ``[0, 1]``. Used for viewing
and for models; never applied to what the vault stores.

Error messages name the failing step and the exception type, never header values.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from medseal.errors import MedsealError, UnsupportedImageError
from medseal.types import Image

__all__ = ["display_attributes", "float_or_none", "to_display"]


def _functional_group_item(ds: Dataset, sequence: str) -> Dataset | None:
    """The first item of ``sequence`` in the shared (else first per-frame) functional groups."""
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        seq = ds.get(groups)
        if not seq:
            continue
        inner = seq[0].get(sequence)
        if inner:
            return inner[0]
    return None


def float_or_none(value: Any) -> float | None:
    """A DS/IS value (the first of several) as a float; ``None`` when absent or not a number."""
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        if not value:
            return None
        value = value[0]
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def display_attributes(header: Dataset) -> Dataset:
    """A small dataset with the attributes the LUT functions need.

    Enhanced multi-frame objects keep rescale and window in functional-group
    sequences; they are lifted to the top level here so that pydicom's
    ``apply_modality_lut`` / ``apply_voi_lut`` see them. The result is a copy:
    pydicom's windowing writes back into the dataset it is given.
    """
    out = Dataset()
    for kw in (
        "PhotometricInterpretation",
        "BitsStored",
        "BitsAllocated",
        "PixelRepresentation",
        "RescaleSlope",
        "RescaleIntercept",
        "RescaleType",
        "ModalityLUTSequence",
        "WindowCenter",
        "WindowWidth",
        "VOILUTFunction",
        "VOILUTSequence",
    ):
        if kw in header:
            setattr(out, kw, copy.deepcopy(header[kw].value))
    if "RescaleSlope" not in out:
        item = _functional_group_item(header, "PixelValueTransformationSequence")
        if item is not None and "RescaleSlope" in item and "RescaleIntercept" in item:
            out.RescaleSlope = item.RescaleSlope
            out.RescaleIntercept = item.RescaleIntercept
    if "WindowCenter" not in out and "VOILUTSequence" not in out:
        item = _functional_group_item(header, "FrameVOILUTSequence")
        if item is not None and "WindowCenter" in item and "WindowWidth" in item:
            out.WindowCenter = item.WindowCenter
            out.WindowWidth = item.WindowWidth
            if "VOILUTFunction" in item:
                out.VOILUTFunction = item.VOILUTFunction
    return out


def _normalise(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    out = arr.astype(np.float64, copy=False)
    if hi <= lo:
        return np.zeros(arr.shape, np.float32)
    return np.clip((out - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def _voi_range(attrs: Dataset) -> tuple[float, float] | None:
    """The output range pydicom's ``apply_voi_lut`` maps into, or ``None`` if no VOI applies."""
    seq = attrs.get("VOILUTSequence")
    if seq and seq[0].get("LUTDescriptor") is not None and seq[0].get("LUTData") is not None:
        data = np.asarray(seq[0].LUTData, dtype=np.float64)
        return float(data.min()), float(data.max())
    if attrs.get("WindowCenter") is None or attrs.get("WindowWidth") is None:
        return None
    bits = int(attrs.get("BitsStored", 16) or 16)
    if attrs.get("ModalityLUTSequence"):
        lo, hi = 0.0, float(2 ** int(attrs.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    elif int(attrs.get("PixelRepresentation", 0) or 0) == 0:
        lo, hi = 0.0, float(2**bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    slope = float_or_none(attrs.get("RescaleSlope"))
    intercept = float_or_none(attrs.get("RescaleIntercept"))
    if slope is not None and intercept is not None:
        lo, hi = sorted((lo * slope + intercept, hi * slope + intercept))
    return lo, hi


def to_display(image: Image) -> np.ndarray:
    """Display values in ``[0, 1]`` (float32): modality LUT, VOI LUT, MONOCHROME1 inverted.

    Parameters
    ----------
    image
        From :func:`read_dicom` (or any ``Image``). Its pixels are not modified.

    Returns
    -------
    numpy.ndarray
        Same shape as ``image.pixels``. For monochrome DICOM: pydicom's
        ``apply_modality_lut`` (rescale slope/intercept or Modality LUT Sequence),
        then ``apply_voi_lut`` (first window, or VOI LUT Sequence) and scaling of its
        output range to ``[0, 1]``; without any VOI the image's own min..max is
        used. MONOCHROME1 is inverted so that 1 is always white. ``PALETTE COLOR``
        is expanded to RGB through its LUT. RGB and non-DICOM images are scaled by
        ``2**bits_stored - 1``.

    Notes
    -----
    Enhanced multi-frame objects: rescale and window are read from the shared
    functional groups, else from the first frame's, and applied to all frames.
    """
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

    arr = image.pixels
    photometric = image.photometric.upper()
    header = image.header
    full = float(2 ** max(1, image.bits_stored) - 1)
    if header is None or photometric not in ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"):
        if np.issubdtype(arr.dtype, np.floating):
            return _normalise(arr, float(arr.min()), float(arr.max()))
        lo = 0.0
        if np.issubdtype(arr.dtype, np.signedinteger):
            lo, full = -(full + 1) / 2, (full - 1) / 2
        out = _normalise(arr, lo, full)
        return 1.0 - out if photometric == "MONOCHROME1" else out
    if photometric == "PALETTE COLOR":
        try:
            rgb = apply_color_lut(arr, header)
        except Exception as exc:
            raise UnsupportedImageError(
                f"cannot apply the palette colour LUT ({type(exc).__name__})"
            ) from None
        bits = int(header.get("RedPaletteColorLookupTableDescriptor", [0, 0, 16])[2] or 16)
        return _normalise(rgb, 0.0, float(2 ** (16 if bits > 8 else 8) - 1))
    attrs = display_attributes(header)
    attrs.PhotometricInterpretation = "MONOCHROME2" if photometric != "MONOCHROME1" else photometric
    attrs.BitsStored = int(image.bits_stored)
    if "PixelRepresentation" not in attrs:
        attrs.PixelRepresentation = int(np.issubdtype(arr.dtype, np.signedinteger))
    try:
        values = apply_modality_lut(arr, attrs)
        voi = _voi_range(attrs)
        if voi is not None:
            values = apply_voi_lut(np.asarray(values, dtype=np.float64), attrs)
            out = _normalise(np.asarray(values), *voi)
        else:
            values = np.asarray(values)
            out = _normalise(values, float(values.min()), float(values.max()))
    except MedsealError:
        raise
    except Exception as exc:
        raise UnsupportedImageError(
            f"cannot apply the modality/VOI LUT ({type(exc).__name__})"
        ) from None
    return 1.0 - out if photometric == "MONOCHROME1" else out
