"""The one grey conversion: DICOM through its LUTs, other images by their display range."""

from __future__ import annotations

import numpy as np

from medseal.ingest import read_dicom
from medseal.ingest.records import Record
from medseal.models.data import records_to_split
from medseal.types import Image


def test_training_arrays_of_a_monochrome1_dicom_show_the_brightest_stored_value_dark(
    shared_data,
) -> None:
    img = read_dicom(
        shared_data / "dicom-samples/pydicom-test_files/dicomdirtests/77654033/CR1/6154"
    )
    assert img.photometric == "MONOCHROME1"
    split = records_to_split([Record("cr", 1, None, "train", {}, lambda: img)])
    grey = split.x[0]
    assert grey.dtype == np.uint8 and grey.shape == img.pixels.shape
    assert grey.flat[np.argmax(img.pixels)] == grey.min()
    assert grey.flat[np.argmin(img.pixels)] == grey.max()


def test_training_arrays_of_a_plain_rgb_image_are_its_luma() -> None:
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 200
    split = records_to_split([Record("c", 0, None, "train", {}, lambda: Image(rgb))])
    assert int(split.x[0, 0, 0]) == round(0.299 * 200)
