"""MORE keys: encrypt/decrypt round trip, storage layout, randomness, key hygiene."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from medseal.errors import InputError
from medseal.privacy.more import (
    MoreContextMismatchError,
    MoreKey,
    MorePublicContext,
    MoreTensor,
)

RTOL = 1e-9  # float64, key condition <= 10: observed errors are ~1e-15


def close(a, b, rtol=RTOL):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    np.testing.assert_array_less(np.abs(a - b), rtol * np.maximum(np.abs(b), 1.0) + 1e-300)


KEYS = {n: MoreKey.generate(n=n, seed=100 + n) for n in (2, 3)}

values = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=5),
    elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=60, deadline=None)
@given(x=values, n=st.sampled_from([2, 3]), seed=st.integers(0, 2**32 - 1))
def test_round_trip_random_values_and_shapes(x, n, seed):
    key = KEYS[n]
    c = key.encrypt(x, rng=np.random.default_rng(seed))
    assert isinstance(c, MoreTensor)
    assert c.shape == x.shape
    assert c.data.shape == x.shape + (n, n)
    assert c.data.dtype == np.float64
    close(key.decrypt(c), x)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_memory_is_exactly_n_squared_float64_per_value(n):
    key = MoreKey.generate(n=n, seed=1)
    x = np.zeros((3, 5, 7))
    c = key.encrypt(x)
    assert c.nbytes == x.size * n * n * 8
    assert c.data.nbytes == c.nbytes
    # results of operations are real arrays, not broadcast views
    assert (c + 1.0).data.nbytes == c.nbytes
    assert (c * c).data.nbytes == c.nbytes


def test_scalar_encrypts_to_0d_tensor():
    key = KEYS[2]
    c = key.encrypt(3.5)
    assert c.shape == () and c.size == 1 and c.ndim == 0
    assert float(key.decrypt(c)) == pytest.approx(3.5, rel=1e-12)


def test_fresh_randomness_per_encryption():
    key = MoreKey.generate(seed=5)
    x = np.array([1.0, 2.0, 3.0])
    a, b = key.encrypt(x), key.encrypt(x)
    assert not np.allclose(a.data, b.data)
    close(key.decrypt(a), x)
    close(key.decrypt(b), x)
    # same value twice inside one tensor also gets two different ciphertexts
    c = key.encrypt(np.array([7.0, 7.0]))
    assert not np.allclose(c.data[0], c.data[1])


def test_different_keys_give_different_ciphertexts():
    k1, k2 = MoreKey.generate(seed=1), MoreKey.generate(seed=2)
    x = np.linspace(-1, 1, 6)
    c1 = k1.encrypt(x, rng=np.random.default_rng(0))
    c2 = k2.encrypt(x, rng=np.random.default_rng(0))
    assert k1.key_id != k2.key_id
    assert not np.allclose(c1.data, c2.data)
    with pytest.raises(MoreContextMismatchError):
        k1.decrypt(c2)
    with pytest.raises(MoreContextMismatchError, match="different MORE contexts"):
        _ = c1 + c2


def test_seeds_make_everything_reproducible():
    a = MoreKey.generate(seed=42)
    b = MoreKey.generate(seed=42)
    x = np.arange(4.0)
    assert a.key_id == b.key_id
    np.testing.assert_array_equal(a.encrypt(x).data, b.encrypt(x).data)


def test_noise_range_is_respected_and_documented_default():
    key = MoreKey.generate(n=3, seed=3, noise_range=(2.0, 3.0))
    c = key.encrypt(np.zeros(200))
    eig = np.sort(np.linalg.eigvals(c.data).real, axis=-1)
    np.testing.assert_allclose(eig[:, 0], 0.0, atol=1e-12)
    assert np.all((eig[:, 1:] > 2.0 - 1e-9) & (eig[:, 1:] < 3.0 + 1e-9))
    # override per call
    c = key.encrypt(np.zeros(50), noise_range=(5.0, 6.0))
    eig = np.sort(np.linalg.eigvals(c.data).real, axis=-1)
    assert np.all(eig[:, 1:] > 5.0 - 1e-9)
    assert MoreKey.generate(seed=0).noise_range == (0.25, 1.0)


def test_condition_number_bound_and_bad_parameters():
    for seed in range(20):
        assert MoreKey.generate(n=3, seed=seed, max_condition=5.0).condition_number <= 5.0 + 1e-9
    with pytest.raises(InputError):
        MoreKey.generate(n=1)
    with pytest.raises(InputError):
        MoreKey.generate(n=2, noise_range=(1.0, 1.0))
    with pytest.raises(InputError):
        MoreKey(np.zeros((2, 2)), key_id="0" * 32)
    with pytest.raises(InputError, match="NaN"):
        KEYS[2].encrypt(np.array([1.0, np.nan]))
    with pytest.raises(InputError):
        KEYS[2].decrypt(np.ones((2, 2)))  # type: ignore[arg-type]


def test_repr_never_shows_the_secret():
    key = MoreKey.generate(seed=9)
    s = key._s  # test-only peek at the secret
    text = repr(key) + str(key) + repr(key.public_context()) + repr(key.encrypt([1.0, 2.0]))
    for v in s.ravel():
        assert f"{v:.6f}"[:8] not in text
    assert key.key_id[:8] in repr(key)


def test_public_context_has_only_public_attributes():
    key = MoreKey.generate(seed=11)
    ctx = key.public_context()
    assert isinstance(ctx, MorePublicContext)
    assert set(vars(ctx)) == {"n", "key_id", "dtype"}
    assert ctx.n == 2 and ctx.dtype == "float64"
    for value in vars(ctx).values():
        assert not isinstance(value, np.ndarray)
    c = key.encrypt([1.0])
    assert c.context == ctx
    assert not hasattr(c, "__dict__")  # only _data and _ctx slots


def test_encode_is_trivial_and_public():
    ctx = KEYS[2].public_context()
    e = ctx.encode(np.array([1.5, -2.0]))
    close(KEYS[2].decrypt(e), np.array([1.5, -2.0]))
    np.testing.assert_array_equal(e.data[0], 1.5 * np.eye(2))
    z = ctx.zeros((2, 3))
    assert z.shape == (2, 3)
    close(KEYS[2].decrypt(z), np.zeros((2, 3)))
