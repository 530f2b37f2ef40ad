"""The de-identification table is the whole of PS3.15 Table E.1-1, and its options are named."""

from __future__ import annotations

from collections import Counter

import pytest
from pydicom.datadict import dictionary_has_tag, tag_for_keyword
from pydicom.dataset import Dataset

from medseal.errors import InputError
from medseal.ingest import _e11_table as e11
from medseal.ingest.deid import DEFAULT_OPTIONS, Deidentifier, DeidOption, profile_action

SECRET = b"s" * 32


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return int(tag)


def test_the_table_has_every_row_of_the_2024b_edition():
    # 617 attributes with a tag, 3 repeating-group rows (curves, overlay data and
    # comments) and the private-attributes row: 621 rows in PS3.15 2024b E.1-1
    assert e11.EDITION == "2024b" and e11.ROW_COUNT == 621
    assert len(e11.ROWS) == 617 and len(e11.MASKED_ROWS) == 3
    assert e11.PRIVATE_ROW["basic"] == "X"
    assert len(e11.ROWS) + len(e11.MASKED_ROWS) + 1 == e11.ROW_COUNT
    counts = Counter(basic for _, basic, _ in e11.ROWS.values())
    assert counts == {
        "X": 380, "D": 92, "U": 54, "Z": 42, "X/D": 22, "X/Z": 11,
        "X/Z/D": 8, "Z/D": 6, "X/Z/U*": 2,
    }  # fmt: skip
    # every tag is one pydicom's data dictionary knows (so VR and retirement are known)
    assert all(dictionary_has_tag(tag) for tag in e11.ROWS)


@pytest.mark.parametrize(
    ("keyword", "action"),
    [
        ("PatientBirthDate", "Z"),
        ("PatientName", "Z"),
        ("PatientID", "Z/D"),
        ("AccessionNumber", "Z"),
        ("StationName", "X/Z/D"),
        ("InstitutionName", "X/Z/D"),
        ("InstitutionAddress", "X"),
        ("PersonAddress", "X"),
        ("ReasonForVisit", "X"),
        ("PerformedLocation", "X"),
        ("DetectorID", "X/D"),
        ("GantryID", "X"),
        ("InsurancePlanIdentification", "X"),
        ("ClinicalTrialSubjectID", "D"),
        ("ClinicalTrialTimePointID", "Z"),
        ("OrderCallbackPhoneNumber", "X"),
        ("ProtocolName", "X/D"),
        ("StudyInstanceUID", "U"),
        ("SOPInstanceUID", "U"),
        ("ReferencedImageSequence", "X/Z/U*"),
        ("AcquisitionContextSequence", "X/Z"),
        ("ContentSequence", "D"),
        ("StudyDate", "Z"),
        ("ContentDate", "Z/D"),
        ("PatientSex", "Z"),
        ("PatientAge", "X"),
    ],
)
def test_known_rows_carry_the_standards_basic_profile_action(keyword, action):
    assert e11.ROWS[_tag(keyword)][1] == action
    assert profile_action(_tag(keyword)) == action


def test_option_columns_override_the_basic_action():
    dates = [DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES]
    assert profile_action(_tag("StudyDate"), dates) == "C"
    assert profile_action(_tag("StudyDate"), [DeidOption.RETAIN_LONGITUDINAL_FULL_DATES]) == "K"
    assert profile_action(_tag("PatientAge"), [DeidOption.RETAIN_PATIENT_CHARACTERISTICS]) == "K"
    assert profile_action(_tag("StationName"), [DeidOption.RETAIN_DEVICE_IDENTITY]) == "K"
    assert profile_action(_tag("InstitutionName"), [DeidOption.RETAIN_INSTITUTION_IDENTITY]) == "K"
    assert profile_action(_tag("StudyInstanceUID"), [DeidOption.RETAIN_UIDS]) == "K"
    assert profile_action(_tag("SeriesDescription"), [DeidOption.CLEAN_DESCRIPTORS]) == "C"
    assert profile_action(_tag("SeriesDescription")) == "X"
    # an option whose column is empty for the attribute changes nothing
    assert profile_action(_tag("PatientBirthDate"), list(DeidOption)) == "Z"
    # overlay and curve repeating groups
    assert profile_action(0x60023000) == "X" and profile_action(0x50020010) == "X"
    assert profile_action(_tag("Modality")) is None  # not in the table: kept by default


