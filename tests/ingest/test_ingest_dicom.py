"""read_dicom / to_display on the real DICOM samples, and refusals of bad input."""

from __future__ import annotations

import io
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from medseal.errors import (
    BurnedInAnnotationError,
    ImageTooLargeError,
    InputError,
    InvalidDicomError,
    UnsupportedImageError,
)
from medseal.ingest import read_dicom, to_display
from medseal.ingest.datasets.embedded import pydicom_sample_paths

PHI = ("CompressedSamples", "1CT1", "JFK IMAGING")


def _image_files(root: Path) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix not in (".md", ".txt") and "DICOMDIR" not in p.name:
            out.append(p)
    return out


def _samples(shared: Path) -> list[Path]:
    return _image_files(shared / "dicom-samples")


def _pixel_array(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path).pixel_array


def test_every_sample_decodes_bit_exact(shared_data):
    files = _samples(shared_data) + sorted(
        (shared_data / "covid19-ny-sbu-ct-followup").rglob("*.dcm")
    )
    assert len(files) >= 50 + 60
    for path in files:
        img = read_dicom(path, deidentify=False)
        ref = _pixel_array(path)
        assert img.pixels.shape == ref.shape, path.name
        assert np.array_equal(img.pixels, ref), path.name
        assert img.pixels.dtype.isnative
        assert img.header is not None and "PixelData" not in img.header
        assert img.source == "dicom"
        assert img.meta["transfer_syntax"] == str(
            pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
        )


def test_multiframe_shape_and_meta(shared_data):
    img = read_dicom(shared_data / "dicom-samples/pydicom-data/emri_small.dcm")
    assert img.frames == 10 and img.pixels.shape == (10, 64, 64)
    assert img.meta["number_of_frames"] == 10 and img.bits_stored == 12
    ect = read_dicom(shared_data / "dicom-samples/pydicom-data/eCT_Supplemental.dcm")
    assert ect.frames == 2 and ect.pixels.shape == (2, 512, 512)
    # enhanced CT keeps rescale in the functional groups; meta lifts it
    assert "rescale_slope" in ect.meta


