"""Standard DICOM export: pydicom reads it back, and dcmdump/dciodvfy accept it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _codec_samples import DATA, covid_files, load_image, sample_files
from pydicom.encaps import generate_frames
from pydicom.uid import SecondaryCaptureImageStorage

from medseal.codec import available_codecs, encode, pack, to_dicom, unpack, write_dicom
from medseal.codec.dicom_export import IMPLEMENTATION_CLASS_UID
from medseal.types import Image

needs_data = pytest.mark.skipif(DATA is None, reason="../shared/data is not beside this checkout")
DCMDUMP = shutil.which("dcmdump")
DCIODVFY = shutil.which("dciodvfy")


def _by_name(name: str) -> Path:
    for path in sample_files():
        if path.name == name:
            return path
    pytest.skip(f"{name} not in the shared samples")


def _read_back(path: Path) -> pydicom.FileDataset:
    ds = pydicom.dcmread(path)
    assert ds.preamble == b"\x00" * 128
    return ds


@needs_data
@pytest.mark.parametrize(
    ("name", "lossless"),
    [
        ("CT_small.dcm", True),
        ("MR_small.dcm", True),
        ("US1_J2KR.dcm", True),
        ("emri_small.dcm", True),
        ("OBXXXX1A_2frame.dcm", True),
        ("CT_small.dcm", False),
        ("US1_J2KR.dcm", False),
    ],
)
def test_export_reads_back(tmp_path: Path, name: str, lossless: bool) -> None:
    image, src = load_image(_by_name(name))
    enc, header = unpack(
        pack(encode(image, codec="j2k", lossless=lossless, ratio=None if lossless else 6))
    )
    enc, header = unpack(pack(enc, image.header))
    out = write_dicom(tmp_path / "x.dcm", enc, header)
    ds = _read_back(out)
    tsyntax = ds.file_meta.TransferSyntaxUID
    assert tsyntax == ("1.2.840.10008.1.2.4.90" if lossless else "1.2.840.10008.1.2.4.91")
    assert ds.file_meta.MediaStorageSOPClassUID == src.SOPClassUID == ds.SOPClassUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == src.SOPInstanceUID
    assert ds.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert ds.PatientID == src.PatientID  # header carried over (de-identification is ingest's job)
    # the stored codestreams are encapsulated unchanged, one fragment per frame
    frames = list(generate_frames(ds.PixelData, number_of_frames=len(enc.frames)))
    # (DICOM pads odd-length fragments with one zero byte)
    assert frames == [bytes(f) + b"\x00" * (len(f) % 2) for f in enc.frames]
    pixels = ds.pixel_array
    assert pixels.shape == image.pixels.shape
    if lossless:
        np.testing.assert_array_equal(pixels, image.pixels)
        assert ds.get("LossyImageCompression", "00") == src.get("LossyImageCompression", "00")
    else:
        assert ds.LossyImageCompression == "01"
        methods = ds["LossyImageCompressionMethod"].value
        ratios = ds["LossyImageCompressionRatio"].value
        methods = [methods] if isinstance(methods, str) else list(methods)
        ratios = list(ratios) if ds["LossyImageCompressionRatio"].VM > 1 else [ratios]
        assert methods[-1] == "ISO_15444_1"
        assert float(ratios[-1]) > 3
        diff = np.abs(pixels.astype(float) - image.pixels.astype(float))
        assert diff.mean() < 0.05 * float(np.ptp(image.pixels))
    if image.samples_per_pixel == 3:
        assert ds.PhotometricInterpretation == ("YBR_RCT" if lossless else "YBR_ICT")


def test_secondary_capture_header_for_png_sources(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 255, (64, 48, 3), dtype=np.uint8)
    enc = encode(Image(pixels=pixels, photometric="RGB", source="png"))
    ds1 = to_dicom(enc)
    ds2 = to_dicom(enc)
    assert ds1.SOPClassUID == SecondaryCaptureImageStorage
    assert ds1.Modality == "OT" and ds1.ConversionType == "WSD"
    assert ds1.SOPInstanceUID != ds2.SOPInstanceUID  # fresh UIDs every time
    assert ds1.StudyInstanceUID != ds2.StudyInstanceUID
    out = write_dicom(tmp_path / "sc.dcm", enc)
    back = _read_back(out)
    assert (back.Rows, back.Columns, back.SamplesPerPixel) == (64, 48, 3)
    np.testing.assert_array_equal(back.pixel_array, pixels)


def test_signed_multiframe_export(tmp_path: Path) -> None:
    pixels = np.random.default_rng(1).integers(-2048, 2047, (3, 40, 36)).astype(np.int16)
    enc = encode(Image(pixels=pixels, bits_stored=12, frames=3))
    back = _read_back(write_dicom(tmp_path / "mf.dcm", enc))
    assert back.NumberOfFrames == 3 and back.PixelRepresentation == 1
    assert (back.BitsAllocated, back.BitsStored, back.HighBit) == (16, 12, 11)
    np.testing.assert_array_equal(back.pixel_array, pixels)


def _export_cases() -> list[tuple[Path, bool]]:
    files = [p for p in sample_files() if p.stat().st_size < 600_000][:12] + covid_files()[:2]
    return [(p, True) for p in files] + [(p, False) for p in files[:3]]


def _export(tmp_path: Path, src: Path, lossless: bool) -> Path:
    image, _ = load_image(src)
    kw: dict[str, object] = {"codec": "j2k"}  # dciodvfy here does not know HTJ2K's syntax
    if not lossless:
        kw.update(lossless=False, ratio=8.0)
    return write_dicom(tmp_path / "out.dcm", encode(image, **kw), image.header)  # type: ignore[arg-type]


@needs_data
@pytest.mark.skipif(DCMDUMP is None, reason="dcmdump not on PATH (apt-get install dcmtk)")
@pytest.mark.parametrize("case", _export_cases(), ids=lambda c: f"{c[0].name}-{c[1]}")
def test_dcmdump_parses_export(tmp_path: Path, case: tuple[Path, bool]) -> None:
    out = _export(tmp_path, *case)
    run = subprocess.run(
        [str(DCMDUMP), str(out)], capture_output=True, text=True, errors="replace", timeout=60
    )
    assert run.returncode == 0, run.stderr
    errors = [ln for ln in (run.stdout + run.stderr).splitlines() if ln.startswith("E:")]
    assert not errors


def _dciodvfy_errors(path: Path) -> set[str]:
    run = subprocess.run(
        [str(DCIODVFY), str(path)], capture_output=True, text=True, errors="replace", timeout=60
    )
    return {ln.strip() for ln in (run.stdout + run.stderr).splitlines() if ln.startswith("Error")}


@needs_data
@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy not on PATH (apt-get install dicom3tools)")
@pytest.mark.parametrize("case", _export_cases(), ids=lambda c: f"{c[0].name}-{c[1]}")
def test_dciodvfy_finds_no_new_error(tmp_path: Path, case: tuple[Path, bool]) -> None:
    src, lossless = case
    out = _export(tmp_path, src, lossless)
    # the header is the source's: only errors our export introduces count
    new = _dciodvfy_errors(out) - _dciodvfy_errors(src)
    assert not new, new


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy not on PATH (apt-get install dicom3tools)")
@pytest.mark.parametrize("lossless", [True, False])
def test_dciodvfy_accepts_secondary_capture(tmp_path: Path, lossless: bool) -> None:
    pixels = np.random.default_rng(2).integers(0, 255, (64, 64), dtype=np.uint8)
    kw: dict[str, object] = {"codec": "j2k"}
    if not lossless:
        kw.update(lossless=False, ratio=5.0)
    out = write_dicom(tmp_path / "sc.dcm", encode(Image(pixels=pixels), **kw))  # type: ignore[arg-type]
    assert _dciodvfy_errors(out) == set()


@pytest.mark.skipif(available_codecs()["htj2k"] is not None, reason="no HTJ2K encoder here")
@pytest.mark.parametrize("lossless", [True, False])
def test_htj2k_export_reads_back(tmp_path: Path, lossless: bool) -> None:
    pixels = np.random.default_rng(3).integers(-2048, 2047, (64, 72)).astype(np.int16)
    kw = {} if lossless else {"lossless": False, "ratio": 4.0}
    enc = encode(Image(pixels=pixels, bits_stored=12), codec="htj2k", **kw)  # type: ignore[arg-type]
    back = _read_back(write_dicom(tmp_path / "ht.dcm", enc))
    assert back.file_meta.TransferSyntaxUID == (
        "1.2.840.10008.1.2.4.201" if lossless else "1.2.840.10008.1.2.4.203"
    )
    if lossless:
        np.testing.assert_array_equal(back.pixel_array, pixels)
    else:
        assert back.LossyImageCompressionMethod == "ISO_15444_15"
