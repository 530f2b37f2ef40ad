"""Bit-exact lossless round trips on every real DICOM sample and every COVID CT slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _codec_samples import BIG, DATA, covid_files, load_image, sample_files

from medseal.codec import decode, encode, pack, unpack

pytestmark = pytest.mark.skipif(DATA is None, reason="../shared/data is not beside this checkout")

SAMPLES = sample_files()
COVID = covid_files()


def _check(path: Path) -> None:
    image, ds = load_image(path)
    enc = encode(image)
    enc2, header = unpack(pack(enc, image.header))
    out = decode(enc2)
    assert out.dtype == image.pixels.dtype and out.shape == image.pixels.shape
    np.testing.assert_array_equal(out, image.pixels)
    assert header is not None and "PixelData" not in header
    assert header.SOPInstanceUID == ds.SOPInstanceUID


def test_sample_sets_are_complete() -> None:
    assert len(SAMPLES) == 50, [p.name for p in SAMPLES]  # 50 image files per SOURCE.md
    assert len(COVID) == 60


@pytest.mark.parametrize(
    "path",
    [p for p in SAMPLES if p.name not in BIG],
    ids=lambda p: p.relative_to(p.parents[1]).as_posix() if len(p.parents) > 1 else p.name,
)
def test_dicom_sample_lossless_roundtrip(path: Path) -> None:
    _check(path)


@pytest.mark.slow
def test_big_dicom_samples_lossless_roundtrip() -> None:
    big = [p for p in SAMPLES if p.name in BIG]
    assert len(big) == len(BIG)
    for path in big:
        _check(path)


@pytest.mark.parametrize("path", COVID, ids=lambda p: "/".join(p.parts[-3:]))
def test_covid_ct_lossless_roundtrip(path: Path) -> None:
    image, _ = load_image(path)
    assert image.pixels.dtype == np.int16
    _check(path)
