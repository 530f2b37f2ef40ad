"""KeyRing: the key store file, passphrases, rotation, re-wrapping and derivation."""

from __future__ import annotations

import json
import os
import stat

import pytest

from medseal.crypto import Algorithm, KeyRing, WrappedKey, seal, unseal
from medseal.errors import ConfigError, DecryptionError, InputError, WrongPassphraseError

N = 2**10  # cheap scrypt for tests
PW = "correct horse battery staple"


@pytest.fixture
def ring_path(tmp_path):
    return tmp_path / "keys" / "ring.json"


@pytest.fixture
def ring(ring_path):
    return KeyRing.create(ring_path, PW, scrypt_n=N)


def test_create_writes_private_versioned_json(ring, ring_path):
    assert ring_path.exists()
    assert stat.S_IMODE(os.stat(ring_path).st_mode) == 0o600
    doc = json.loads(ring_path.read_text())
    assert doc["format"] == "medseal-keyring" and doc["version"] == 1
    assert doc["id"] == ring.id
    assert doc["kdf"]["name"] == "scrypt" and doc["kdf"]["n"] == N
    assert doc["current_kek"] == ring.current_kek_id
    assert [k["id"] for k in doc["keks"]] == list(ring.kek_ids)
    assert ring.path == ring_path
    # no leftover temp files from the atomic write
    assert sorted(p.name for p in ring_path.parent.iterdir()) == ["ring.json"]


def test_file_holds_no_raw_keys(ring, ring_path):
    text = ring_path.read_text()
    assert ring.derive("x").hex() not in text
    assert PW not in text


def test_reopen_with_passphrase_opens_old_objects(ring, ring_path):
    blob = seal(b"study", keyring=ring, associated_data=b"a")
    again = KeyRing.open(ring_path, PW)
    assert again.id == ring.id
    assert again.kek_ids == ring.kek_ids and again.current_kek_id == ring.current_kek_id
    assert unseal(blob.data, blob.wrapped_key, keyring=again, associated_data=b"a") == b"study"
    assert again.derive("audit/v1") == ring.derive("audit/v1")


def test_wrong_passphrase(ring, ring_path):
    with pytest.raises(WrongPassphraseError) as info:
        KeyRing.open(ring_path, "Correct horse battery staple")
    assert isinstance(info.value, DecryptionError)
    assert PW not in str(info.value) and "Correct" not in str(info.value)
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_passphrase_is_nfc_normalized(tmp_path):
    path = tmp_path / "r.json"
    KeyRing.create(path, "caf\u00e9", scrypt_n=N)
    assert KeyRing.open(path, "cafe\u0301").id  # same text, decomposed form


def test_missing_file_says_run_keys_init(tmp_path):
    with pytest.raises(ConfigError, match="medseal keys init"):
        KeyRing.open(tmp_path / "absent.json", PW)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b'{"format": "medseal-keyring"}',
        b'{"format": "other", "version": 1}',
    ],
)
def test_corrupt_file_is_config_error(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError):
        KeyRing.open(path, PW)


def test_hostile_scrypt_cost_is_refused(ring, ring_path):
    doc = json.loads(ring_path.read_text())
    doc["kdf"]["n"] = 2**30
    ring_path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError):
        KeyRing.open(ring_path, PW)


def test_edited_file_is_refused(ring, ring_path):
    other = ring.rotate()
    doc = json.loads(ring_path.read_text())
    first = doc["keks"][0]["id"]
    doc["current_kek"] = first  # roll the current KEK back
    assert other != first
    ring_path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="modified"):
        KeyRing.open(ring_path, PW)


def test_create_refuses_overwrite_and_empty_passphrase(ring, ring_path):
    with pytest.raises(ConfigError, match="already exists"):
        KeyRing.create(ring_path, PW, scrypt_n=N)
    assert KeyRing.open(ring_path, PW).id == ring.id  # untouched
    fresh = KeyRing.create(ring_path, "new", scrypt_n=N, overwrite=True)
    assert fresh.id != ring.id
    with pytest.raises(ConfigError, match="empty"):
        KeyRing.create(ring_path.parent / "e.json", "", scrypt_n=N)
    assert not (ring_path.parent / "e.json").exists()


