"""The single-image (low-latency) packing: taps packed by the owner, rotations on the server.

Needs TenSEAL (the ``he`` extra); skipped without it except under CI.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

from conftest import need_tenseal
from medseal.privacy.ckks import (
    AffineLayer,
    CKKSFormatError,
    CKKSKey,
    CKKSPlanError,
    CKKSPublicContext,
    CKKSServer,
    EncryptedBatch,
    HEProgram,
    Packing,
    SquareLayer,
    _format,
)

need_tenseal(module_level=True)


def _conv_program(hidden: bool = False) -> HEProgram:
    """A 2x2-stride-1 convolution (3 channels) on 5x5 inputs, square, dense (-> square, dense)."""
    rng = np.random.default_rng(3)
    kern = rng.normal(size=(3, 2, 2)) * 0.5
    w = np.zeros((3 * 16, 25))
    for c in range(3):
        for i in range(4):
            for j in range(4):
                for a in range(2):
                    for b in range(2):
                        w[c * 16 + i * 4 + j, (i + a) * 5 + (j + b)] = kern[c, a, b]
    sb = 40 if hidden else 36
    layers: list = [
        AffineLayer.from_dense(w, rng.normal(size=48) * 0.1, scale_bits=sb),
        SquareLayer(48),
        AffineLayer.from_dense(rng.normal(size=(2, 48)) * 0.2, [0.1, -0.2], scale_bits=sb),
    ]
    if hidden:
        layers += [
            SquareLayer(2),
            AffineLayer.from_dense(rng.normal(size=(1, 2)), [0.3], scale_bits=sb),
        ]
    return HEProgram(layers, profile="128-deep" if hidden else "128", input_shape=(5, 5))


@pytest.fixture(scope="module")
def key() -> CKKSKey:
    return CKKSKey.generate("128")


@pytest.fixture(scope="module")
def prog() -> HEProgram:
    return _conv_program()


def test_the_single_packing_gathers_each_units_taps_from_the_first_layer(prog):
    layout = prog.single_packing()
    assert layout.n_taps == 4 and layout.width == 48
    assert layout.steps == (1, 2, 4, 8, 16, 32)
    # 4096 slots hold 85 blocks of 48 units: all 4 taps go into one ciphertext,
    # folded by doubling (2 rotations)
    assert layout.blocks == 4 and layout.n_ciphertexts == 1
    assert layout.fold_doubling and layout.fold_steps == (48, 96)
    assert layout.pack(layout.gather(np.ones(25))).shape == (1, 4 * 48)
    x = np.random.default_rng(0).random(25)
    first = prog.layers[0]
    assert isinstance(first, AffineLayer)
    # sum_t weight_t * tap_t is the first layer, unit by unit
    np.testing.assert_allclose(
        (layout.taps_weight * layout.gather(x)).sum(axis=0) + layout.bias, first.apply(x[None])[0]
    )


def test_one_encrypted_image_agrees_with_the_simulation_through_bytes(key, prog):
    ctx = key.public_context(prog, packing="single")
    server = CKKSServer(ctx.to_bytes())
    xs = np.random.default_rng(1).random((3, 5, 5))
    for x in xs:
        sent = key.encrypt(x[None], program=prog, packing="single").to_bytes()
        batch = EncryptedBatch.from_bytes(sent)
        assert batch.packing == "single" and batch.n_features == 1 and batch.n_images == 1
        out = EncryptedBatch.from_bytes(server.predict(prog, batch).to_bytes())
        y = key.decrypt(out, program=prog)
        np.testing.assert_allclose(y, prog.simulate(x[None]), atol=1e-3)


def test_a_deeper_program_continues_on_slot_zero_after_the_rotations():
    deep = CKKSKey.generate("128-deep")
    prog = _conv_program(hidden=True)
    server = CKKSServer(deep.public_context(prog, packing=Packing.SINGLE).to_bytes())
    x = np.random.default_rng(2).random((1, 5, 5))
    out = server.predict(prog, deep.encrypt(x, program=prog, packing="single"))
    np.testing.assert_allclose(deep.decrypt(out, program=prog), prog.simulate(x), atol=1e-3)


def test_the_context_carries_galois_keys_for_the_plans_steps_only(key, prog):
    single = CKKSPublicContext.from_bytes(key.public_context(prog, packing="single").to_bytes())
    assert single.galois_steps == prog.single_packing().galois_steps and single.relin_keys
    assert single.galois
    plan = prog.plan("single")
    assert plan["galois_keys"] == list(single.galois_steps) and plan["input_ciphertexts"] == 1
    assert plan["rotations"] == 2 + 2 * 6
    throughput = key.public_context(prog)
    assert throughput.galois_steps == () and throughput.galois == b""
    assert prog.plan()["rotations"] == 0


def test_the_single_context_holds_no_secret_key_bytes(key, prog):
    state = key._state  # the test inspects the backend state on purpose
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sk")
        state.ctx.secret_key().data.save(path)
        with open(path, "rb") as fh:
            sk = fh.read()
    # the key's polynomial data, not SEAL's header
    probe = sk[len(sk) // 2 : len(sk) // 2 + 64]
    ctx_bytes = key.public_context(prog, packing="single").to_bytes()
    assert probe not in ctx_bytes
    assert not CKKSServer(ctx_bytes).can_decrypt


def test_a_server_without_galois_keys_refuses_a_single_image_batch(key, prog):
    server = CKKSServer(key.public_context(prog).to_bytes())
    batch = key.encrypt(np.zeros((1, 5, 5)), program=prog, packing="single")
    with pytest.raises(CKKSPlanError, match="Galois keys"):
        server.predict(prog, batch)


def test_the_single_packing_refuses_a_batch_and_a_program_without_a_first_square(key, prog):
    with pytest.raises(CKKSPlanError, match="one input"):
        key.encrypt(np.zeros((2, 5, 5)), program=prog, packing="single")
    with pytest.raises(CKKSPlanError, match="needs the compiled program"):
        key.encrypt(np.zeros((1, 5, 5)), packing="single")
    flat = HEProgram(
        [AffineLayer.from_dense(np.ones((1, 4)), [0.0], scale_bits=36)],
        profile="128",
        input_shape=(4,),
    )
    with pytest.raises(CKKSPlanError, match="a square"):
        flat.single_packing()
    wide = HEProgram(
        [
            AffineLayer.from_dense(np.ones((5000, 2)), np.zeros(5000), scale_bits=36),
            SquareLayer(5000),
            AffineLayer.from_dense(np.ones((1, 5000)), [0.0], scale_bits=36),
        ],
        profile="128",
        input_shape=(2,),
    )
    with pytest.raises(CKKSPlanError, match="slots"):
        wide.plan("single")


def test_tampered_galois_keys_or_an_unknown_packing_are_clear_errors(key, prog):
    ctx = key.public_context(prog, packing="single")
    bad = CKKSPublicContext(
        ctx.key_id,
        ctx.profile,
        ctx.backend,
        ctx.relin_keys,
        ctx.blob,
        ctx.galois_steps,
        ctx.galois[: len(ctx.galois) // 2],
    )
    with pytest.raises(CKKSFormatError, match="Galois keys"):
        CKKSServer(bad.to_bytes())
    overclaim = CKKSPublicContext(
        ctx.key_id,
        ctx.profile,
        ctx.backend,
        ctx.relin_keys,
        ctx.blob,
        (*ctx.galois_steps, 64),
        ctx.galois,
    )
    with pytest.raises(CKKSFormatError, match="do not cover"):
        CKKSServer(overclaim.to_bytes())
    batch = key.encrypt(np.zeros((1, 5, 5)), program=prog, packing="single")
    header, payload = _format.unpack(batch.to_bytes(), _format.KIND_BATCH)
    header["packing"] = "diagonal"
    with pytest.raises(CKKSFormatError, match="unknown packing"):
        EncryptedBatch.from_bytes(_format.pack(_format.KIND_BATCH, header, payload))


def test_input_ciphertexts_are_sent_seeded_at_about_half_their_expanded_size(key):
    batch = key.encrypt(np.random.default_rng(0).random((4, 3)))
    # N = 8192, 4 primes of 52 and 36 bits: a full ciphertext is ~396 KB, seeded ~200 KB
    assert max(len(c) for c in batch.ciphertexts) < 250_000
    np.testing.assert_allclose(
        key.decrypt(EncryptedBatch.from_bytes(batch.to_bytes())),
        np.random.default_rng(0).random((4, 3)),
        atol=1e-6,
    )


def test_many_taps_fold_by_doubling_and_three_blocks_fold_linearly():
    # 144 units (1 channel, 12x12) and 25 taps: 28 blocks fit, 16 are used (4 rotations)
    rng = np.random.default_rng(0)
    w = np.zeros((144, 784))
    for i in range(12):
        for j in range(12):
            for a in range(5):
                for b in range(5):
                    w[i * 12 + j, (2 * i + a) * 28 + 2 * j + b] = rng.normal()
    layers = [
        AffineLayer.from_dense(w * 0.1, np.zeros(144), scale_bits=36),
        SquareLayer(144),
        AffineLayer.from_dense(rng.normal(size=(1, 144)) * 0.1, [0.0], scale_bits=36),
    ]
    prog = HEProgram(layers, profile="128", input_shape=(28, 28))
    layout = prog.single_packing()
    assert layout.blocks == 16 and layout.n_ciphertexts == 2
    assert layout.fold_steps == (144, 288, 576, 1152)
    key = CKKSKey.generate("128")
    server = CKKSServer(key.public_context(prog, packing="single").to_bytes())
    x = rng.random((1, 28, 28))
    out = server.predict(prog, key.encrypt(x, program=prog, packing="single"))
    np.testing.assert_allclose(key.decrypt(out, program=prog), prog.simulate(x), atol=1e-3)
