"""put/get round trips, manifests, listing and DICOM export through the Vault API."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pydicom
import pytest

from conftest import make_image
from medseal.crypto import Algorithm
from medseal.vault import Vault


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_put_get_is_bit_exact(vault, image, algorithm):
    ref = vault.put(image, dataset="chest", as_="olivia", name="a", label=1, algorithm=algorithm)
    back = vault.get(ref.id, as_="olivia")
    assert back.pixels.dtype == image.pixels.dtype
    assert np.array_equal(back.pixels, image.pixels)
    info = vault.show(ref.id, as_="olivia")
    assert info.algorithm == Algorithm(algorithm).value
    assert info.label == 1 and info.dataset == "chest"
    assert info.manifest["lossless"] is True
    assert info.manifest["shape"] == list(image.pixels.shape)


def test_sealed_blob_is_not_plaintext(vault, image):
    ref = vault.put(image, dataset="chest", as_="olivia")
    sealed = vault.get_encrypted(ref.id, as_="olivia")
    assert image.pixels.tobytes()[:64] not in sealed
    assert sealed[:5] == b"MSEAL"


def test_ls_filters_by_dataset(vault):
    for i in range(3):
        vault.put(make_image(i), dataset="chest", as_="olivia")
    vault.put(make_image(9), dataset="brain", as_="olivia")
    assert len(vault.ls(as_="olivia")) == 4
    assert {i.dataset for i in vault.ls(as_="olivia", dataset="brain")} == {"brain"}


def test_reopen_with_file_keyring(tmp_path, image):
    from medseal.crypto import KeyRing

    ring = KeyRing.create(tmp_path / "ring.json", "correct horse", scrypt_n=2**10)
    v = Vault.init(tmp_path / "v", keyring=ring, owner="olivia")
    ref = v.put(image, dataset="chest", as_="olivia")
    v.close()
    again = Vault.open(
        tmp_path / "v", keyring=KeyRing.open(tmp_path / "ring.json", "correct horse")
    )
    assert np.array_equal(again.get(ref.id, as_="olivia").pixels, image.pixels)
    again.close()


def test_export_dicom_is_standard_j2k(vault, image, tmp_path):
    ref = vault.put(image, dataset="chest", as_="olivia")
    out = vault.export_dicom(ref.id, tmp_path / "x.dcm", as_="olivia")
    ds = pydicom.dcmread(out)
    # HTJ2K lossless: the default codec, exported without re-compression
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.201"
    assert np.array_equal(ds.pixel_array, image.pixels)


def test_storage_overhead_is_a_fixed_header(vault):
    sizes = []
    for shape in [(32, 32), (256, 256)]:
        ref = vault.put(make_image(1, shape), dataset="chest", as_="olivia")
        info = vault.show(ref.id, as_="olivia")
        sizes.append(info.blob_size - info.payload_size)
    assert sizes[0] == sizes[1]  # independent of image size
    assert 0 < sizes[0] < 128


def test_ingest_dicom_folder_deidentifies_and_keeps_pseudonyms(vault, shared_data, tmp_path):
    src = shared_data / "covid19-ny-sbu-ct-followup" / "A002304"
    report = vault.ingest(src, dataset="covid", as_="olivia")
    assert len(report.refs) == 6 and not report.failures
    infos = vault.ls(as_="olivia", dataset="covid")
    assert all(i.manifest["deid"] is not None for i in infos)
    assert all(
        "PatientID" in (i.manifest["deid"]["changed"] + i.manifest["deid"]["removed"])
        for i in infos
    )
    # one patient -> one pseudonym, and it is not the original id
    assert len({i.patient for i in infos}) == 1
    assert "A002304" not in {i.patient for i in infos}
    mapping = vault.pseudonyms(as_="olivia")
    assert "A002304" in mapping
    # the catalogue never holds the original identifier in clear
    db = (vault.root / "catalog.sqlite").read_bytes()
    assert b"A002304" not in db
    img = vault.get(infos[0].id, as_="olivia")
    assert img.header is not None and str(img.header.PatientID) != "A002304"


def test_ingest_skips_bad_files_and_keeps_good_ones(vault, tmp_path):
    from PIL import Image as PILImage

    folder = tmp_path / "in"
    folder.mkdir()
    PILImage.fromarray(np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)).save(folder / "good.png")
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (folder / "bad.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x01\x02")
    report = vault.ingest(folder, dataset="mixed", as_="olivia")
    assert len(report.refs) == 1
    # a PNG is named by its keyed pseudonym even when it fails (its path never leaves)
    names = sorted(name for name, _ in report.failures)
    assert names[0] == "bad.dcm" and re.fullmatch(r"img-[a-z2-7]{12}", names[1])
    assert vault.verify(as_="olivia", deep=True).ok


def test_blob_hash_recorded(vault, image):
    ref = vault.put(image, dataset="chest", as_="olivia")
    blob = vault.get_encrypted(ref.id, as_="olivia")
    with vault.db.connect() as conn:
        row = conn.execute("SELECT blob_sha256 FROM objects WHERE id = :i", {"i": ref.id}).one()
    assert row.blob_sha256 == hashlib.sha256(blob).hexdigest()
