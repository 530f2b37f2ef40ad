"""Data that ships inside the installed packages, so demos and tests run offline.

Where it sits: a data set loader of ingest, used by ``medseal demo``, the
benchmarks and the tests.

- :func:`demo_records`: 300 real PneumoniaMNIST images (28x28 grey) in
  ``medseal/data/pneumoniamnist_demo.npz``: train 80/80, val 30/30, test 40/40
  normal/pneumonia; official test images only in ``test`` (built by
  ``_build_embedded.py``; CC BY 4.0, attribution in
  ``medseal/data/PNEUMONIAMNIST_LICENSE.md``).
- :func:`pydicom_sample_paths`: DICOM test files that the pydicom wheel itself
  installs under ``pydicom/data/test_files`` (MIT). Only files present in that
  folder are returned; nothing is ever downloaded (pydicom's larger test files,
  e.g. ``emri_small.dcm``, live in pydicom-data and are *not* in the wheel).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from medseal.ingest.npz import read_npz
from medseal.ingest.records import Record

__all__ = [
    "DEMO_FILE",
    "FOLDERS",
    "LAYOUT",
    "NAME",
    "PYDICOM_SAMPLES",
    "data_path",
    "demo_records",
    "load",
    "pydicom_sample_paths",
]

NAME = "embedded"
FOLDERS = ()
LAYOUT = "  (inside the medseal package: medseal/data/pneumoniamnist_demo.npz)"
DEMO_FILE = "pneumoniamnist_demo.npz"

#: (path under pydicom/data/test_files, what it covers)
PYDICOM_SAMPLES = (
    ("CT_small.dcm", "CT, int16, Explicit VR LE, rescale"),
    ("MR_small.dcm", "MR, int16, Explicit VR LE"),
    ("MR_small_jp2klossless.dcm", "JPEG 2000 lossless"),
    ("JPEG2000.dcm", "JPEG 2000 lossy, NM"),
    ("MR_small_RLE.dcm", "RLE lossless"),
    ("MR_small_bigendian.dcm", "Explicit VR big endian"),
    ("dicomdirtests/77654033/CR1/6154", "CR, MONOCHROME1, no file extension"),
    ("examples_rgb_color.dcm", "RGB, uint8"),
    ("SC_rgb_rle_2frame.dcm", "multi-frame (2) RGB, RLE"),
)


def data_path() -> Path:
    """Path of the embedded demo npz."""
    return Path(str(resources.files("medseal").joinpath("data", DEMO_FILE)))


def demo_records() -> list[Record]:
    """The embedded PneumoniaMNIST demo set (300 records; see the module docstring)."""
    return read_npz(data_path())


def load(root: str | Path | None = None, **_: object) -> list[Record]:
    """Registry entry: :func:`demo_records` (``root`` is ignored)."""
    return demo_records()


def pydicom_sample_paths() -> list[Path]:
    """DICOM files from the installed pydicom wheel (``PYDICOM_SAMPLES`` that exist locally).

    Never triggers a download: the wheel's ``test_files`` folder is read directly
    instead of calling ``pydicom.data.get_testdata_file``.
    """
    import pydicom.data

    base = Path(pydicom.data.__file__).resolve().parent / "test_files"
    return [base / name for name, _ in PYDICOM_SAMPLES if (base / name).is_file()]
