"""Helpers shared by the codec tests that read the real DICOM samples."""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from medseal.config import shared_data_dir
from medseal.types import Image

DATA = shared_data_dir()
SAMPLES = DATA / "dicom-samples" if DATA else None
COVID = DATA / "covid19-ny-sbu-ct-followup" if DATA else None
#: over ~1 Mpx: a few hundred ms each, so only the full-set test reads them
BIG = {"MR2_J2KI.dcm", "MR2_J2KR.dcm", "RG1_J2KI.dcm", "RG3_J2KI.dcm", "RG3_J2KR.dcm"}


def sample_files() -> list[Path]:
    """Every file under dicom-samples that is DICOM with pixel data (DICOMDIRs skipped)."""
    if SAMPLES is None or not SAMPLES.is_dir():
        return []
    out = []
    for path in sorted(SAMPLES.rglob("*")):
        if not path.is_file() or path.suffix in (".md", ".txt") or "DICOMDIR" in path.name:
            continue
        out.append(path)
    return out


def covid_files() -> list[Path]:
    if COVID is None or not COVID.is_dir():
        return []
    return sorted(COVID.rglob("*.dcm"))


def load_image(path: Path) -> tuple[Image, Dataset]:
    """The stored pixel values of a DICOM file as an Image (header without pixels)."""
    ds = pydicom.dcmread(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pixels = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.SamplesPerPixel)
    # pydicom hands colour J2K/YBR back as RGB; the Image says what the array holds
    photometric = "RGB" if samples == 3 else str(ds.PhotometricInterpretation)
    header = Dataset()
    for elem in ds:
        if elem.tag != 0x7FE00010:
            header.add(elem)
    image = Image(
        pixels=pixels,
        photometric=photometric,
        bits_stored=int(ds.BitsStored),
        frames=frames,
        source="dicom",
        header=header,
    )
    return image, ds
