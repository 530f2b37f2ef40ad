"""MORE keys live sealed under the key ring: never written in clear, re-wrapped on rotation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medseal.cli import main
from medseal.crypto import KeyRing
from medseal.errors import DecryptionError
from medseal.privacy.more import MoreFormatError, MoreKey, is_clear_key


def _secret_bytes(key: MoreKey) -> bytes:
    """The key matrix S as stored by ``to_bytes`` (its last n*n float64 before the CRC)."""
    clear = key.to_bytes()
    return clear[-(key.n * key.n * 8) - 4 : -4]


def test_a_sealed_key_opens_with_its_ring_and_holds_no_key_bytes():
    ring = KeyRing.in_memory(seed=b"\x01" * 32)
    key = MoreKey.generate(n=3, seed=7)
    sealed = key.seal(ring)
    assert not is_clear_key(sealed) and is_clear_key(key.to_bytes())
    assert _secret_bytes(key) not in sealed and key.to_bytes() not in sealed
    doc = json.loads(sealed)
    assert doc["format"] == "medseal-more-sealed-key" and doc["n"] == 3
    back = MoreKey.unseal(sealed, ring)
    assert back.key_id == key.key_id
    x = np.array([0.25, 0.5, 2.0])
    assert np.allclose(back.decrypt(key.encrypt(x)), x)


def test_another_ring_or_an_altered_label_cannot_open_a_sealed_key():
    ring, other = KeyRing.in_memory(seed=b"\x01" * 32), KeyRing.in_memory(seed=b"\x02" * 32)
    sealed = MoreKey.generate(n=2, seed=1).seal(ring)
    with pytest.raises(DecryptionError):
        MoreKey.unseal(sealed, other)
    doc = json.loads(sealed)
    doc["key_id"] = "0" * len(doc["key_id"])
    with pytest.raises(DecryptionError):
        MoreKey.unseal(json.dumps(doc).encode(), ring)


def test_a_clear_key_is_refused_where_a_sealed_one_is_expected():
    ring = KeyRing.in_memory(seed=b"\x01" * 32)
    with pytest.raises(MoreFormatError, match="in clear"):
        MoreKey.unseal(MoreKey.generate(n=2, seed=1).to_bytes(), ring)
    with pytest.raises(MoreFormatError, match="not a sealed MORE key"):
        MoreKey.unseal(b'{"format": "something else"}', ring)


def test_rewrapping_moves_a_sealed_key_to_the_new_kek_and_it_still_opens():
    ring = KeyRing.in_memory(seed=b"\x01" * 32)
    key = MoreKey.generate(n=2, seed=3)
    sealed = key.seal(ring)
    old_kek = ring.current_kek_id
    new_kek = ring.rotate()
    moved = MoreKey.rewrap_sealed(sealed, ring)
    assert json.loads(sealed)["wrapped_key"]["kek_id"] == old_kek
    assert json.loads(moved)["wrapped_key"]["kek_id"] == new_kek
    assert json.loads(moved)["data"] == json.loads(sealed)["data"]  # ciphertext untouched
    assert MoreKey.unseal(moved, ring).key_id == key.key_id


@pytest.fixture
def owner(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDSEAL_PASSPHRASE", "more keys test passphrase")
    monkeypatch.setenv("MEDSEAL_KEYRING", str(tmp_path / "ring.json"))
    monkeypatch.delenv("MEDSEAL_VAULT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["keys", "init"]) == 0
    return tmp_path


def _ring(path):
    return KeyRing.open(path / "ring.json", "more keys test passphrase")


def test_keygen_writes_the_key_sealed_under_the_ring_with_mode_0600(owner):
    assert main(["more", "keygen", "-o", "more.key", "--seed", "4"]) == 0
    blob = (owner / "more.key").read_bytes()
    assert (owner / "more.key").stat().st_mode & 0o077 == 0
    assert not is_clear_key(blob)
    key = MoreKey.unseal(blob, _ring(owner))
    assert _secret_bytes(key) not in blob
    assert key.key_id == MoreKey.generate(n=2, seed=4).key_id


def test_a_clear_key_file_gets_one_line_naming_seal_key_and_seal_key_fixes_it(owner, capsys):
    clear = MoreKey.generate(n=2, seed=5)
    (owner / "old.key").write_bytes(clear.to_bytes())
    (owner / "x.more").write_bytes(clear.encrypt(np.array([0.5, 0.75])).to_bytes())
    capsys.readouterr()
    rc = main(["attack", "more", "--ciphertexts", "x.more", "--key", "old.key"])
    err = capsys.readouterr().err
    assert rc == 1 and "in clear" in err and "more seal-key" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["more", "seal-key", "old.key"]) == 0
    blob = (owner / "old.key").read_bytes()
    assert not is_clear_key(blob) and _secret_bytes(clear) not in blob
    assert MoreKey.unseal(blob, _ring(owner)).key_id == clear.key_id
    assert main(["more", "seal-key", "old.key"]) == 2  # already sealed: refused


def test_keys_rotate_rewraps_sealed_key_files_and_refuses_a_clear_one_first(owner, capsys):
    assert main(["more", "keygen", "-o", "more.key", "--seed", "6"]) == 0
    before = json.loads((owner / "more.key").read_bytes())
    assert main(["keys", "rotate", "--rewrap", "more.key"]) == 0
    ring = _ring(owner)
    after = json.loads((owner / "more.key").read_bytes())
    assert before["wrapped_key"]["kek_id"] != ring.current_kek_id
    assert after["wrapped_key"]["kek_id"] == ring.current_kek_id
    assert (owner / "more.key").stat().st_mode & 0o077 == 0
    assert MoreKey.unseal((owner / "more.key").read_bytes(), ring).key_id == before["key_id"]
    # a clear key is refused before the ring turns
    (owner / "old.key").write_bytes(MoreKey.generate(n=2, seed=8).to_bytes())
    capsys.readouterr()
    assert main(["keys", "rotate", "--rewrap", "old.key"]) == 2
    assert "in clear" in capsys.readouterr().err
    assert _ring(owner).current_kek_id == ring.current_kek_id
