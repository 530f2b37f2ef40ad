"""The real sample DICOMs: no identifying value survives de-identification and export,
and the exported file has no dciodvfy error its source did not have."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from medseal import codec
from medseal.config import shared_data_dir
from medseal.ingest import read_dicom
from medseal.ingest.deid import DEFAULT_OPTIONS, Deidentifier, profile_action

DATA = shared_data_dir()
SECRET = b"s" * 32
DCIODVFY = shutil.which("dciodvfy")
#: decoding and re-encoding these takes ~0.5 s each; the codec tests cover them
_BIG = {"MR2_J2KI.dcm", "MR2_J2KR.dcm", "RG1_J2KI.dcm", "RG3_J2KI.dcm", "RG3_J2KR.dcm"}


def _samples() -> list[Path]:
    if DATA is None:
        return []
    files = [
        p
        for p in sorted((DATA / "dicom-samples").rglob("*"))
        if p.is_file()
        and p.suffix not in (".md", ".txt")
        and "DICOMDIR" not in p.name
        and p.name not in _BIG
    ]
    covid = DATA / "covid19-ny-sbu-ct-followup"
    if covid.is_dir():  # every patient, both time points, one orientation
        files += sorted(covid.glob("*/axial/*.dcm"))
    return files


SAMPLES = _samples()
needs_data = pytest.mark.skipif(not SAMPLES, reason="../shared/data is not beside this checkout")


def _ids(path: Path) -> str:
    return "/".join(path.parts[-3:])


def _strings(value: object) -> list[str]:
    if isinstance(value, bytes | bytearray):
        return []
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return [s for v in value for s in _strings(v)]
    return [] if value is None else [str(value).strip()]


def _identifying(ds: Dataset) -> set[str]:
    """Values of the source that the profile must not let through (text of 4+ characters).

    Those of attributes the default options keep (K, or C for dates/text) are not
    identifying by that choice; a value that also occurs in a kept attribute (a
    manufacturer named in a private element ...) is left out too.
    """
    bad: set[str] = set()
    kept: set[str] = set()

    def walk(d: Dataset) -> None:
        for elem in d:
            if elem.VR == "SQ":
                for item in elem.value or ():
                    walk(item)
                continue
            tag = int(elem.tag)
            action = None if elem.tag.is_private else profile_action(tag, DEFAULT_OPTIONS)
            values = [v for v in _strings(elem.value) if len(v) >= 4]
            if elem.tag.is_private or action not in (None, "K", "C"):
                bad.update(values)
            else:
                kept.update(values)
                if elem.VR == "PN":
                    kept.update(p for v in values for p in re.split(r"[\^=]", v))

    walk(ds)
    if getattr(ds, "file_meta", None) is not None:
        bad.add(str(ds.file_meta.get("MediaStorageSOPInstanceUID", "")))
    bad.discard("")
    # short numbers (a series number in a removed attribute ...) also occur by chance
    bad = {v for v in bad - kept if not v.isdigit() or len(v) >= 6}
    return {v for v in bad if not any(v in k for k in kept)}


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """De-identify and export a sample once (``vault put`` + ``export-dicom`` steps)."""
    done: dict[Path, Path] = {}
    folder = tmp_path_factory.mktemp("deid-export")

    def run(src: Path) -> Path:
        if src not in done:
            image = read_dicom(src, deidentifier=Deidentifier(SECRET), allow_burned_in=True)
            # classic JPEG 2000: the dciodvfy here predates HTJ2K (the default codec)
            enc, header = codec.unpack(codec.pack(codec.encode(image, codec="j2k"), image.header))
            done[src] = codec.write_dicom(folder / f"{len(done)}.dcm", enc, header)
        return done[src]

    return run


def _values(ds: Dataset) -> list[str]:
    out: list[str] = []
    for elem in ds.iterall():
        if elem.tag != 0x7FE00010:
            out.extend(_strings(elem.value))
    out.extend(v for elem in ds.file_meta for v in _strings(elem.value))
    return out


@needs_data
@pytest.mark.parametrize("src", SAMPLES, ids=_ids)
def test_no_identifying_value_survives_export(src: Path, export: Callable[[Path], Path]) -> None:
    original = pydicom.dcmread(src, stop_before_pixels=True)
    identifying = _identifying(original)
    out = pydicom.dcmread(export(src))
    values = _values(out)
    exact = identifying.intersection(values)
    inside = {i for i in identifying if len(i) >= 6 for v in values if i in v}
    assert not exact and not inside, sorted(exact | inside)
    assert not any(elem.tag.is_private for elem in out.iterall())
    assert out.PatientIdentityRemoved in ("YES", "NO")


def _dciodvfy_errors(path: Path) -> set[str]:
    assert DCIODVFY is not None
    run = subprocess.run(
        [DCIODVFY, str(path)], capture_output=True, text=True, errors="replace", timeout=60
    )
    lines = (run.stdout + run.stderr).splitlines()
    # dciodvfy quotes UIDs in some messages ("has same value as ... <uid>"): compare
    # the messages, not the (de-identified) UIDs in them
    return {re.sub(r"<[0-9.]+>", "<uid>", ln.strip()) for ln in lines if ln.startswith("Error")}


@pytest.fixture
def dciodvfy() -> None:
    if DCIODVFY is None:
        if os.environ.get("CI"):
            pytest.fail("dciodvfy is not on PATH (apt-get install dicom3tools)")
        pytest.skip("dciodvfy not on PATH (apt-get install dicom3tools)")


@needs_data
@pytest.mark.parametrize("src", SAMPLES, ids=_ids)
def test_export_adds_no_dciodvfy_error(
    src: Path, export: Callable[[Path], Path], dciodvfy: None
) -> None:
    new = _dciodvfy_errors(export(src)) - _dciodvfy_errors(src)
    assert not new, sorted(new)


@needs_data
def test_protocol_name_and_trial_time_point_do_not_survive_on_the_covid_ct() -> None:
    """They did before: ProtocolName (X/D) and Clinical Trial Time Point ID/Description."""
    covid = [p for p in SAMPLES if "covid19" in str(p)]
    if not covid:
        pytest.skip("the COVID follow-up CT set is not in ../shared/data")
    original = pydicom.dcmread(covid[0], stop_before_pixels=True)
    assert original.ProtocolName and original.ClinicalTrialTimePointDescription
    header = read_dicom(covid[0], deidentifier=Deidentifier(SECRET)).header
    assert header is not None
    assert "ProtocolName" not in header and "ClinicalTrialTimePointDescription" not in header
    assert header.ClinicalTrialTimePointID == ""  # Z: emptied
    assert header.PatientBirthDate == ""  # Type 2: present, empty