@pytest.mark.parametrize("n", [0, 3, 2**9, 1000, 2**21])
def test_bad_scrypt_n(tmp_path, n):
    with pytest.raises(ConfigError):
        KeyRing.create(tmp_path / "r.json", PW, scrypt_n=n)


def test_rotation_keeps_old_objects_and_wraps_new_with_newest(ring, ring_path):
    old_kek = ring.current_kek_id
    old = seal(b"before", keyring=ring, algorithm=Algorithm.AES_256_CBC_HMAC_SHA256)
    assert old.wrapped_key.kek_id == old_kek
    new_kek = ring.rotate()
    assert new_kek != old_kek and ring.current_kek_id == new_kek
    assert ring.kek_ids == (old_kek, new_kek)
    new = seal(b"after", keyring=ring)
    assert new.wrapped_key.kek_id == new_kek
    assert unseal(old.data, old.wrapped_key, keyring=ring) == b"before"
    # persisted: a reopened ring knows both KEKs
    again = KeyRing.open(ring_path, PW)
    assert again.current_kek_id == new_kek and again.kek_ids == (old_kek, new_kek)
    assert unseal(old.data, old.wrapped_key, keyring=again) == b"before"
    assert unseal(new.data, new.wrapped_key, keyring=again) == b"after"


def test_rewrap_keeps_key_id_changes_kek_and_opens(ring):
    blob = seal(b"pixels", keyring=ring, associated_data=b"id")
    ring.rotate()
    fresh = ring.rewrap(blob.wrapped_key)
    assert fresh.key_id == blob.wrapped_key.key_id
    assert fresh.kek_id == ring.current_kek_id != blob.wrapped_key.kek_id
    assert fresh.wrapped != blob.wrapped_key.wrapped
    assert ring.unwrap(fresh) == ring.unwrap(blob.wrapped_key)
    assert unseal(blob.data, fresh, keyring=ring, associated_data=b"id") == b"pixels"


def test_unwrap_failures_are_decryption_errors(ring):
    _, wk = ring.new_data_key("aes-256-gcm")
    bad = [
        WrappedKey(wk.key_id, "0000000000000000", wk.wrapped),
        WrappedKey(wk.key_id, wk.kek_id, wk.wrapped[:-1]),
        WrappedKey(wk.key_id, wk.kek_id, bytes(len(wk.wrapped))),
        WrappedKey(wk.key_id, wk.kek_id, b""),
    ]
    for w in bad:
        with pytest.raises(DecryptionError):
            ring.unwrap(w)
        with pytest.raises(DecryptionError):
            ring.rewrap(w)


def test_new_data_key_sizes(ring):
    gcm, wg = ring.new_data_key(Algorithm.AES_256_GCM)
    cbc, wc = ring.new_data_key("aes-256-cbc-hmac-sha256")
    assert len(gcm) == 32 and len(wg.wrapped) == 40
    assert len(cbc) == 64 and len(wc.wrapped) == 72
    assert len(wg.key_id) == 24 and int(wg.key_id, 16) >= 0
    assert ring.unwrap(wg) == gcm and ring.unwrap(wc) == cbc


def test_change_passphrase(ring, ring_path):
    blob = seal(b"x", keyring=ring)
    key = ring.derive("p")
    ring.change_passphrase("a new passphrase")
    with pytest.raises(WrongPassphraseError):
        KeyRing.open(ring_path, PW)
    again = KeyRing.open(ring_path, "a new passphrase")
    assert again.derive("p") == key and again.kek_ids == ring.kek_ids
    assert unseal(blob.data, blob.wrapped_key, keyring=again) == b"x"
    with pytest.raises(ConfigError):
        ring.change_passphrase("")
    with pytest.raises(ConfigError):
        KeyRing.in_memory().change_passphrase("x")


