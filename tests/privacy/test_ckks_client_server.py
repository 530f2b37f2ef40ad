"""CKKS client and server apart: round trips, the server cannot decrypt, every bad input refused.

Needs TenSEAL (the ``he`` extra). Skipped with a reason when it is absent,
except under CI, where the ``test`` extra installs it and a skip would hide a
failure.
"""

from __future__ import annotations

import os
import pickle
import tempfile

import numpy as np
import pytest

from conftest import need_tenseal
from medseal.privacy.ckks import (
    AffineLayer,
    CKKSContextMismatchError,
    CKKSFormatError,
    CKKSKey,
    CKKSModelMismatchError,
    CKKSPlanError,
    CKKSSecretError,
    CKKSServer,
    EncryptedBatch,
    HEProgram,
    SquareLayer,
    _format,
)

need_tenseal(module_level=True)


def _program(seed: int = 0, *, squares: int = 1, profile: str = "128") -> HEProgram:
    rng = np.random.default_rng(seed)
    layers: list = []
    width = 12
    for _ in range(squares):
        layers += [
            AffineLayer.from_dense(
                rng.normal(size=(5, width)) * 0.3,
                rng.normal(size=5),
                scale_bits=36 if profile == "128" else 40,
            ),
            SquareLayer(5),
        ]
        width = 5
    sb = 36 if profile == "128" else 40
    layers.append(AffineLayer.from_dense(rng.normal(size=(2, width)), [0.5, -0.5], scale_bits=sb))
    return HEProgram(layers, profile=profile, input_shape=(3, 4))


@pytest.fixture(scope="module")
def key() -> CKKSKey:
    return CKKSKey.generate("128")


@pytest.fixture(scope="module")
def prog() -> HEProgram:
    return _program()


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(5).random((9, 3, 4))


def _secret_key_bytes(key: CKKSKey) -> bytes:
    """SEAL's own serialization of the secret key (what a leak would look like)."""
    state = key._state  # the test inspects the backend state on purpose
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sk")
        state.ctx.secret_key().data.save(path)
        with open(path, "rb") as fh:
            return fh.read()


def test_encrypted_prediction_agrees_with_the_simulation_through_bytes(key, prog, x):
    ctx_bytes = key.public_context(prog).to_bytes()
    server = CKKSServer(ctx_bytes)
    batch = EncryptedBatch.from_bytes(key.encrypt(x, program=prog).to_bytes())
    out = EncryptedBatch.from_bytes(server.predict(prog, batch).to_bytes())
    y = key.decrypt(out, program=prog)
    assert y.shape == (9, 2)
    np.testing.assert_allclose(y, prog.simulate(x), atol=1e-3)
    assert server.last_stats.compute_s > 0


def test_inputs_round_trip_through_encryption(key, x):
    batch = EncryptedBatch.from_bytes(key.encrypt(x).to_bytes())
    np.testing.assert_allclose(key.decrypt(batch), x.reshape(9, -1), atol=1e-6)


def test_a_deeper_program_relinearizes_with_keys_the_context_carries_only_then():
    deep_key = CKKSKey.generate("128-deep")
    prog = _program(1, squares=2, profile="128-deep")
    shallow = _program(2, squares=1, profile="128-deep")
    assert deep_key.public_context(prog).relin_keys
    assert not deep_key.public_context(shallow).relin_keys
    xs = np.random.default_rng(0).random((4, 3, 4))
    server = CKKSServer(deep_key.public_context(prog).to_bytes())
    y = deep_key.decrypt(server.predict(prog, deep_key.encrypt(xs, program=prog)))
    np.testing.assert_allclose(y, prog.simulate(xs), atol=1e-3)
    bare = CKKSServer(deep_key.public_context(shallow).to_bytes())
    with pytest.raises(CKKSPlanError, match="relinearization keys"):
        bare.predict(prog, deep_key.encrypt(xs, program=prog))


def test_the_server_cannot_decrypt(key, prog, x):
    server = CKKSServer(key.public_context(prog).to_bytes())
    assert server.can_decrypt is False
    assert not hasattr(server, "decrypt")
    out = server.predict(prog, key.encrypt(x, program=prog))
    cts = server._backend.from_bytes(server._state, out.ciphertexts)
    with pytest.raises(CKKSSecretError, match="only the data owner can decrypt"):
        server._backend.decrypt(server._state, cts[0])
    with pytest.raises(CKKSSecretError):
        server._backend.export_secret(server._state)


