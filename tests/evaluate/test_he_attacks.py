"""The learned-inverse attack against CKKS ciphertexts fails, while its control succeeds."""

from __future__ import annotations

import os

import numpy as np
import pytest

from medseal.evaluate.attacks.ckks_learned_inverse import (
    ckks_learned_inverse_attack,
    constant_coefficients,
)


def _need_tenseal() -> None:
    try:
        import tenseal  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("tenseal is missing: the `test` extra installs it in CI")
        pytest.skip("tenseal not installed (pip install 'medseal[he]')")


def test_constant_coefficient_is_the_inverse_ntt_at_zero():
    q, n = 97, 4
    # A polynomial whose NTT values are all 5 has constant coefficient 5 (and zeros elsewhere).
    assert constant_coefficients(np.full((1, n), 5, dtype=np.uint64), q)[0] == pytest.approx(5 / q)
    # Centred: q - 3 reads as -3.
    assert constant_coefficients(np.full((1, n), q - 3, dtype=np.uint64), q)[0] == pytest.approx(
        -3 / q
    )


def test_the_decoder_reads_unencrypted_encodings_but_not_ciphertexts():
    _need_tenseal()
    images = np.random.default_rng(0).integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    r = ckks_learned_inverse_attack(images, n_pairs=48, seed=1)
    assert r["control_succeeds"] and r["encoding_r2"] > 0.99
    assert r["attack_fails"] and r["ciphertext_r2"] < 0.1