def test_concurrent_rotation_is_detected(ring, ring_path):
    other = KeyRing.open(ring_path, PW)
    other.rotate()
    with pytest.raises(ConfigError, match="changed since"):
        ring.rotate()
    # the failed rotation left our in-memory ring as it was
    assert len(ring.kek_ids) == 1
    assert len(KeyRing.open(ring_path, PW).kek_ids) == 2


def test_derive_deterministic_separated_stable(ring):
    a = ring.derive("mask/chest")
    assert len(a) == 32 and ring.derive("mask/chest") == a
    assert ring.derive("mask/knee") != a
    assert ring.derive("mask/chest", 64)[:32] == a  # HKDF prefix property
    assert len(ring.derive("x", 16)) == 16
    ring.rotate()
    assert ring.derive("mask/chest") == a
    other = KeyRing.in_memory()
    assert other.derive("mask/chest") != a
    with pytest.raises(InputError):
        ring.derive("")
    with pytest.raises(InputError):
        ring.derive("x", 0)
    with pytest.raises(InputError):
        ring.derive("x", 255 * 32 + 1)


def test_in_memory_seed():
    a, b = KeyRing.in_memory(seed=b"s1"), KeyRing.in_memory(seed=b"s1")
    assert a.id == b.id and a.current_kek_id == b.current_kek_id
    assert a.derive("q") == b.derive("q")
    assert KeyRing.in_memory(seed=b"s2").derive("q") != a.derive("q")
    assert KeyRing.in_memory().id != KeyRing.in_memory().id
    assert a.path is None
    blob = seal(b"v", keyring=a)
    assert unseal(blob.data, blob.wrapped_key, keyring=b) == b"v"
    with pytest.raises(InputError):
        KeyRing.in_memory(seed=b"")
    kek = a.rotate()  # in memory: nothing persisted, still works
    assert a.current_kek_id == kek and len(a.kek_ids) == 2


def test_wrapped_key_json_round_trip_and_repr():
    ring = KeyRing.in_memory()
    _, wk = ring.new_data_key(Algorithm.AES_256_GCM)
    d = wk.to_json()
    assert json.loads(json.dumps(d)) == d
    assert WrappedKey.from_json(d) == wk
    assert wk.wrapped.hex() not in repr(wk) and "wrapped" not in repr(wk)
    for broken in ({}, {"key_id": 1, "kek_id": "a", "wrapped": ""}, {**d, "wrapped": "%%%"}):
        with pytest.raises(DecryptionError):
            WrappedKey.from_json(broken)


def test_ring_repr_shows_ids_only(ring):
    text = repr(ring)
    assert ring.id in text and ring.current_kek_id in text
    assert ring.derive("x").hex() not in text


def test_new_rings_use_scrypt_n_2_17_and_older_costs_still_open(tmp_path):
    strong = KeyRing.create(tmp_path / "new.json", PW)
    assert json.loads((tmp_path / "new.json").read_text())["kdf"]["n"] == 2**17
    assert KeyRing.open(tmp_path / "new.json", PW).id == strong.id
    old = KeyRing.create(tmp_path / "old.json", PW, scrypt_n=2**15)
    assert KeyRing.open(tmp_path / "old.json", PW).id == old.id


def test_refresh_picks_up_a_rotation_made_by_another_process(ring, ring_path):
    other = KeyRing.open(ring_path, PW)
    _, wk = ring.new_data_key("aes-256-gcm")
    new = other.rotate()
    assert new not in ring.kek_ids
    assert ring.refresh() is True and ring.current_kek_id == new
    assert ring.refresh() is False
    assert ring.rewrap(wk).kek_id == new
    ring.rotate()  # the refreshed ring may save again without clobbering the other's KEK
    assert new in KeyRing.open(ring_path, PW).kek_ids


def test_refresh_refuses_a_store_whose_passphrase_changed(ring, ring_path):
    other = KeyRing.open(ring_path, PW)
    other.change_passphrase("another passphrase")
    with pytest.raises(ConfigError, match="open it again"):
        ring.refresh()
