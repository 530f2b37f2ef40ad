"""Both MORE attacks recover the plaintext (>= 99 %) on small cases: MORE has no security."""

from __future__ import annotations

import numpy as np
import pytest

from medseal.errors import InputError
from medseal.evaluate.attacks.more_eigenvalue import (
    MoreAttackResult,
    ciphertext_eigenvalues,
    eigenvalue_attack,
    recovery_rate,
)
from medseal.evaluate.attacks.more_known_plaintext import known_plaintext_attack
from medseal.privacy.more import MoreKey


def phantom(h=24, w=20, seed=0):
    """A small 8-bit-like image: smooth disc and gradient, quantised to k/255, dark background."""
    yy, xx = np.mgrid[:h, :w]
    disc = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 3) ** 2) * 0.6
    img = disc + 0.3 * xx / w + 0.02 * np.random.default_rng(seed).random((h, w))
    img[:3, :] = 0.0
    return np.round(np.clip(img, 0, 1) * 255) / 255


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("side_info", ["none", "range", "hint"])
def test_eigenvalue_attack_decrypts_everything(n, side_info):
    img = phantom(seed=n)
    key = MoreKey.generate(n=n, seed=n)
    c = key.encrypt(img)
    kwargs = {
        "none": {},
        "range": {"known_range": (0.0, 1.0)},
        "hint": {"hint": (0, float(img.flat[0]))},
    }[side_info]
    res = eigenvalue_attack(c, truth=img, **kwargs)
    assert isinstance(res, MoreAttackResult)
    assert res.success_rate is not None and res.success_rate >= 0.99
    assert res.values.shape == img.shape
    assert res.details["residual"] < 1e-10  # ciphertexts really share eigenvectors
    assert "eigenvalue" in res.method
    # the recovered S is an equivalent secret key: it decrypts a *new* ciphertext
    fresh = key.encrypt(np.array([0.123, -4.5]))
    s = res.key_estimate
    got = (np.linalg.inv(s) @ fresh.data @ s)[..., 0, 0]
    np.testing.assert_allclose(got, [0.123, -4.5], rtol=1e-9)
    assert "values" not in repr(res).split("(", 1)[1].split("=")[0]


def test_eigenvalue_attack_on_computed_ciphertexts():
    # results of server-side computation leak the same way (shared eigenvectors)
    img = phantom(seed=7)
    key = MoreKey.generate(n=2, seed=7)
    c = key.encrypt(img)
    feat = (c * 3.0 - 1.0).tanh()
    truth = np.tanh(img * 3.0 - 1.0)
    res = eigenvalue_attack(feat, truth=truth, hint=(0, float(truth.flat[0])))
    assert res.success_rate >= 0.99


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("side_info", ["none", "range", "hint"])
def test_eigenvalue_attack_on_saturated_computed_ciphertexts(n, side_info):
    # tanh(60 x - 1): every hidden slot (>= 14) saturates to exactly 1.0, so for
    # n >= 3 the hidden slots of each value coincide, and a second layer has to
    # compute on them; the attack still reads the data slot of every value.
    img = phantom(seed=n)
    key = MoreKey.generate(n=n, seed=30 + n)
    feat = ((key.encrypt(img) * 60.0 - 1.0).tanh() * 2.0).tanh()
    truth = np.tanh(2.0 * np.tanh(img * 60.0 - 1.0))
    assert np.max(np.abs(key.decrypt(feat) - truth)) < 1e-9
    kwargs = {
        "none": {},
        "range": {"known_range": (-1.0, 1.0)},
        "hint": {"hint": (0, float(truth.flat[0]))},
    }[side_info]
    res = eigenvalue_attack(feat, truth=truth, **kwargs)
    assert res.success_rate is not None and res.success_rate >= 0.99
    assert res.details["residual"] < 1e-10


def test_each_ciphertext_narrows_its_value_to_n_candidates():
    key = MoreKey.generate(n=3, seed=1)
    x = np.random.default_rng(0).normal(size=50)
    cand = ciphertext_eigenvalues(key.encrypt(x))
    assert cand.shape == (50, 3)
    assert np.all(np.min(np.abs(cand - x[:, None]), axis=1) < 1e-9)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_known_plaintext_attack_with_n_pairs(n):
    key = MoreKey.generate(n=n, seed=10 + n)
    known_x = np.zeros(n) + np.arange(n) * 0.1  # e.g. n background pixels
    known_c = key.encrypt(known_x)
    target_x = np.random.default_rng(n).normal(size=(5, 6)) * 100
    target = key.encrypt(target_x)
    res = known_plaintext_attack(known_x, known_c, target, truth=target_x)
    assert res.success_rate >= 0.99
    assert res.details["rank"] == n
    s = res.key_estimate
    got = (np.linalg.inv(s) @ target.data @ s)[..., 0, 0]
    assert recovery_rate(got, target_x) >= 0.99
    # S up to column scaling: each recovered column is parallel to a column of S
    true_s = key._s  # test-only peek at the secret
    cos = np.abs((s / np.linalg.norm(s, axis=0)).T @ (true_s / np.linalg.norm(true_s, axis=0)))
    assert np.allclose(np.sort(cos.max(axis=1)), 1.0, atol=1e-9)
    assert abs(cos[0, 0] - 1.0) < 1e-9  # data column first, as in S
    assert res.functional is not None and res.functional.shape == (n * n,)


def test_known_plaintext_attack_needs_n_independent_pairs():
    key = MoreKey.generate(n=3, seed=1)
    with pytest.raises(InputError, match="linearly independent"):
        known_plaintext_attack([0.5, 0.7], key.encrypt([0.5, 0.7]), key.encrypt([1.0]))
    with pytest.raises(InputError, match="shape"):
        known_plaintext_attack([0.5], key.encrypt([0.5, 0.7]), key.encrypt([1.0]))


def test_recovery_rate_definition():
    assert recovery_rate([0.0, 1e-7, 2.0], [0.0, 0.0, 2.0 + 1e-5]) == pytest.approx(2 / 3)
    assert recovery_rate([1e6 + 0.5], [1e6]) == 1.0
    with pytest.raises(InputError):
        recovery_rate([1.0], [1.0, 2.0])
