"""The fast AES-GCM path (``AESGCM.encrypt_into``/``decrypt_into``) and the header helpers
write exactly the bytes of the ``Cipher(AES, GCM)`` path and the format's definition."""

from __future__ import annotations

import importlib
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medseal.crypto import KeyRing, seal, seal_into, sealed_size, unseal, unseal_into
from medseal.crypto import _format as fmt
from medseal.errors import DecryptionError, InputError

seal_module = importlib.import_module("medseal.crypto.seal")  # the module, not the function
RING = KeyRing.in_memory(seed=b"test-crypto-seal-paths")
PATHS = [pytest.param(True, id="aead-into"), pytest.param(False, id="cipher-context")]


def _container(aead_into: bool, monkeypatch: pytest.MonkeyPatch, plain: bytes) -> bytes:
    if aead_into and not hasattr(seal_module.AESGCM, "encrypt_into"):
        pytest.skip("this cryptography has no AESGCM.encrypt_into")
    monkeypatch.setattr(seal_module, "_AEAD_INTO", aead_into)
    return seal_module._seal_with_key_for_test(
        plain, b"k" * 32, b"n" * 12, "ab" * 12, b"aad", "aes-256-gcm"
    )


@pytest.mark.parametrize("size", [0, 1, 17, 65536])
def test_both_gcm_paths_write_the_same_container(monkeypatch, size):
    plain = os.urandom(size)
    fast = _container(True, monkeypatch, plain)
    slow = _container(False, monkeypatch, plain)
    assert fast == slow
    assert len(fast) == sealed_size(size)


@pytest.mark.parametrize("aead_into", PATHS)
def test_each_path_opens_what_the_other_sealed_and_wipes_on_tampering(monkeypatch, aead_into):
    if aead_into and not hasattr(seal_module.AESGCM, "encrypt_into"):
        pytest.skip("this cryptography has no AESGCM.encrypt_into")
    monkeypatch.setattr(seal_module, "_AEAD_INTO", not aead_into)
    out = bytearray(sealed_size(5000))
    n, wk = seal_into(b"\x05" * 5000, out, keyring=RING, associated_data=b"a")
    monkeypatch.setattr(seal_module, "_AEAD_INTO", aead_into)
    plain = bytearray(5000 + 16)
    assert unseal_into(out[:n], wk, plain, keyring=RING, associated_data=b"a") == 5000
    assert bytes(plain[:5000]) == b"\x05" * 5000
    assert unseal(bytes(out[:n]), wk, keyring=RING, associated_data=b"a") == b"\x05" * 5000
    for where in (0, 40, n // 2, n - 1):  # header, nonce, ciphertext, tag
        bad = bytearray(out[:n])
        bad[where] ^= 0x40
        plain[:] = b"\x07" * len(plain)
        with pytest.raises(DecryptionError):
            unseal_into(bad, wk, plain, keyring=RING, associated_data=b"a")
        # untouched (refused before decrypting) or wiped: no unauthenticated plaintext left
        assert set(plain[: 5000 + 16]) <= {0x00, 0x07}
    with pytest.raises(DecryptionError):
        unseal_into(out[:n], wk, plain, keyring=RING, associated_data=b"other")


def test_seal_into_draws_a_fresh_key_and_nonce_every_call():
    out = bytearray(sealed_size(64))
    seen = set()
    for _ in range(20):
        n, wk = seal_into(bytes(64), out, keyring=RING)
        header = fmt.parse_header(out[:n])
        seen.add((wk.key_id, bytes(wk.wrapped), header.nonce))
    assert len({s[0] for s in seen}) == len({s[1] for s in seen}) == len({s[2] for s in seen}) == 20


def _reference_valid(key_id: object) -> bool:
    """The key-id rule of docs/format.md: 1..255 lowercase ASCII hex characters."""
    raw = key_id.encode("ascii", "replace") if isinstance(key_id, str) else b""
    return 0 < len(raw) <= 255 and all(c in b"0123456789abcdef" for c in raw)


@given(st.one_of(st.text(max_size=300), st.text("0123456789abcdef", min_size=250, max_size=260)))
def test_key_id_rule_matches_its_definition(key_id):
    assert fmt.valid_key_id(key_id) == _reference_valid(key_id)


@pytest.mark.parametrize("key_id", ["", "AB", "ab\n", "é", "a" * 256, "0x1f"])
def test_bad_key_ids_are_refused_by_the_header_and_the_parser(key_id):
    assert not fmt.valid_key_id(key_id)
    with pytest.raises(InputError):
        fmt.build_header(fmt.Algorithm.AES_256_GCM, key_id, b"n" * 12)
    raw = key_id.encode("utf-8")
    if 0 < len(raw) <= 255:  # a header carrying these bytes as its key id does not parse
        forged = b"MSEAL" + bytes((1, 1, len(raw))) + raw + bytes((12,)) + b"n" * 12 + bytes(16)
        with pytest.raises(DecryptionError):
            fmt.parse_header(forged)


def test_header_layout_is_the_documented_one():
    header = fmt.build_header(fmt.Algorithm.AES_256_GCM, "0a" * 12, b"N" * 12)
    assert header == b"MSEAL\x01\x01\x18" + b"0a" * 12 + b"\x0c" + b"N" * 12
    parsed = fmt.parse_header(header + bytes(16))
    assert (parsed.key_id, parsed.nonce, parsed.raw) == ("0a" * 12, b"N" * 12, header)
    blob = seal(b"x", keyring=RING)
    assert fmt.parse_header(blob.data).key_id == blob.wrapped_key.key_id