def test_meta_is_phi_free_and_complete(shared_data):
    img = read_dicom(shared_data / "dicom-samples/pydicom-test_files/CT_small.dcm")
    m = img.meta
    assert m["modality"] == "CT" and m["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.2"
    assert m["rescale_slope"] == 1.0 and m["rescale_intercept"] == -1024.0
    assert m["pixel_representation"] == 1 and m["bits_allocated"] == 16
    assert not any(p in str(m) for p in PHI)
    assert "CompressedSamples" not in repr(img)


def test_colour_is_labelled_rgb(shared_data):
    img = read_dicom(shared_data / "dicom-samples/pydicom-data/US1_J2KR.dcm")
    assert img.photometric == "RGB" and img.pixels.shape == (480, 640, 3)
    assert img.meta["photometric_original"] == "YBR_RCT"


def test_file_object_input(shared_data):
    data = (shared_data / "dicom-samples/pydicom-test_files/MR_small.dcm").read_bytes()
    img = read_dicom(io.BytesIO(data))
    assert img.pixels.shape == (64, 64)


def test_pydicom_wheel_samples_decode_offline():
    paths = pydicom_sample_paths()
    names = {p.name for p in paths}
    assert {"CT_small.dcm", "MR_small_jp2klossless.dcm", "6154", "SC_rgb_rle_2frame.dcm"} <= names
    for p in paths:
        assert "site-packages" in str(p) or "dist-packages" in str(p)
        img = read_dicom(p)
        assert np.array_equal(img.pixels, _pixel_array(p))
    two = read_dicom(next(p for p in paths if p.name == "SC_rgb_rle_2frame.dcm"))
    assert two.frames == 2 and two.pixels.shape == (2, 100, 100, 3)


# ---------------------------------------------------------------- to_display
def _window(x: np.ndarray, c: float, w: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 LINEAR window, scaled to [0, 1] (independent of our code)."""
    return np.clip((x - (c - 0.5)) / (w - 1) + 0.5, 0, 1)


def test_display_applies_rescale_then_window(shared_data):
    path = shared_data / "covid19-ny-sbu-ct-followup/A002304/axial/19001231-076.dcm"
    ds = pydicom.dcmread(path)
    img = read_dicom(path)
    disp = to_display(img)
    assert disp.dtype == np.float32 and disp.shape == img.pixels.shape
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert np.allclose(apply_modality_lut(ds.pixel_array, ds), hu)
    expected = _window(hu, float(ds.WindowCenter), float(ds.WindowWidth))
    assert np.allclose(disp, expected, atol=1e-5)


def test_display_without_window_uses_rescaled_range(shared_data):
    path = shared_data / "dicom-samples/pydicom-test_files/CT_small.dcm"
    img = read_dicom(path)
    disp = to_display(img)
    assert disp.min() == 0.0 and disp.max() == 1.0
    hu = img.pixels.astype(np.float64) - 1024
    assert np.allclose(disp, (hu - hu.min()) / (hu.max() - hu.min()), atol=1e-6)


def test_display_inverts_monochrome1(shared_data):
    path = shared_data / "dicom-samples/pydicom-test_files/dicomdirtests/77654033/CR1/6154"
    img = read_dicom(path)
    assert img.photometric == "MONOCHROME1"
    as_mono2 = img.header.copy()
    as_mono2.PhotometricInterpretation = "MONOCHROME2"
    twin = replace(img, photometric="MONOCHROME2", header=as_mono2)
    d1, d2 = to_display(img), to_display(twin)
    assert np.allclose(d1, 1.0 - d2)
    assert not np.allclose(d1, d2)
    # brightest stored value is darkest on screen
    assert d1.flat[np.argmax(img.pixels)] == d1.min()


def test_display_window_on_monochrome1_sample(shared_data):
    path = shared_data / "dicom-samples/pydicom-data/RG3_J2KR.dcm"
    img = read_dicom(path)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    expected = 1.0 - _window(
        img.pixels.astype(np.float64), float(ds.WindowCenter), float(ds.WindowWidth)
    )
    assert np.allclose(to_display(img), expected, atol=1e-5)


# ---------------------------------------------------------------- refusals
def _assert_no_phi(exc: BaseException) -> None:
    text = str(exc)
    for phi in PHI:
        assert phi not in text
    assert "/" not in text  # only the file's base name


def test_truncated_file(shared_data, tmp_path):
    data = (shared_data / "dicom-samples/pydicom-test_files/CT_small.dcm").read_bytes()
    cut = tmp_path / "half.dcm"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidDicomError) as info:
        read_dicom(cut)
    _assert_no_phi(info.value)
    assert "half.dcm" in str(info.value)


def test_random_bytes(tmp_path):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(InvalidDicomError):
        read_dicom(junk)
    fake = tmp_path / "fake.dcm"
    fake.write_bytes(b"\x00" * 128 + b"DICM" + b"\x01\x02")
    with pytest.raises(InvalidDicomError):
        read_dicom(fake)


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError):
        read_dicom(tmp_path / "nope.dcm")


def test_dicomdir_has_no_pixel_data(shared_data):
    with pytest.raises(InvalidDicomError, match="no pixel data") as info:
        read_dicom(shared_data / "dicom-samples/pydicom-test_files/dicomdirtests/DICOMDIR")
    _assert_no_phi(info.value)


def test_bomb_guard_before_decoding(shared_data, tmp_path):
    src = shared_data / "dicom-samples/pydicom-test_files/CT_small.dcm"
    with pytest.raises(ImageTooLargeError) as info:
        read_dicom(src, max_pixels=100)
    _assert_no_phi(info.value)
    ds = pydicom.dcmread(src)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 65535, 65535, 100000  # claims ~4e14 samples
    bomb = tmp_path / "bomb.dcm"
    ds.save_as(bomb)
    with pytest.raises(ImageTooLargeError) as info:
        read_dicom(bomb)
    _assert_no_phi(info.value)


def test_unsupported_transfer_syntax():
    from pydicom.data import get_testdata_file
    from pydicom.pixels import get_decoder

    path = get_testdata_file("MR_small_jpeg_ls_lossless.dcm", download=False)
    if path is None:
        pytest.skip("pydicom wheel lacks its JPEG-LS test file")
    if get_decoder(pydicom.uid.JPEGLSLossless).is_available:
        pytest.skip("a JPEG-LS plugin is installed here")
    with pytest.raises(UnsupportedImageError, match="JPEG-LS"):
        read_dicom(path)


def test_burned_in_annotation(shared_data, tmp_path):
    ds = pydicom.dcmread(shared_data / "dicom-samples/pydicom-test_files/CT_small.dcm")
    ds.BurnedInAnnotation = "YES"
    path = tmp_path / "burned.dcm"
    ds.save_as(path)
    with pytest.raises(BurnedInAnnotationError) as info:
        read_dicom(path)
    _assert_no_phi(info.value)
    with pytest.warns(UserWarning, match="BurnedInAnnotation"):
        img = read_dicom(path, allow_burned_in=True)
    assert img.deid is not None and img.deid.burned_in_annotation == "YES"
    assert img.header.PatientIdentityRemoved == "NO"  # pixels may still identify
