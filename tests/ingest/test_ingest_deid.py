"""De-identification: PHI gone, keyed determinism, UID consistency, per-patient date shift."""

from __future__ import annotations

import datetime
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from medseal.errors import InputError
from medseal.ingest import Deidentifier, read_dicom

SECRET = b"s" * 32
COVID = "covid19-ny-sbu-ct-followup"


def _texts(ds: Dataset) -> str:
    parts: list[str] = []
    ds.walk(lambda _d, e: parts.append(str(e.value)))
    if getattr(ds, "file_meta", None) is not None:
        ds.file_meta.walk(lambda _d, e: parts.append(str(e.value)))
    return "\n".join(parts)


def _date(value: str) -> datetime.date:
    return datetime.datetime.strptime(value, "%Y%m%d").date()


def test_identifiers_removed_or_replaced(shared_data):
    path = shared_data / "dicom-samples/pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm"
    orig = pydicom.dcmread(path, stop_before_pixels=True)
    img = read_dicom(path, deidentifier=Deidentifier(SECRET))
    h, rep = img.header, img.deid
    assert h.PatientName != orig.PatientName and h.PatientID != orig.PatientID
    # Z (Type 2) attributes are emptied, not deleted; X attributes are deleted
    assert h.PatientBirthDate == "" and "PatientAddress" not in h
    assert h.get("InstitutionName") != orig.InstitutionName
    assert "IconImageSequence" not in h  # X
    assert h.DeviceSerialNumber not in ("", orig.DeviceSerialNumber)  # X/Z/D: dummy value
    assert not any(e.tag.is_private for e in h.iterall())
    assert not any(e.tag.group == 0x6000 for e in h)  # overlays gone
    text = _texts(h)
    for phi in (str(orig.PatientName), orig.PatientID, orig.InstitutionName, orig.PatientAddress):
        assert phi not in text
    assert h.PatientIdentityRemoved == "YES"
    assert h.LongitudinalTemporalInformationModified == "MODIFIED"
    codes = {item.CodeValue for item in h.DeidentificationMethodCodeSequence}
    assert codes == {"113100", "113107", "113108"}
    assert h.PatientAge == orig.PatientAge and h.PatientSex == orig.PatientSex  # retained option
    # the report names keywords, never values
    assert {"PatientID", "PatientName", "StudyInstanceUID"} <= set(rep.changed)
    assert {"PatientAddress", "OverlayData"} <= set(rep.removed)
    assert "PatientBirthDate" in rep.changed
    assert orig.PatientID not in str(rep.manifest()) and orig.PatientID not in repr(rep)
    assert rep.pseudonyms[orig.PatientID] == h.PatientID
    assert "Deidentifier(" in repr(Deidentifier(SECRET)) and orig.PatientID not in repr(rep)


def test_ct_small_phi_gone(shared_data):
    img = read_dicom(shared_data / "dicom-samples/pydicom-test_files/CT_small.dcm")
    text = _texts(img.header)
    for phi in ("CompressedSamples", "1CT1", "JFK IMAGING"):
        assert phi not in text


def test_study_uids_consistent_and_keyed(shared_data):
    a = shared_data / COVID / "A002304/axial/19001231-076.dcm"
    b = shared_data / COVID / "A002304/coronal/19001231-076.dcm"
    oa, ob = (pydicom.dcmread(p, stop_before_pixels=True) for p in (a, b))
    assert oa.StudyInstanceUID == ob.StudyInstanceUID and oa.SOPInstanceUID != ob.SOPInstanceUID
    d = Deidentifier(SECRET)
    ha, hb = read_dicom(a, deidentifier=d).header, read_dicom(b, deidentifier=d).header
    assert ha.StudyInstanceUID == hb.StudyInstanceUID != oa.StudyInstanceUID
    assert ha.SOPInstanceUID != hb.SOPInstanceUID
    assert ha.file_meta.MediaStorageSOPInstanceUID == ha.SOPInstanceUID
    assert ha.SOPClassUID == oa.SOPClassUID  # class UIDs are kept
    assert pydicom.uid.UID(ha.StudyInstanceUID).is_valid
    # same secret, new object (a "process restart"): identical results
    again = read_dicom(a, deidentifier=Deidentifier(SECRET)).header
    for kw in ("StudyInstanceUID", "SOPInstanceUID", "PatientID", "PatientName", "StudyDate"):
        assert again.get(kw) == ha.get(kw), kw
    # another secret: different UIDs and pseudonyms
    other = read_dicom(a, deidentifier=Deidentifier(b"t" * 32)).header
    assert other.StudyInstanceUID != ha.StudyInstanceUID
    assert other.PatientID != ha.PatientID


def test_date_shift_consistent_per_patient(shared_data):
    d = Deidentifier(SECRET)
    shifts = {}
    for patient_dir in sorted((shared_data / COVID).iterdir()):
        if not patient_dir.is_dir():
            continue
        files = sorted((patient_dir / "axial").glob("*.dcm"))
        assert len(files) == 2
        before = [_date(pydicom.dcmread(f, stop_before_pixels=True).StudyDate) for f in files]
        imgs = [read_dicom(f, deidentifier=d) for f in files]
        after = [_date(i.header.StudyDate) for i in imgs]
        assert (after[1] - after[0]) == (before[1] - before[0])  # interval kept
        shift = (after[0] - before[0]).days
        assert shift == imgs[0].deid.date_shift_days == imgs[1].deid.date_shift_days
        assert -730 < shift <= -62
        assert len({i.header.PatientID for i in imgs}) == 1
        assert patient_dir.name not in _texts(imgs[0].header)
        shifts[patient_dir.name] = shift
    assert len(shifts) == 10
    assert len(set(shifts.values())) > 1  # patients are not shifted together
    assert set(d.pseudonym_map) >= set(shifts)


def test_deidentify_plain_dataset_and_secret_checks():
    ds = Dataset()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "12345"
    ds.PatientBirthDate = "19700101"
    ds.StudyDate = "20200102"
    ds.OtherPatientIDs = "999"
    ds.ImageComments = "Jane's scan"
    ds.ClinicalTrialSubjectID = "12345"
    rep = Deidentifier(SECRET).deidentify(ds)
    assert ds.PatientID != "12345" and "ImageComments" not in ds
    assert ds.ClinicalTrialSubjectID == ds.PatientID  # leftover copy of the id replaced
    assert ds.PatientBirthDate == "" and "PatientBirthDate" in rep.changed
    assert "OtherPatientIDs" in rep.removed and rep.burned_in_annotation == "UNKNOWN"
    assert rep.pseudonyms == {"12345": ds.PatientID, "Doe^Jane": str(ds.PatientName)}
    with pytest.raises(InputError):
        Deidentifier(b"short")
    with pytest.raises(TypeError):
        Deidentifier("not bytes")  # type: ignore[arg-type]


def test_fresh_deidentifier_by_default_is_random(shared_data):
    path: Path = shared_data / "dicom-samples/pydicom-test_files/MR_small.dcm"
    a, b = read_dicom(path).header, read_dicom(path).header
    assert a.PatientID != b.PatientID  # random secret each time
    raw = read_dicom(path, deidentify=False)
    assert raw.deid is None and raw.header.PatientID == "4MR1"
