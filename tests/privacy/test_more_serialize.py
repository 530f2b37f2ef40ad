"""MORE bytes: round trips, version/CRC/kind checks, and that nothing public carries the key."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from medseal.privacy.more import (
    MoreContextMismatchError,
    MoreFormatError,
    MoreKey,
    MoreKeyPickleError,
    MorePublicContext,
    MoreTensor,
)
from medseal.privacy.more.serialize import FORMAT_VERSION


@pytest.fixture(params=[2, 3])
def key(request):
    return MoreKey.generate(n=request.param, seed=400 + request.param)


def secret_fragments(key):
    """Every 8-byte float64 of S and S^-1 (both byte orders): none may leak."""
    frags = []
    for m in (key._s, key._s_inv):
        for v in m.ravel():
            frags += [np.float64(v).tobytes(), np.float64(v).byteswap().tobytes()]
    return frags


def test_tensor_round_trip(key):
    x = np.random.default_rng(0).normal(size=(3, 4))
    c = key.encrypt(x)
    blob = c.to_bytes()
    d = MoreTensor.from_bytes(blob, context=key.public_context())
    np.testing.assert_array_equal(d.data, c.data)
    assert d.context == c.context
    np.testing.assert_allclose(key.decrypt(d), x, rtol=1e-12, atol=1e-12)
    s0 = MoreTensor.from_bytes(key.encrypt(1.0).to_bytes())
    assert s0.shape == ()
    e = MoreTensor.from_bytes(key.public_context().zeros((0, 2)).to_bytes())
    assert e.shape == (0, 2)


def test_context_and_tensor_bytes_and_pickles_hold_no_secret(key):
    ctx = key.public_context()
    c = key.encrypt(np.linspace(0, 1, 10))
    blobs = [
        ctx.to_bytes(),
        c.to_bytes(),
        pickle.dumps(ctx),
        pickle.dumps(c),
        pickle.dumps((c * c).exp()),
    ]
    for blob in blobs:
        for frag in secret_fragments(key):
            assert frag not in blob
    assert MorePublicContext.from_bytes(ctx.to_bytes()) == ctx
    assert pickle.loads(pickle.dumps(ctx)) == ctx
    c2 = pickle.loads(pickle.dumps(c))
    np.testing.assert_array_equal(c2.data, c.data)


def test_key_export_is_explicit(key):
    with pytest.raises(MoreKeyPickleError):
        pickle.dumps(key)
    blob = key.to_bytes()
    assert any(frag in blob for frag in secret_fragments(key))  # it really is the key
    k2 = MoreKey.from_bytes(blob, rng=np.random.default_rng(1))
    assert k2.key_id == key.key_id and k2.n == key.n and k2.noise_range == key.noise_range
    x = np.array([1.0, -2.0, 3.5])
    np.testing.assert_allclose(k2.decrypt(key.encrypt(x)), x, rtol=1e-12)
    np.testing.assert_allclose(key.decrypt(k2.encrypt(x)), x, rtol=1e-12)


@pytest.mark.parametrize("kind", ["tensor", "context", "key"])
def test_version_crc_truncation_and_kind_checks(key, kind):
    makers = {
        "tensor": (key.encrypt([1.0, 2.0]).to_bytes(), MoreTensor.from_bytes),
        "context": (key.public_context().to_bytes(), MorePublicContext.from_bytes),
        "key": (key.to_bytes(), MoreKey.from_bytes),
    }
    blob, load = makers[kind]
    assert blob[:6] == b"MSMORE" and blob[7] == FORMAT_VERSION
    bumped = bytearray(blob)
    bumped[7] = FORMAT_VERSION + 1
    with pytest.raises(MoreFormatError, match="version"):
        load(bytes(bumped))
    flipped = bytearray(blob)
    flipped[-6] ^= 0x01
    with pytest.raises(MoreFormatError):
        load(bytes(flipped))
    for cut in (0, 5, len(blob) // 2, len(blob) - 1):
        with pytest.raises(MoreFormatError):
            load(blob[:cut])
    with pytest.raises(MoreFormatError, match="bad magic"):
        load(b"NOTMORE" + blob[7:])
    for other_kind, (other_blob, _) in makers.items():
        if other_kind != kind:
            with pytest.raises(MoreFormatError, match="expected"):
                load(other_blob)


def test_tensor_from_bytes_checks_context(key):
    blob = key.encrypt([1.0]).to_bytes()
    other = MoreKey.generate(n=key.n, seed=1).public_context()
    with pytest.raises(MoreContextMismatchError):
        MoreTensor.from_bytes(blob, context=other)
