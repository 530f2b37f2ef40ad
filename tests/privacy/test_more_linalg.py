"""Batched kernels under MoreTensor for n >= 3: matrix functions with coinciding slots, inverses.

The reference is the key holder's own computation ``S diag(f(d)) S^-1`` (never
available to the compute host), and the per-element loop over the same kernel.
"""

from __future__ import annotations

import numpy as np
import pytest

from medseal.privacy.more import MoreKey
from medseal.privacy.more._linalg import elem_inv, real_eigvals, spectral

FUNCS = {
    "tanh": np.tanh,
    "exp": np.exp,
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "sqrt": lambda v: np.sqrt(np.maximum(v, 0.0)),
}


def _key_matrix(n: int, seed: int) -> np.ndarray:
    # What MoreKey.generate draws: normal entries, unit columns, condition <= 10.
    rng = np.random.default_rng(seed)
    while True:
        s = rng.standard_normal((n, n))
        s /= np.linalg.norm(s, axis=0, keepdims=True)
        if np.linalg.cond(s) <= 10:
            return s


def _from_slots(s: np.ndarray, slots: np.ndarray) -> np.ndarray:
    return np.einsum("ij,...j,jk->...ik", s, slots, np.linalg.inv(s))


def _slots_with_ties(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Slots of m values in [0, 2): random, then exact ties of every kind."""
    d = rng.uniform(0.0, 2.0, size=(m, n))
    q = m // 5
    d[:q, 1:] = 1.0  # every hidden slot saturated to the same value (tanh -> 1.0)
    d[q : 2 * q, 1] = d[q : 2 * q, 0]  # a hidden slot equal to the plaintext
    d[2 * q : 3 * q, :] = 0.75  # all slots equal: a multiple of the identity
    d[3 * q : 4 * q, 1:] = 0.0  # hidden slots exactly 0 (a gradient through a saturated tanh)
    return d


@pytest.mark.parametrize("n", [3, 4, 5])
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_matrix_function_is_exact_when_slots_coincide(n, name):
    # The eigenvector route V f(D) V^-1 raised "Singular matrix" on the tied rows.
    rng = np.random.default_rng(n)
    s = _key_matrix(n, seed=10 + n)
    d = _slots_with_ties(n, 200, rng)
    f = FUNCS[name]
    got = spectral(_from_slots(s, d), f)
    back = np.einsum("ij,...jk,kl->...il", np.linalg.inv(s), got, s)
    slots = np.diagonal(back, axis1=-2, axis2=-1)
    want = f(d)
    rel = np.abs(slots - want) / np.maximum(np.abs(want), 1.0)
    # the plaintext slot (what decrypts) to 1e-9, always
    assert np.max(rel[:, 0]) < 1e-9, np.max(rel[:, 0])
    # hidden slots too, except sqrt at a hidden 0: a repeated 0 computed as
    # +-1e-17 has a square root of ~3e-9 (in the algebra, so never decrypted)
    hidden_tol = 1e-7 if name == "sqrt" else 1e-9
    assert np.max(rel[:, 1:]) < hidden_tol, np.max(rel[:, 1:])
    # nothing outside the algebra {S D S^-1}: off-diagonal part in the key's basis
    off = back - slots[..., None] * np.eye(n)
    assert np.max(np.abs(off)) < 1e-9 * max(1.0, float(np.max(np.abs(want))))


@pytest.mark.parametrize("n", [3, 4])
def test_batched_matrix_function_equals_the_per_element_result(n):
    key = MoreKey.generate(n=n, seed=3)
    x = np.random.default_rng(0).normal(scale=3.0, size=(6, 7))
    c = key.encrypt(x, rng=np.random.default_rng(1)).data
    batched = spectral(c, np.tanh)
    single = np.stack(
        [spectral(c[i, j][None], np.tanh)[0] for i in range(6) for j in range(7)]
    ).reshape(batched.shape)
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-13)
    # ... and the eigendecomposition route (well separated slots here) agrees too
    w, v = np.linalg.eig(c)
    ref = np.matmul(v.real * np.tanh(w.real)[..., None, :], np.linalg.inv(v.real))
    np.testing.assert_allclose(batched, ref, rtol=0, atol=1e-11)


def test_three_by_three_eigenvalues_closed_form_equal_lapack():
    s = _key_matrix(3, seed=5)
    rng = np.random.default_rng(5)
    d = rng.normal(scale=5.0, size=(2000, 3))
    d[:300, 2] = d[:300, 1] + rng.normal(scale=1e-9, size=300)  # near-double: LAPACK path
    d[300:400, 1:] = 1.0  # exact double
    d[400:450] = 0.3  # triple
    a = _from_slots(s, d)
    got = real_eigvals(a.reshape(-1, 3, 3))
    want = np.sort(d, axis=-1)
    scale = np.maximum(np.max(np.abs(want), axis=-1, keepdims=True), 1.0)
    assert np.max(np.abs(got - want) / scale) < 1e-11


def test_four_by_four_eigenvalues_vectorised_equal_lapack():
    s = _key_matrix(4, seed=6)
    rng = np.random.default_rng(6)
    d = rng.normal(scale=5.0, size=(3000, 4))
    d[:300, 3] = d[:300, 2] + rng.normal(scale=1e-9, size=300)  # near-double: LAPACK path
    d[300:400, 1:] = 1.0  # exact triple
    d[400:450] = 0.3  # all equal
    d[450:600] = rng.uniform(0.25, 1.0, size=(150, 4)) * 40.0  # network-like hidden scale
    a = _from_slots(s, d)
    got = real_eigvals(a)
    want = np.sort(d, axis=-1)
    scale = np.maximum(np.max(np.abs(want), axis=-1, keepdims=True), 1.0)
    assert np.max(np.abs(got - want) / scale) < 1e-11


@pytest.mark.parametrize("n", [3, 4])
def test_inverse_of_a_singular_ciphertext_is_non_finite_not_an_exception(n):
    s = _key_matrix(n, seed=7)
    d = np.random.default_rng(7).uniform(0.5, 2.0, size=(10, n))
    d[4, 0] = 0.0  # a plaintext zero: dividing by it is undefined, as in plaintext
    d[6, :] = 0.0
    a = _from_slots(s, d)
    a[6] = 0.0
    inv = elem_inv(a)
    regular = np.array([i not in (4, 6) for i in range(10)])
    np.testing.assert_allclose(inv[regular], np.linalg.inv(a[regular]), rtol=1e-10)
    assert not np.all(np.isfinite(inv[6]))