def test_options_are_recorded_in_the_method_code_sequence():
    ds = Dataset()
    ds.PatientID = "P1"
    Deidentifier(SECRET).deidentify(ds)
    codes = {(i.CodeValue, i.CodingSchemeDesignator) for i in ds.DeidentificationMethodCodeSequence}
    assert codes == {("113100", "DCM"), ("113107", "DCM"), ("113108", "DCM")}
    assert {
        DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES,
        DeidOption.RETAIN_PATIENT_CHARACTERISTICS,
    } == DEFAULT_OPTIONS
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"

    every = [o for o in DeidOption if o is not DeidOption.RETAIN_LONGITUDINAL_FULL_DATES]
    ds = Dataset()
    ds.PatientID = "P1"
    Deidentifier(SECRET, options=every).deidentify(ds)
    codes = {i.CodeValue for i in ds.DeidentificationMethodCodeSequence}
    assert codes == {"113100", "113105", "113107", "113108", "113109", "113110", "113112"}
    ds = Dataset()
    Deidentifier(SECRET, options=["retain-longitudinal-full-dates"]).deidentify(ds)
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"
    ds = Dataset()
    Deidentifier(SECRET, options=()).deidentify(ds)
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert {i.CodeValue for i in ds.DeidentificationMethodCodeSequence} == {"113100"}


def test_unknown_or_contradictory_options_are_refused():
    with pytest.raises(InputError, match="unknown de-identification option"):
        Deidentifier(SECRET, options=["retain-everything"])
    with pytest.raises(InputError, match="not both"):
        Deidentifier(
            SECRET,
            options=[
                DeidOption.RETAIN_LONGITUDINAL_FULL_DATES,
                DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES,
            ],
        )


def _sample() -> Dataset:
    ds = Dataset()
    ds.PatientID = "P1"
    ds.PatientAge = "042Y"
    ds.StudyDate = "20200102"
    ds.StudyTime = "101010"
    ds.AcquisitionDate = "20200102"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.StationName = "CT-ROOM-7"
    ds.InstitutionName = "St Elsewhere"
    return ds


@pytest.mark.parametrize(
    ("options", "kept", "changed"),
    [
        ((), set(), {"StudyDate", "StudyTime", "SOPInstanceUID", "StationName", "InstitutionName"}),
        (["retain-uids"], {"SOPInstanceUID"}, {"StudyDate", "StationName"}),
        (["retain-longitudinal-full-dates"], {"StudyDate", "StudyTime", "AcquisitionDate"}, set()),
        (["retain-longitudinal-modified-dates"], {"StudyTime"}, {"StudyDate", "AcquisitionDate"}),
        (["retain-device-identity"], {"StationName"}, {"InstitutionName"}),
        (["retain-institution-identity"], {"InstitutionName"}, {"StationName"}),
        (["retain-patient-characteristics"], {"PatientAge"}, {"StudyDate"}),
    ],
)
def test_each_retain_option_keeps_what_it_names_and_nothing_else(options, kept, changed):
    ds = _sample()
    before = _sample()
    Deidentifier(SECRET, options=options).deidentify(ds)
    for kw in kept:
        assert ds.get(kw) == before.get(kw), kw
    for kw in changed:
        assert ds.get(kw) != before.get(kw), kw
    if not options:
        assert ds.StudyDate == "" and ds.StudyTime == ""  # Z: emptied
        assert "PatientAge" not in ds  # X
        assert ds.StationName not in ("", "CT-ROOM-7")  # X/Z/D: dummy value