def test_no_secret_key_bytes_are_in_anything_the_server_receives(key, prog, x):
    sk = _secret_key_bytes(key)
    probes = [sk[i : i + 32] for i in range(64, len(sk) - 32, len(sk) // 8)]
    # The probes do find the secret where it is: in the owner's explicit export.
    exported = key.to_bytes()
    assert all(p in exported for p in probes)
    received = (
        key.public_context(prog).to_bytes()
        + key.public_context().to_bytes()  # with relinearization keys
        + key.encrypt(x, program=prog).to_bytes()
        + prog.to_bytes()
    )
    assert not any(p in received for p in probes)


def test_a_batch_under_another_key_is_refused(key, prog, x):
    other = CKKSKey.generate("128")
    server = CKKSServer(other.public_context(prog).to_bytes())
    with pytest.raises(CKKSContextMismatchError, match="encrypted under CKKS key"):
        server.predict(prog, key.encrypt(x, program=prog))
    with pytest.raises(CKKSContextMismatchError):
        other.decrypt(key.encrypt(x))


def test_a_batch_encrypted_for_another_model_is_refused(key, prog, x):
    other = _program(seed=9)
    server = CKKSServer(key.public_context(prog).to_bytes())
    with pytest.raises(CKKSModelMismatchError, match="belongs to compiled model"):
        server.predict(other, key.encrypt(x, program=prog))
    out = server.predict(prog, key.encrypt(x, program=prog))
    with pytest.raises(CKKSModelMismatchError):
        key.decrypt(out, program=other)
    with pytest.raises(CKKSFormatError, match="expected an encrypted input batch"):
        server.predict(prog, out)


@pytest.mark.parametrize("cut", [1, 100, 50_000])
def test_a_truncated_batch_is_refused(key, prog, x, cut):
    blob = key.encrypt(x, program=prog).to_bytes()
    with pytest.raises(CKKSFormatError, match="truncated or corrupt"):
        EncryptedBatch.from_bytes(blob[:-cut])


def test_a_tampered_batch_is_refused(key, prog, x):
    blob = bytearray(key.encrypt(x, program=prog).to_bytes())
    blob[len(blob) // 3] ^= 0x40
    with pytest.raises(CKKSFormatError, match="digest mismatch"):
        EncryptedBatch.from_bytes(bytes(blob))


def test_a_ciphertext_from_other_parameters_spliced_in_is_refused_on_load(key, prog, x):
    # Digest recomputed (a deliberate splice): SEAL's own parameter check still refuses it.
    deep = CKKSKey.generate("128-deep")
    good = key.encrypt(x, program=prog)
    alien = deep.encrypt(x).ciphertexts[0]
    forged = EncryptedBatch(
        key_id=good.key_id,
        profile=good.profile,
        n_images=good.n_images,
        levels=good.levels,
        stage="input",
        program_id=good.program_id,
        ciphertexts=(alien,) + good.ciphertexts[1:],
    )
    server = CKKSServer(key.public_context(prog).to_bytes())
    with pytest.raises(CKKSFormatError, match="does not load under this context"):
        server.predict(prog, EncryptedBatch.from_bytes(forged.to_bytes()))


def test_a_wrong_kind_or_version_of_bytes_is_refused(key, prog):
    ctx = key.public_context(prog).to_bytes()
    with pytest.raises(CKKSFormatError, match="expected a serialized CKKS encrypted batch"):
        EncryptedBatch.from_bytes(ctx)
    body = bytearray(ctx[:-32])
    body[7] = 2
    with pytest.raises(CKKSFormatError, match="format version 2"):
        CKKSServer(bytes(body) + _format.hashlib.sha256(bytes(body)).digest())


def test_the_secret_key_round_trips_and_refuses_pickling(key, x):
    again = CKKSKey.from_bytes(key.to_bytes())
    assert again.key_id == key.key_id
    np.testing.assert_allclose(again.decrypt(key.encrypt(x)), x.reshape(9, -1), atol=1e-6)
    with pytest.raises(CKKSSecretError, match="not picklable"):
        pickle.dumps(key)
    assert "CKKSKey(key_id=" in repr(key) and key.key_id not in repr(key)


def test_too_many_images_or_the_wrong_width_are_refused_before_encryption(key, prog):
    with pytest.raises(CKKSPlanError, match="exceed the 4096 slots"):
        key.encrypt(np.zeros((4097, 12)))
    with pytest.raises(CKKSPlanError, match="the program takes 12"):
        key.encrypt(np.zeros((2, 10)), program=prog)


def test_the_secret_key_is_sealed_under_the_key_ring_and_survives_rotation(key, x):
    from medseal.crypto import KeyRing
    from medseal.errors import DecryptionError

    ring = KeyRing.in_memory()
    sealed = key.seal(ring)
    assert not any(p in sealed for p in [_secret_key_bytes(key)[100:132]])
    opened = CKKSKey.unseal(sealed, ring)
    np.testing.assert_allclose(opened.decrypt(key.encrypt(x)), x.reshape(9, -1), atol=1e-6)
    old_kek = ring.current_kek_id
    ring.rotate()
    moved = CKKSKey.rewrap_sealed(sealed, ring)
    assert old_kek not in moved.decode() and ring.current_kek_id in moved.decode()
    assert CKKSKey.unseal(moved, ring).key_id == key.key_id
    with pytest.raises(DecryptionError):
        CKKSKey.unseal(sealed, KeyRing.in_memory())
    with pytest.raises(CKKSFormatError, match="not a sealed CKKS secret key"):
        CKKSKey.unseal(b"{}", ring)


@pytest.mark.parametrize("squares", [1, 2])
def test_two_worker_evaluation_equals_the_single_process_one(squares):
    profile = "128" if squares == 1 else "128-deep"
    k = CKKSKey.generate(profile)
    prog = _program(3, squares=squares, profile=profile)
    xs = np.random.default_rng(3).random((6, 3, 4))
    ctx = k.public_context(prog).to_bytes()
    batch = k.encrypt(xs, program=prog)
    one = k.decrypt(CKKSServer(ctx).predict(prog, batch))
    server = CKKSServer(ctx, workers=2)
    two = k.decrypt(server.predict(prog, batch))
    np.testing.assert_allclose(two, one, atol=1e-4)
    np.testing.assert_allclose(two, prog.simulate(xs), atol=1e-3)
    assert len(server.last_stats.per_layer_s) == prog.depth - 2  # three layers fused
    with pytest.raises(CKKSPlanError, match="workers"):
        CKKSServer(ctx, workers=0)
