"""CKKS profiles, the program plan and its serialization (no HE library needed)."""

from __future__ import annotations

import numpy as np
import pytest

from medseal.privacy.ckks import (
    HE_STANDARD_128,
    PROFILES,
    AffineLayer,
    CKKSFormatError,
    CKKSPlanError,
    CKKSProfile,
    CKKSProfileError,
    HEProgram,
    SquareLayer,
    get_profile,
)


def _program(depth_pairs: int = 1, profile: str = "128", seed: int = 0, **kw) -> HEProgram:
    rng = np.random.default_rng(seed)
    sb = get_profile(profile).scale_bits
    layers: list = []
    width = 6
    for _ in range(depth_pairs):
        layers += [
            AffineLayer.from_dense(rng.normal(size=(4, width)), rng.normal(size=4), scale_bits=sb)
        ]
        layers += [SquareLayer(4)]
        width = 4
    layers.append(AffineLayer.from_dense(rng.normal(size=(2, width)), [0.1, -0.2], scale_bits=sb))
    return HEProgram(layers, profile=profile, input_shape=(2, 3), **kw)


def test_the_table_is_the_homomorphicencryption_org_128_bit_column():
    assert HE_STANDARD_128 == {
        1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881,
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_named_profile_is_within_the_128_bit_bound(name):
    p = PROFILES[name]
    assert p.security_bits == 128
    assert p.total_bits <= HE_STANDARD_128[p.poly_modulus_degree]


def test_a_profile_over_the_bound_is_refused_naming_the_bound():
    # TenSEAL's tutorials use [60, 40, 40, 60] at N = 8192 (200 bits, fine); one more prime is not.
    CKKSProfile("ok", 8192, (60, 40, 40, 60), 40)
    with pytest.raises(CKKSProfileError, match="240 modulus bits exceeds the 218 bits"):
        CKKSProfile("x", 8192, (60, 40, 40, 40, 60), 40)
    with pytest.raises(CKKSProfileError, match="exceeds the 109 bits"):
        CKKSProfile("x", 4096, (40, 30, 40), 30)


def test_a_ring_dimension_outside_the_table_or_another_level_is_refused():
    with pytest.raises(CKKSProfileError, match="not in the"):
        CKKSProfile("x", 6000, (40, 30, 40), 30)
    with pytest.raises(CKKSProfileError, match="only 128-bit"):
        CKKSProfile("x", 8192, (52, 36, 52), 36, security_bits=80)
    with pytest.raises(CKKSProfileError, match="unknown CKKS profile"):
        get_profile("64")


def test_a_program_deeper_than_the_profile_is_refused_before_anything_is_encrypted():
    with pytest.raises(CKKSPlanError, match="depth 5 .* allows 3"):
        _program(depth_pairs=2, profile="128")
    deep = _program(depth_pairs=2, profile="128-deep")
    assert deep.depth == 5 and deep.needs_relin_keys
    assert deep.relinearize_after() == [False, True, False, False, False]


def test_the_scale_budget_refuses_outputs_that_would_overflow_the_first_prime():
    prog = _program()
    ok = [1.0] * len(prog.layers)
    HEProgram(prog.layers, profile="128", input_shape=(2, 3), max_abs=ok)
    too_big = ok[:-1] + [2.0**20]  # the first prime leaves 2^15 at the last level
    with pytest.raises(CKKSPlanError, match="overflow"):
        HEProgram(prog.layers, profile="128", input_shape=(2, 3), max_abs=too_big)


def test_the_plan_counts_operations_and_needs_no_rotations():
    plan = _program().plan()
    assert plan["plain_mults"] == 4 * 6 + 2 * 4
    assert plan["squares"] == 4 and plan["rotations"] == 0 and plan["relin_keys"] is False
    assert plan["depth"] == 3 and plan["images_per_batch"] == 4096


def test_simulate_is_the_float_program_on_inputs_rounded_to_the_encoding_grid():
    prog = _program()
    x = np.random.default_rng(1).random((5, 2, 3))
    h = x.reshape(5, -1)
    a0, _, a2 = prog.layers
    ref = ((h @ a0.dense().T + a0.bias) ** 2) @ a2.dense().T + a2.bias
    np.testing.assert_allclose(prog.simulate(x), ref, rtol=1e-9, atol=1e-9)


def test_weights_that_round_to_zero_are_dropped_and_an_all_zero_row_is_refused():
    layer = AffineLayer.from_dense([[1.0, 1e-13]], [0.0], scale_bits=36)
    assert layer.nnz == 1
    with pytest.raises(CKKSPlanError, match="no non-zero weight"):
        AffineLayer.from_dense([[1e-13, 0.0]], [0.0], scale_bits=36)


def test_a_program_round_trips_through_bytes_and_keeps_its_id():
    prog = _program(max_abs=None)
    again = HEProgram.from_bytes(prog.to_bytes())
    assert again.program_id == prog.program_id
    x = np.random.default_rng(2).random((3, 6))
    np.testing.assert_array_equal(again.simulate(x), prog.simulate(x))
    assert _program(seed=1).program_id != prog.program_id


@pytest.mark.parametrize("cut", [1, 40, 200])
def test_truncated_program_bytes_are_refused(cut):
    blob = _program().to_bytes()
    with pytest.raises(CKKSFormatError, match="truncated or corrupt|too short"):
        HEProgram.from_bytes(blob[:-cut])


def test_tampered_program_bytes_and_unknown_versions_are_refused():
    blob = bytearray(_program().to_bytes())
    blob[len(blob) // 2] ^= 0x01
    with pytest.raises(CKKSFormatError, match="digest mismatch"):
        HEProgram.from_bytes(bytes(blob))
    blob = bytearray(_program().to_bytes())
    blob[7] = 99
    with pytest.raises(CKKSFormatError, match="format version 99"):
        HEProgram.from_bytes(bytes(blob))
