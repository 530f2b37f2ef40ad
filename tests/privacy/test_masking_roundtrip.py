"""Masking then unmasking gives the input back, for every scheme, dtype, layout and array type."""

from __future__ import annotations

import time

import numpy as np
import pytest

from medseal.privacy.masking import make_scheme

KEY = bytes(range(32))
SPECS = ["block", "shuffle", "negpos", "shuffle+negpos", "negpos+shuffle", "block+shuffle+negpos"]
# (shape, channel_axis)
LAYOUTS = [
    ((16, 24), None),
    ((3, 16, 24), None),
    ((16, 24, 3), -1),
    ((2, 16, 24, 3), -1),
    ((3, 16, 24), 0),
    ((2, 3, 16, 24), 1),
    ((2, 2, 16, 24), None),  # two batch axes
]


def _random(shape: tuple[int, ...], dtype: str, seed: int, bit_depth: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        # dyadic values k / 2**12: 1 - x is exact in float32/64, so round trips are bit-exact
        return (rng.integers(0, 2**12 + 1, size=shape) / 2**12).astype(dtype)
    return rng.integers(0, 2**bit_depth, size=shape).astype(dtype)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize(("shape", "channel_axis"), LAYOUTS)
@pytest.mark.parametrize(
    ("dtype", "bit_depth"),
    [("uint8", 8), ("uint16", 12), ("uint16", 16), ("int16", 12), ("float32", 8), ("float64", 8)],
)
def test_numpy_round_trip_is_bit_exact(spec, shape, channel_axis, dtype, bit_depth):
    x = _random(shape, dtype, seed=len(shape) + bit_depth, bit_depth=bit_depth)
    scheme = make_scheme(spec, key=KEY, block=4, bit_depth=bit_depth, channel_axis=channel_axis)
    y = scheme.mask(x)
    assert isinstance(y, np.ndarray)
    assert y.shape == x.shape
    assert y.dtype == x.dtype
    assert not np.array_equal(y, x), "the mask changed nothing"
    z = scheme.unmask(y)
    assert z.dtype == x.dtype
    np.testing.assert_array_equal(z, x)


def test_mask_does_not_modify_input():
    x = _random((32, 32), "uint8", 0, 8)
    before = x.copy()
    make_scheme("block+shuffle+negpos", key=KEY).mask(x)
    np.testing.assert_array_equal(x, before)


def test_non_contiguous_input():
    x = _random((32, 64), "uint8", 1, 8)[:, ::2]
    scheme = make_scheme(key=KEY)
    np.testing.assert_array_equal(scheme.unmask(scheme.mask(x)), x)


def test_float_negpos_of_non_dyadic_values_round_trips_within_eps():
    rng = np.random.default_rng(3)
    x = (rng.integers(0, 256, size=(32, 32)) / 255.0).astype(np.float32)
    scheme = make_scheme("shuffle+negpos", key=KEY)
    z = scheme.unmask(scheme.mask(x))
    np.testing.assert_allclose(z, x, rtol=0, atol=np.finfo(np.float32).eps)


@pytest.mark.parametrize("spec", ["block", "shuffle"])
def test_permutation_schemes_are_bit_exact_for_any_float(spec):
    x = np.random.default_rng(4).random((2, 16, 16)).astype(np.float32) * 1e6 - 3.0
    scheme = make_scheme(spec, key=KEY)
    np.testing.assert_array_equal(scheme.unmask(scheme.mask(x)), x)


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("spec", ["shuffle+negpos", "block+shuffle+negpos"])
@pytest.mark.parametrize(
    ("dtype", "bit_depth"), [(torch.uint8, 8), (torch.int16, 12), (torch.float32, 8)]
)
@pytest.mark.parametrize(("shape", "channel_axis"), [((16, 16), None), ((2, 3, 16, 16), 1)])
def test_torch_round_trip_keeps_type_dtype_device(spec, dtype, bit_depth, shape, channel_axis):
    np_dtype = {torch.uint8: "uint8", torch.int16: "int16", torch.float32: "float32"}[dtype]
    x_np = _random(shape, np_dtype, 7, bit_depth)
    x = torch.from_numpy(x_np)
    scheme = make_scheme(spec, key=KEY, block=4, bit_depth=bit_depth, channel_axis=channel_axis)
    y = scheme.mask(x)
    assert isinstance(y, torch.Tensor)
    assert y.dtype == x.dtype and y.device == x.device and tuple(y.shape) == tuple(x.shape)
    # same result as the numpy path
    np.testing.assert_array_equal(y.numpy(), scheme.mask(x_np))
    assert torch.equal(scheme.unmask(y), x)


def test_torch_uint16_round_trip():
    x = torch.from_numpy(_random((16, 16), "uint16", 8, 12))
    scheme = make_scheme("shuffle+negpos", key=KEY, bit_depth=12)
    y = scheme.mask(x)
    assert y.dtype == torch.uint16
    assert torch.equal(scheme.unmask(y), x)


def test_masking_1000_images_is_fast():
    x = np.random.default_rng(0).integers(0, 256, size=(1000, 64, 64), dtype=np.uint8)
    scheme = make_scheme("block+shuffle+negpos", key=KEY, block=8)
    scheme.mask(x[:1])  # build the permutations once
    start = time.perf_counter()
    y = scheme.mask(x)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"masking 1000 64x64 images took {elapsed:.2f} s"
    np.testing.assert_array_equal(scheme.unmask(y), x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensor_stays_on_its_device():
    x = torch.from_numpy(_random((2, 3, 16, 16), "uint8", 9, 8)).cuda()
    scheme = make_scheme("block+shuffle+negpos", key=KEY, channel_axis=1)
    y = scheme.mask(x)
    assert y.device == x.device and y.dtype == x.dtype
    np.testing.assert_array_equal(y.cpu().numpy(), scheme.mask(x.cpu().numpy()))
    assert torch.equal(scheme.unmask(y), x)
