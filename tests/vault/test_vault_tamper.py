"""Tampered, missing or foreign data never yields plaintext; errors say what, never leak."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_image
from medseal.crypto import KeyRing
from medseal.errors import ConfigError, DecryptionError, IntegrityError, NotFoundError
from medseal.vault import Vault


def _blob_path(vault, object_id):
    return vault.root / "blobs" / "objects" / object_id[:2] / object_id


def test_flipped_byte_in_blob_is_caught_by_hash(vault, image):
    ref = vault.put(image, dataset="chest", as_="olivia")
    p = _blob_path(vault, ref.id)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        vault.get(ref.id, as_="olivia")
    assert not vault.verify(as_="olivia").ok


def test_tamper_with_matching_hash_is_caught_by_tag(vault, image):
    """Even an attacker who also rewrites the catalogue hash cannot get past the AEAD tag."""
    import hashlib

    ref = vault.put(image, dataset="chest", as_="olivia")
    p = _blob_path(vault, ref.id)
    data = bytearray(p.read_bytes())
    data[-20] ^= 0x80
    p.write_bytes(bytes(data))
    with vault.db.begin() as conn:
        conn.execute(
            "UPDATE objects SET blob_sha256 = :h WHERE id = :i",
            {"h": hashlib.sha256(bytes(data)).hexdigest(), "i": ref.id},
        )
    # the row MAC catches the rewritten hash first; the AEAD tag would catch it next
    with pytest.raises((IntegrityError, DecryptionError)):
        vault.get(ref.id, as_="olivia")
    report = vault.verify(as_="olivia", deep=True)
    assert not report.ok


def test_manifest_swap_is_caught(vault):
    """The manifest hash is bound into the ciphertext: swapping manifests breaks decryption."""
    import hashlib

    a = vault.put(make_image(1), dataset="chest", as_="olivia", label=0)
    vault.put(make_image(2), dataset="chest", as_="olivia", label=1)
    with vault.db.begin() as conn:
        row = conn.execute("SELECT manifest FROM objects WHERE id = :i", {"i": a.id}).one()
        forged = row.manifest.replace('"bits_stored":12', '"bits_stored":16')
        conn.execute(
            "UPDATE objects SET manifest = :m, manifest_sha256 = :h WHERE id = :i",
            {"m": forged, "h": hashlib.sha256(forged.encode()).hexdigest(), "i": a.id},
        )
    # refused by the row MAC before decryption; the hash in the AEAD data would refuse it too
    with pytest.raises((IntegrityError, DecryptionError)):
        vault.get(a.id, as_="olivia")


def test_missing_blob(vault, image):
    ref = vault.put(image, dataset="chest", as_="olivia")
    _blob_path(vault, ref.id).unlink()
    with pytest.raises(NotFoundError):
        vault.get(ref.id, as_="olivia")
    assert any("missing" in p for p in vault.verify(as_="olivia").problems)


def test_unknown_object(vault):
    with pytest.raises(NotFoundError):
        vault.get("f" * 32, as_="olivia")


def test_wrong_keyring_refused(tmp_path, vault, image):
    vault.put(image, dataset="chest", as_="olivia")
    with pytest.raises(ConfigError, match="another key ring"):
        Vault.open(vault.root, keyring=KeyRing.in_memory())


def test_open_missing_vault(tmp_path, keyring):
    with pytest.raises(ConfigError, match="no vault"):
        Vault.open(tmp_path / "nope", keyring=keyring)


def test_init_twice_refused(vault, keyring):
    with pytest.raises(ConfigError, match="already exists"):
        Vault.init(vault.root, keyring=keyring, owner="olivia")


def test_error_messages_and_audit_hold_no_phi_or_pixels(vault, shared_data, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    src = shared_data / "dicom-samples" / "pydicom-test_files" / "CT_small.dcm"
    vault.ingest(src, dataset="ct", as_="olivia")
    ref = vault.ls(as_="olivia")[0]
    messages = []
    for who in ("ana", "eve"):
        try:
            vault.get(ref.id, as_=who)
        except Exception as exc:  # noqa: BLE001
            messages.append(str(exc))
    entries = vault.audit_log(as_="olivia")
    text = " ".join(messages) + " ".join(str(e.as_dict()) for e in entries) + caplog.text
    for phi in ("CompressedSamples", "1CT1", "JFK IMAGING"):
        assert phi not in text
    db = (vault.root / "catalog.sqlite").read_bytes()
    for phi in (b"CompressedSamples", b"JFK IMAGING"):
        assert phi not in db


def test_rotation_rewraps_keys_not_blobs(tmp_path):
    ring = KeyRing.create(tmp_path / "ring.json", "pw-rotation", scrypt_n=2**10)
    vault = Vault.init(tmp_path / "v", keyring=ring, owner="olivia")
    refs = [vault.put(make_image(i), dataset="chest", as_="olivia") for i in range(3)]
    before = {r.id: _blob_path(vault, r.id).read_bytes() for r in refs}
    old_kek = ring.current_kek_id
    report = vault.rotate_keys(as_="olivia")
    assert report.rewrapped == 3 and report.new_kek_id != old_kek
    assert {r.id: _blob_path(vault, r.id).read_bytes() for r in refs} == before
    with vault.db.connect() as conn:
        assert {r.kek_id for r in conn.execute("SELECT kek_id FROM data_keys")} == {
            report.new_kek_id
        }
    vault.close()
    reopened = Vault.open(
        tmp_path / "v", keyring=KeyRing.open(tmp_path / "ring.json", "pw-rotation")
    )
    for i, r in enumerate(refs):
        assert np.array_equal(reopened.get(r.id, as_="olivia").pixels, make_image(i).pixels)
    new = reopened.put(make_image(7), dataset="chest", as_="olivia")
    assert reopened.get(new.id, as_="olivia").pixels.shape == make_image(7).pixels.shape
    reopened.close()
