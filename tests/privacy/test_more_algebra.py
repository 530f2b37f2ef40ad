"""AlgebraProjector and MoreKey.encrypt_reference: key-free projection onto the ciphertext algebra."""

from __future__ import annotations

import numpy as np
import pytest

from medseal.errors import InputError
from medseal.evaluate.attacks.more_eigenvalue import ciphertext_eigenvalues
from medseal.privacy.more import AlgebraProjector, MoreKey, MoreTensor


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_reference_is_an_encryption_of_zero_with_separated_hidden_slots(n):
    key = MoreKey.generate(n=n, seed=n)
    ref = key.encrypt_reference(rng=np.random.default_rng(0))
    assert abs(float(key.decrypt(ref))) < 1e-12
    slots = ciphertext_eigenvalues(ref).ravel()
    hidden = np.sort(slots[np.abs(slots) > 1e-9])
    assert hidden.size == n - 1
    lo, hi = key.noise_range
    assert np.all((hidden > lo) & (hidden < hi))
    if n > 2:
        assert np.min(np.diff(hidden)) >= 0.5 * (hi - lo) / (n - 1) - 1e-9


@pytest.mark.parametrize("n", [2, 3, 4])
def test_projection_keeps_ciphertexts_and_removes_drift_off_the_algebra(n):
    key = MoreKey.generate(n=n, seed=20 + n)
    proj = AlgebraProjector(key.encrypt_reference())
    x = np.random.default_rng(1).normal(size=(5, 4))
    c = key.encrypt(x)
    np.testing.assert_allclose(proj.project(c).data, c.data, rtol=0, atol=1e-13)
    # drift: a random matrix per value, minus its (Frobenius) component in the algebra
    rng = np.random.default_rng(2)
    noise = rng.normal(size=c.data.shape) * 1e-3
    algebra = np.stack(
        [np.linalg.matrix_power(key.encrypt(np.array(0.3)).data, k).ravel() for k in range(n)],
        axis=1,
    )
    q, _ = np.linalg.qr(algebra)
    flat = noise.reshape(-1, n * n)
    off = (flat - flat @ q @ q.T).reshape(noise.shape)
    drifted = MoreTensor(c.data + off, c.context)
    assert np.max(np.abs(key.decrypt(drifted) - x)) > 1e-6  # the drift does decrypt
    np.testing.assert_allclose(key.decrypt(proj.project(drifted)), x, rtol=0, atol=1e-12)


def test_projector_refuses_a_reference_with_repeated_slots():
    key = MoreKey.generate(n=3, seed=1)
    tied = key.encrypt(np.array(0.5), noise_range=(0.5, 0.5 + 1e-15))  # all slots ~0.5
    with pytest.raises(InputError, match="repeated slots|multiple of I"):
        AlgebraProjector(tied)
    s = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    ones = MoreTensor(s @ np.diag([0.5, 0.5, 0.9]) @ s.T, key.public_context())
    with pytest.raises(InputError, match="repeated slots"):
        AlgebraProjector(ones)
    with pytest.raises(InputError, match="one MoreTensor value"):
        AlgebraProjector(key.encrypt(np.zeros(2)))
