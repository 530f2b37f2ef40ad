"""Free text is removed unless Clean Descriptors is asked for, and then it keeps no name or id
of the patient; a name variant in any text that is kept is replaced too."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medseal.ingest.deid import DEFAULT_OPTIONS, Deidentifier, DeidOption

SECRET = b"s" * 32


def _header() -> Dataset:
    ds = Dataset()
    ds.PatientName = "Doe^John^Q"
    ds.PatientID = "MRN555"
    ds.OtherPatientIDs = ["A-77123"]
    ds.StudyDescription = "Follow-up of John Doe (MRN555), see A-77123"
    ds.SeriesDescription = "AX CHEST 5mm"
    ds.ProtocolName = "DOE JOHN trauma protocol"
    ds.ImageComments = "patient John Doe moved"
    ds.ReasonForVisit = "cough"
    ds.ClinicalTrialTimePointID = "TP2"
    ds.ClinicalTrialTimePointDescription = "second visit"
    ds.AdditionalPatientHistory = "John's mother smokes"
    item = Dataset()
    item.CodeValue = "CTCHEST"
    item.CodingSchemeDesignator = "99LOCAL"
    item.CodeMeaning = "CT chest for DOE, JOHN (mrn555)"
    ds.ProcedureCodeSequence = Sequence([item])
    ds.Manufacturer = "ACME"
    return ds


def _texts(ds: Dataset) -> str:
    parts: list[str] = []
    ds.walk(lambda _d, e: parts.append(str(e.value)))
    return "\n".join(parts).lower()


def test_free_text_is_removed_by_default():
    ds = _header()
    report = Deidentifier(SECRET).deidentify(ds)
    for kw in (
        "StudyDescription",
        "SeriesDescription",
        "ProtocolName",
        "ImageComments",
        "ReasonForVisit",
        "ClinicalTrialTimePointDescription",
        "AdditionalPatientHistory",
        "OtherPatientIDs",
    ):
        assert kw not in ds, kw
        assert kw in report.removed
    assert ds.ClinicalTrialTimePointID == ""  # Z
    assert ds.Manufacturer == "ACME"  # not in the table: kept
    # a kept code meaning named the patient: the name and id are replaced
    assert ds.ProcedureCodeSequence[0].CodeMeaning == "CT chest for *, * (*)"
    text = _texts(ds)
    for phi in ("doe", "john", "mrn555", "a-77123"):
        assert phi not in text, phi


def test_clean_descriptors_keeps_descriptions_without_names_or_ids():
    ds = _header()
    options = DEFAULT_OPTIONS | {DeidOption.CLEAN_DESCRIPTORS}
    Deidentifier(SECRET, options=options).deidentify(ds)
    assert ds.StudyDescription == "Follow-up of * * (*), see *"
    assert ds.SeriesDescription == "AX CHEST 5mm"
    assert ds.ProtocolName == "* * trauma protocol"
    assert ds.ImageComments == "patient * * moved"
    assert ds.AdditionalPatientHistory == "John's mother smokes".replace("John", "*")
    assert ds.ReasonForVisit == "cough"
    assert "OtherPatientIDs" not in ds  # no clean-descriptors column: still removed
    text = _texts(ds)
    for phi in ("doe", "john", "mrn555", "a-77123"):
        assert phi not in text, phi
    codes = {i.CodeValue for i in ds.DeidentificationMethodCodeSequence}
    assert "113105" in codes
