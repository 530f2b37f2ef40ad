"""Known-answer tests: our frozen container format, NIST AES-GCM, RFC 3394 key wrap."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from medseal.crypto import Algorithm, container_header_size
from medseal.crypto.seal import _seal_with_key_for_test, _unseal_with_key_for_test
from medseal.errors import DecryptionError

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "container_v1.json"
DOC = json.loads(VECTORS.read_text())
CASES = {c["algorithm"]: c for c in DOC["cases"]}
KEY_ID = DOC["key_id"]
AAD = bytes.fromhex(DOC["associated_data_hex"])
PLAINTEXT = bytes.fromhex(DOC["plaintext_hex"])


def _case(alg: str) -> tuple[bytes, bytes, bytes]:
    c = CASES[alg]
    return (
        bytes.fromhex(c["dek_hex"]),
        bytes.fromhex(c["nonce_hex"]),
        bytes.fromhex(c["container_hex"]),
    )


def test_vector_file_covers_both_algorithms():
    assert set(CASES) == {a.value for a in Algorithm}
    assert DOC["format_version"] == 1


@pytest.mark.parametrize("alg", [a.value for a in Algorithm])
def test_container_format_is_frozen(alg):
    dek, nonce, expected = _case(alg)
    got = _seal_with_key_for_test(PLAINTEXT, dek, nonce, KEY_ID, AAD, alg)
    assert got.hex() == expected.hex()
    assert len(got) == CASES[alg]["container_size"]
    assert _unseal_with_key_for_test(expected, dek, KEY_ID, AAD) == PLAINTEXT


@pytest.mark.parametrize("alg", [a.value for a in Algorithm])
def test_frozen_container_rejects_other_aad_and_key(alg):
    dek, _, blob = _case(alg)
    with pytest.raises(DecryptionError):
        _unseal_with_key_for_test(blob, dek, KEY_ID, AAD + b"x")
    with pytest.raises(DecryptionError):
        _unseal_with_key_for_test(blob, bytes(len(dek)), KEY_ID, AAD)


def _expected_header(code: int, nonce: bytes) -> bytes:
    kid = KEY_ID.encode("ascii")
    return b"MSEAL" + bytes([1, code, len(kid)]) + kid + bytes([len(nonce)]) + nonce


def test_gcm_vector_matches_docs_independently():
    """Re-derive the GCM container from docs/format.md using only AESGCM."""
    dek, nonce, blob = _case("aes-256-gcm")
    header = _expected_header(1, nonce)
    assert blob.startswith(header)
    assert container_header_size(blob) == len(header) == 9 + 24 + 12
    body = AESGCM(dek).encrypt(nonce, PLAINTEXT, header + AAD)
    assert blob == header + body
    assert len(blob) == len(header) + len(PLAINTEXT) + 16


def test_cbc_vector_matches_docs_independently():
    """Re-derive the CBC+HMAC container from docs/format.md with stdlib hmac."""
    dek, iv, blob = _case("aes-256-cbc-hmac-sha256")
    enc_key, mac_key = dek[:32], dek[32:]
    header = _expected_header(2, iv)
    assert blob.startswith(header)
    ciphertext, tag = blob[len(header) : -32], blob[-32:]
    a = header + AAD
    mac = hmac.new(mac_key, a + ciphertext + struct.pack("<Q", len(a)), hashlib.sha256).digest()
    assert hmac.compare_digest(mac, tag)
    dec = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
    unpad = padding.PKCS7(128).unpadder()
    padded = dec.update(ciphertext) + dec.finalize()
    assert unpad.update(padded) + unpad.finalize() == PLAINTEXT


# McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases 13, 14, 16 (AES-256)
NIST_GCM = [
    pytest.param("00" * 32, "00" * 12, "", "", "", "530f8afbc74536b9a963b4f1c4cb738b", id="tc13"),
    pytest.param(
        "00" * 32,
        "00" * 12,
        "00" * 16,
        "",
        "cea7403d4d606b6e074ec5d3baf39d18",
        "d0d1c8a799996bf0265b98b5d48ab919",
        id="tc14",
    ),
    pytest.param(
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
        id="tc16",
    ),
]


@pytest.mark.parametrize(("key", "iv", "pt", "aad", "ct", "tag"), NIST_GCM)
def test_nist_gcm_vectors_and_our_tag_layout(key, iv, pt, aad, ct, tag):
    # our GCM body is AESGCM's output verbatim: ciphertext || 16-byte tag
    out = AESGCM(bytes.fromhex(key)).encrypt(
        bytes.fromhex(iv), bytes.fromhex(pt), bytes.fromhex(aad)
    )
    assert out.hex() == ct + tag
    assert len(out) - len(bytes.fromhex(pt)) == 16


def test_rfc3394_section_4_6_key_wrap():
    kek = bytes.fromhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
    key = bytes.fromhex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
    expected = bytes.fromhex(
        "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"
    )
    assert aes_key_wrap(kek, key) == expected
    assert aes_key_unwrap(kek, expected) == key
