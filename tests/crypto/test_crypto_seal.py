"""seal/unseal: round trips, binding, tampering, uniform errors, no secrets in messages."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medseal.crypto import (
    CONTAINER_OVERHEAD,
    Algorithm,
    KeyRing,
    SealedBlob,
    WrappedKey,
    container_header_size,
    seal,
    sealed_size,
    unseal,
)
from medseal.crypto._format import DECRYPTION_FAILED
from medseal.errors import DecryptionError, InputError

ALGS = list(Algorithm)
RING = KeyRing.in_memory(seed=b"test-crypto-seal")
AAD = b"object-42"
# one sealed sample per algorithm, built once so hypothesis examples stay cheap
SAMPLES = {
    alg: seal(b"some pixels \x00\x01\x02" * 3, keyring=RING, associated_data=AAD, algorithm=alg)
    for alg in ALGS
}


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000, 5 * 1024 * 1024])
def test_round_trip(alg, size):
    plaintext = os.urandom(size)
    blob = seal(plaintext, keyring=RING, associated_data=AAD, algorithm=alg)
    assert isinstance(blob, SealedBlob)
    assert blob.data[:5] == b"MSEAL"
    assert len(blob.data) == sealed_size(size, alg)
    if size >= 16:  # shorter random strings can occur in any container by chance
        assert plaintext not in blob.data
    assert unseal(blob.data, blob.wrapped_key, keyring=RING, associated_data=AAD) == plaintext


@pytest.mark.parametrize("alg", ["aes-256-gcm", "aes-256-cbc-hmac-sha256"])
def test_algorithm_accepts_plain_strings(alg):
    blob = seal(b"x", keyring=RING, algorithm=alg)
    assert blob.data[6] == (1 if alg == "aes-256-gcm" else 2)
    assert unseal(blob.data, blob.wrapped_key, keyring=RING) == b"x"


def test_unknown_algorithm_is_input_error():
    with pytest.raises(InputError, match="aes-256-gcm"):
        seal(b"x", keyring=RING, algorithm="rot13")


def test_wrong_types_are_refused():
    with pytest.raises(TypeError):
        seal("text", keyring=RING)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        seal(b"x", keyring=RING, associated_data="aad")  # type: ignore[arg-type]
    blob = SAMPLES[Algorithm.AES_256_GCM]
    with pytest.raises(DecryptionError):
        unseal("not bytes", blob.wrapped_key, keyring=RING)  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        unseal(blob.data, "not a key", keyring=RING, associated_data=AAD)  # type: ignore[arg-type]


def test_bytearray_and_memoryview_inputs():
    blob = seal(bytearray(b"abc"), keyring=RING, associated_data=memoryview(b"a"))
    assert (
        unseal(memoryview(blob.data), blob.wrapped_key, keyring=RING, associated_data=b"a")
        == b"abc"
    )


def test_fresh_key_and_nonce_every_call():
    a = seal(b"same", keyring=RING)
    b = seal(b"same", keyring=RING)
    assert a.wrapped_key.key_id != b.wrapped_key.key_id
    assert a.wrapped_key.wrapped != b.wrapped_key.wrapped
    assert a.data != b.data
    assert container_header_size(a.data) == container_header_size(b.data)
    assert a.data[: 9 + 24] != b.data[: 9 + 24]  # key ids differ in the header


@pytest.mark.parametrize("alg", ALGS)
def test_aad_is_bound(alg):
    blob = SAMPLES[alg]
    for other in (b"", b"object-43", AAD + b"\x00", AAD[:-1]):
        with pytest.raises(DecryptionError):
            unseal(blob.data, blob.wrapped_key, keyring=RING, associated_data=other)


@pytest.mark.parametrize("alg", ALGS)
def test_wrong_keyring_fails(alg):
    blob = SAMPLES[alg]
    other = KeyRing.in_memory(seed=b"another ring")
    with pytest.raises(DecryptionError, match="could not open"):
        unseal(blob.data, blob.wrapped_key, keyring=other, associated_data=AAD)
    # even a wrapped key claiming the other ring's KEK id does not open it
    forged = WrappedKey(blob.wrapped_key.key_id, other.current_kek_id, blob.wrapped_key.wrapped)
    with pytest.raises(DecryptionError):
        unseal(blob.data, forged, keyring=other, associated_data=AAD)


def test_swapped_wrapped_keys_fail():
    a, b = seal(b"a", keyring=RING), seal(b"b", keyring=RING)
    with pytest.raises(DecryptionError):
        unseal(a.data, b.wrapped_key, keyring=RING)  # key-id mismatch
    mixed = WrappedKey(a.wrapped_key.key_id, b.wrapped_key.kek_id, b.wrapped_key.wrapped)
    with pytest.raises(DecryptionError):
        unseal(a.data, mixed, keyring=RING)  # id matches, DEK does not


def test_cbc_dek_cannot_open_gcm_container_and_back():
    gcm, cbc = SAMPLES[Algorithm.AES_256_GCM], SAMPLES[Algorithm.AES_256_CBC_HMAC_SHA256]
    # header says one algorithm, the wrapped key holds a DEK of the other's size
    for blob, other in ((gcm, cbc), (cbc, gcm)):
        wk = WrappedKey(
            blob.wrapped_key.key_id, other.wrapped_key.kek_id, other.wrapped_key.wrapped
        )
        with pytest.raises(DecryptionError):
            unseal(blob.data, wk, keyring=RING, associated_data=AAD)


@pytest.mark.parametrize("alg", ALGS)
def test_every_single_byte_flip_fails(alg):
    blob = SAMPLES[alg]
    for pos in range(len(blob.data)):
        for mask in (0x01, 0x80, 0xFF):
            bad = bytearray(blob.data)
            bad[pos] ^= mask
            with pytest.raises(DecryptionError):
                unseal(bytes(bad), blob.wrapped_key, keyring=RING, associated_data=AAD)


@pytest.mark.parametrize("alg", ALGS)
def test_every_truncation_and_extension_fails(alg):
    blob = SAMPLES[alg]
    for n in range(len(blob.data)):
        with pytest.raises(DecryptionError):
            unseal(blob.data[:n], blob.wrapped_key, keyring=RING, associated_data=AAD)
    for extra in (b"\x00", b"\x00" * 16, os.urandom(33)):
        with pytest.raises(DecryptionError):
            unseal(blob.data + extra, blob.wrapped_key, keyring=RING, associated_data=AAD)


def test_other_version_fails():
    blob = SAMPLES[Algorithm.AES_256_GCM]
    for version in (0, 2, 255):
        bad = bytearray(blob.data)
        bad[5] = version
        with pytest.raises(DecryptionError):
            unseal(bytes(bad), blob.wrapped_key, keyring=RING, associated_data=AAD)


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(alg=st.sampled_from(ALGS), data=st.data())
def test_property_any_byte_change_fails(alg, data):
    blob = SAMPLES[alg]
    pos = data.draw(st.integers(0, len(blob.data) - 1), label="position")
    mask = data.draw(st.integers(1, 255), label="xor mask")
    bad = bytearray(blob.data)
    bad[pos] ^= mask
    with pytest.raises(DecryptionError) as info:
        unseal(bytes(bad), blob.wrapped_key, keyring=RING, associated_data=AAD)
    assert str(info.value) == DECRYPTION_FAILED


@settings(deadline=None, max_examples=200)
@given(junk=st.binary(max_size=400), alg=st.sampled_from(ALGS))
def test_property_random_bytes_never_unseal(junk, alg):
    wk = SAMPLES[alg].wrapped_key
    with pytest.raises(DecryptionError):
        unseal(junk, wk, keyring=RING)
    # random bytes behind a header that parses and names the right key
    header = SAMPLES[alg].data[: container_header_size(SAMPLES[alg].data)]
    with pytest.raises(DecryptionError):
        unseal(header + junk, wk, keyring=RING, associated_data=AAD)


def test_failures_share_one_message_and_hide_the_cause():
    blob = SAMPLES[Algorithm.AES_256_CBC_HMAC_SHA256]
    attempts = [
        lambda: unseal(b"", blob.wrapped_key, keyring=RING),
        lambda: unseal(
            b"XSEAL" + blob.data[5:], blob.wrapped_key, keyring=RING, associated_data=AAD
        ),
        lambda: unseal(blob.data, blob.wrapped_key, keyring=RING, associated_data=b"other"),
        lambda: unseal(
            blob.data, blob.wrapped_key, keyring=KeyRing.in_memory(), associated_data=AAD
        ),
        lambda: unseal(
            blob.data,
            WrappedKey(blob.wrapped_key.key_id, "ffffffffffffffff", blob.wrapped_key.wrapped),
            keyring=RING,
            associated_data=AAD,
        ),
    ]
    messages = set()
    for attempt in attempts:
        with pytest.raises(DecryptionError) as info:
            attempt()
        messages.add(str(info.value))
        assert info.value.__cause__ is None
        assert info.value.__context__ is None or info.value.__suppress_context__
    assert messages == {DECRYPTION_FAILED}


def test_no_key_bytes_in_errors_or_reprs():
    ring = KeyRing.in_memory(seed=b"leak check")
    dek, wk = ring.new_data_key(Algorithm.AES_256_GCM)
    blob = seal(b"secret pixels", keyring=ring, associated_data=AAD)
    secrets_ = [dek, wk.wrapped, blob.wrapped_key.wrapped, ring.unwrap(blob.wrapped_key)]
    texts = [repr(ring), str(ring), repr(wk), repr(blob), str(blob)]
    with pytest.raises(DecryptionError) as info:
        unseal(blob.data, blob.wrapped_key, keyring=ring, associated_data=b"other")
    texts += [str(info.value), repr(info.value)]
    for text in texts:
        for secret in secrets_:
            assert secret.hex() not in text
            assert secret.hex().upper() not in text
            assert repr(secret) not in text
            assert repr(secret)[2:-1][:16] not in text
        assert "secret pixels" not in text


def test_overhead_constants_match_real_containers():
    assert CONTAINER_OVERHEAD[Algorithm.AES_256_GCM] == 9 + 24 + 12 + 16 == 61
    assert CONTAINER_OVERHEAD[Algorithm.AES_256_CBC_HMAC_SHA256] == 9 + 24 + 16 + 32 == 81
    for n in (0, 100, 4096):
        gcm = seal(bytes(n), keyring=RING)
        assert len(gcm.data) - n == CONTAINER_OVERHEAD[Algorithm.AES_256_GCM]
        assert container_header_size(gcm.data) == 9 + 24 + 12
        cbc = seal(bytes(n), keyring=RING, algorithm=Algorithm.AES_256_CBC_HMAC_SHA256)
        pad = 16 - n % 16
        assert len(cbc.data) - n == CONTAINER_OVERHEAD[Algorithm.AES_256_CBC_HMAC_SHA256] + pad
        assert container_header_size(cbc.data) == 9 + 24 + 16


def test_container_header_size_refuses_garbage():
    with pytest.raises(DecryptionError):
        container_header_size(b"not a container")


def test_seal_takes_no_key_or_nonce():
    import inspect

    import medseal.crypto as crypto

    params = set(inspect.signature(seal).parameters)
    assert params == {"plaintext", "keyring", "associated_data", "algorithm"}
    assert set(crypto.__all__) >= {
        "Algorithm",
        "KeyRing",
        "WrappedKey",
        "SealedBlob",
        "seal",
        "unseal",
        "container_header_size",
        "CONTAINER_OVERHEAD",
    }
    for name in crypto.__all__:
        assert hasattr(crypto, name)


def _peak_bytes(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_unseal_reads_the_ciphertext_in_place_without_a_copy():
    from medseal.crypto import KeyRing, seal, unseal

    ring = KeyRing.in_memory()
    size = 8 << 20
    blob = seal(bytes(size), keyring=ring, associated_data=b"x")
    data = bytes(blob.data)
    plain, peak = _peak_bytes(lambda: unseal(data, blob.wrapped_key, keyring=ring, associated_data=b"x"))
    assert plain == bytes(size)
    assert peak < 1.25 * size  # the plaintext only; a copied ciphertext would double it
    view = memoryview(bytearray(data))
    assert unseal(view, blob.wrapped_key, keyring=ring, associated_data=b"x") == bytes(size)


def test_seal_reads_a_buffer_in_place_and_writes_one_output():
    import numpy as np

    from medseal.crypto import KeyRing, seal, unseal

    ring = KeyRing.in_memory()
    size = 8 << 20
    plain = bytearray(np.arange(size, dtype=np.uint8).tobytes())
    blob, peak = _peak_bytes(lambda: seal(plain, keyring=ring))
    assert peak < 1.25 * size  # the container only; a copied plaintext would double it
    assert unseal(blob.data, blob.wrapped_key, keyring=ring) == bytes(plain)
    arr = np.arange(1000, dtype=np.uint16)
    sealed = seal(memoryview(arr), keyring=ring)  # a typed buffer is read as its bytes
    assert unseal(sealed.data, sealed.wrapped_key, keyring=ring) == arr.tobytes()


def test_seal_into_and_unseal_into_reuse_buffers_and_match_the_one_shot_format():
    import pytest

    from medseal.crypto import KeyRing, seal, seal_into, sealed_size, unseal, unseal_into
    from medseal.errors import DecryptionError

    ring = KeyRing.in_memory()
    out = bytearray(sealed_size(4096) + 100)
    plain_buf = bytearray(4096 + 16)
    for i in range(3):
        plain = bytes([i]) * (4096 - i)
        n, wk = seal_into(plain, out, keyring=ring, associated_data=b"a")
        container = bytes(out[:n])
        assert unseal(container, wk, keyring=ring, associated_data=b"a") == plain
        m = unseal_into(memoryview(out)[:n], wk, plain_buf, keyring=ring, associated_data=b"a")
        assert bytes(plain_buf[:m]) == plain
    one_shot = seal(b"abc" * 100, keyring=ring)
    m = unseal_into(one_shot.data, one_shot.wrapped_key, plain_buf, keyring=ring)
    assert bytes(plain_buf[:m]) == b"abc" * 100
    tampered = bytearray(one_shot.data)
    tampered[-1] ^= 1
    plain_buf[:] = b"\x07" * len(plain_buf)
    with pytest.raises(DecryptionError):
        unseal_into(tampered, one_shot.wrapped_key, plain_buf, keyring=ring)
    assert not any(plain_buf[:300])  # nothing unauthenticated left behind
    with pytest.raises(ValueError):
        seal_into(b"x" * 100, bytearray(50), keyring=ring)
