"""A file with a marker in every Table E.1-1 attribute (top level, two sequences deep,
as VR UN, as private tags) leaves no marker in the de-identified header or the export."""

from __future__ import annotations

import logging
from pathlib import Path

import pydicom
import pytest
from _deid_seed import OUTER_SQ, UN_SQ, Seed, has_marker, scan, write_seeded

from medseal import codec
from medseal.ingest import read_dicom
from medseal.ingest.deid import DEFAULT_OPTIONS, Deidentifier, profile_action
from medseal.types import Image

SECRET = b"s" * 32


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seed]:
    path = tmp_path_factory.mktemp("seed") / "seeded.dcm"
    return path, write_seeded(path)


def _export(tmp: Path, image: Image) -> Path:
    """What ``vault put`` + ``vault export-dicom`` do: encode, pack, unpack, write."""
    enc, header = codec.unpack(codec.pack(codec.encode(image), image.header))
    return codec.write_dicom(tmp / "export.dcm", enc, header)


def test_the_seeded_file_holds_every_table_attribute_at_every_place(seeded):
    path, seed = seeded
    # all 617 tagged rows but the two command-group and the one file-meta attribute
    # (Media Storage SOP Instance UID is in the file meta, seeded via SOP Instance UID)
    assert len(seed.seeded_tags) == 614 and set(seed.skipped) == {
        0x00001000,
        0x00001001,
        0x00020003,
    }
    raw = pydicom.dcmread(path)
    un_item = raw[UN_SQ].value[0]
    assert {e.VR for e in un_item.elements()} == {"UN"}  # as written (before parsing)
    assert len(list(un_item.elements())) > 550
    found = scan(raw, seed)
    assert len(found) > 3 * 550  # top level + nested + UN copies all carry markers
    assert raw[OUTER_SQ].value[0][0x00082218].value[0].PatientName.family_name.startswith("MKR")


def test_basic_profile_leaves_no_marker_in_header_or_export(seeded, tmp_path):
    path, seed = seeded
    image = read_dicom(path, deidentifier=Deidentifier(SECRET, options=()))
    assert scan(image.header, seed) == []
    out = _export(tmp_path, image)
    assert scan(pydicom.dcmread(out), seed) == []
    assert not has_marker(out.read_bytes())


def test_default_options_keep_only_what_their_columns_keep(seeded, tmp_path):
    """Retain Patient Characteristics keeps sex/age/size ...; modified dates keep times of day."""
    path, seed = seeded
    image = read_dicom(path, deidentifier=Deidentifier(SECRET))
    out = _export(tmp_path, image)
    left = scan(pydicom.dcmread(out), seed)
    assert left
    for where, text in left:
        tag = seed.markers[text]
        action = profile_action(tag, DEFAULT_OPTIONS)
        assert action in ("K", "C"), (where, action)
        if action == "C":  # cleaned dates are shifted; a cleaned time of day is kept
            assert pydicom.datadict.dictionary_VR(tag) in ("TM", "LT", "SH", "ST", "LO", "UT")
    # nothing that names or identifies the patient is among them
    kept = {seed.markers[t] for _, t in left}
    names = {pydicom.datadict.tag_for_keyword(k) for k in ("PatientName", "PatientID")}
    assert not kept & names
    assert all(profile_action(t) != "U" for t in kept)


def test_private_un_and_unknown_elements_are_gone_at_every_depth(seeded):
    path, seed = seeded
    header = read_dicom(path, deidentifier=Deidentifier(SECRET)).header
    for elem in header.iterall():
        assert not elem.tag.is_private, elem.tag
        assert elem.VR != "UN", elem.tag
        assert elem.tag.group & 0xFF00 not in (0x5000, 0x6000), elem.tag
        assert elem.tag.element != 0, elem.tag  # no group length
        assert pydicom.datadict.dictionary_has_tag(elem.tag), elem.tag
        assert not pydicom.datadict.dictionary_is_retired(elem.tag), elem.tag
    # the public sequences outside the table are kept, their items de-identified
    inner = header[OUTER_SQ].value[0][0x00082218].value[0]
    assert str(inner.PatientName).startswith("ANON^")
    assert inner.PatientBirthDate == ""  # Z: emptied, not removed


def test_no_original_value_reaches_a_log_or_stderr(seeded, caplog, capsys, recwarn):
    path, seed = seeded
    ds = pydicom.dcmread(path)
    # a value pydicom warns about (an over-long, invalid UID two sequences deep)
    bad_uid = "1.2.826.0.1.3680043.9.999.77777.MKRBADUID"
    with pytest.warns(UserWarning, match="MKRBADUID"):  # pydicom quotes the value
        ds[OUTER_SQ].value[0][0x00082218].value[0].SOPInstanceUID = bad_uid
    bad = path.with_name("bad.dcm")
    ds.save_as(bad, enforce_file_format=True)
    # reading it back parses the nested value lazily: pydicom warns and logs it again
    with pytest.warns(UserWarning, match="MKRBADUID"):
        list(pydicom.dcmread(bad).iterall())
    recwarn.clear()
    caplog.clear()
    capsys.readouterr()
    with caplog.at_level(logging.DEBUG):
        image = read_dicom(bad, deidentifier=Deidentifier(SECRET, options=()))
    assert scan(image.header, seed) == []
    out, err = capsys.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    warned = "\n".join(str(w.message) for w in recwarn)
    for text in (out, err, logged, warned):
        assert not has_marker(text)
        assert "1.2.826.0.1.3680043.9.999" not in text


def test_vault_ingest_and_export_leave_only_what_the_options_keep(seeded, vault, tmp_path):
    path, seed = seeded
    report = vault.ingest(path, dataset="seeded", as_="olivia")
    assert len(report.refs) == 1 and not report.failures
    (info,) = vault.ls(as_="olivia")
    assert not has_marker(str(info.name)) and not has_marker(str(info.patient))
    assert not has_marker(str(info.manifest))
    out = vault.export_dicom(report.refs[0].id, tmp_path / "out.dcm", as_="olivia")
    for _, text in scan(pydicom.dcmread(out), seed):
        assert profile_action(seed.markers[text], DEFAULT_OPTIONS) in ("K", "C")
    # the sealed pseudonym map holds the original patient id and name
    ds = seed.dataset
    assert vault.pseudonyms(as_="olivia").keys() == {ds.PatientID, str(ds.PatientName)}


def test_a_pseudonym_that_happens_to_spell_mkr_is_not_a_marker():
    assert not has_marker("ANON^GBMKRXGYPO")
    assert has_marker("MKR0001") and has_marker("x^MKRGIVEN0001") and has_marker(b"MKR CREATOR")
