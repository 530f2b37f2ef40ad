"""The statistical facts the scheme docstrings and ``describe()`` claim, checked on data.

Each test names the claim it checks; a claim that stops holding must fail here
before the docs lie.
"""

from __future__ import annotations

import numpy as np
import pytest

from medseal.errors import InputError
from medseal.privacy.masking import (
    BlockScramble,
    NegativePositive,
    PixelShuffle,
    blockify,
    make_scheme,
)

KEY = bytes(range(32))
M = 8


def _image(seed: int = 0, shape=(64, 64)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _rows_sorted(a: np.ndarray) -> np.ndarray:
    """Rows of a 2-D array in lexicographic order (a multiset of rows)."""
    return a[np.lexsort(a.T[::-1])]


def _blocks(x: np.ndarray) -> np.ndarray:
    return blockify(x, M).reshape(-1, M * M)


def test_block_scramble_preserves_the_multiset_of_blocks_but_moves_them():
    x = _image()
    y = BlockScramble(key=KEY, block=M).mask(x)
    bx, by = _blocks(x), _blocks(y)
    np.testing.assert_array_equal(_rows_sorted(bx), _rows_sorted(by))
    moved = np.mean(np.any(bx != by, axis=1))
    assert moved > 0.8, f"only {moved:.0%} of blocks moved"


@pytest.mark.parametrize("spec", ["block", "shuffle", "block+shuffle"])
def test_permutation_schemes_preserve_the_global_histogram(spec):
    x = _image(1)
    y = make_scheme(spec, key=KEY, block=M).mask(x)
    np.testing.assert_array_equal(
        np.bincount(x.ravel(), minlength=256), np.bincount(y.ravel(), minlength=256)
    )


def test_pixel_shuffle_preserves_each_blocks_histogram_and_mean():
    x = _image(2)
    y = PixelShuffle(key=KEY, block=M).mask(x)
    bx, by = _blocks(x), _blocks(y)
    np.testing.assert_array_equal(np.sort(bx, axis=1), np.sort(by, axis=1))
    np.testing.assert_array_equal(bx.mean(axis=1), by.mean(axis=1))
    # ... while changing the arrangement inside (nearly) every block
    assert np.mean(np.any(bx != by, axis=1)) > 0.95


def test_pixel_shuffle_uses_one_permutation_for_every_block():
    x = _image(3)
    y = PixelShuffle(key=KEY, block=M).mask(x)
    perm = PixelShuffle(key=KEY, block=M).pixel_permutation()
    np.testing.assert_array_equal(_blocks(y), _blocks(x)[:, perm])


def test_negpos_maps_flipped_values_to_top_minus_value_exactly():
    x = _image(4)
    scheme = NegativePositive(key=KEY, block=M)
    flip = np.tile(scheme.block_transform().flip, (x.size // (M * M), 1))
    np.testing.assert_array_equal(
        _blocks(scheme.mask(x)), np.where(flip, 255 - _blocks(x), _blocks(x))
    )
    x12 = np.random.default_rng(4).integers(0, 4096, size=(16, 16)).astype(np.uint16)
    y12 = NegativePositive(key=KEY, block=M, bit_depth=12).mask(x12)
    flip12 = np.tile(scheme.block_transform().flip, (x12.size // (M * M), 1))
    b12 = blockify(x12, M).reshape(-1, M * M)
    np.testing.assert_array_equal(
        blockify(y12, M).reshape(-1, M * M), np.where(flip12, 4095 - b12, b12)
    )
    xf = (x / 256).astype(np.float32)
    bf = _blocks(xf)
    np.testing.assert_array_equal(_blocks(scheme.mask(xf)), np.where(flip, 1 - bf, bf))


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_negpos_that_would_flip_none_or_every_position_is_refused(fraction):
    # fraction 0 is the identity, fraction 1 plain inversion: neither needs the key
    with pytest.raises(InputError, match="fraction"):
        NegativePositive(key=KEY, fraction=fraction)


def test_negpos_flips_the_same_half_of_positions_in_every_block():
    x = _image(6)
    y = NegativePositive(key=KEY, block=M).mask(x)
    changed = _blocks(x) != _blocks(y)  # 8-bit values never equal 255 - themselves
    assert (changed == changed[0]).all()
    assert changed[0].sum() == M * M // 2
    flip = NegativePositive(key=KEY, block=M).block_transform().flip
    np.testing.assert_array_equal(changed[0], flip)


@pytest.mark.parametrize("bits", [8, 12])
def test_negpos_preserves_distance_from_mid_grey(bits):
    top = 2**bits - 1
    x = np.random.default_rng(bits).integers(0, top + 1, size=(32, 32)).astype(np.int32)
    y = NegativePositive(key=KEY, bit_depth=bits).mask(x)
    np.testing.assert_array_equal(np.abs(2 * y - top), np.abs(2 * x - top))


def test_shuffle_negpos_preserves_each_blocks_multiset_of_distance_from_mid():
    x = _image(7).astype(np.int32)
    y = make_scheme("shuffle+negpos", key=KEY, block=M).mask(x)
    dx, dy = np.abs(2 * _blocks(x) - 255), np.abs(2 * _blocks(y) - 255)
    np.testing.assert_array_equal(np.sort(dx, axis=1), np.sort(dy, axis=1))
    # but the block histogram itself is not preserved
    assert not np.array_equal(np.sort(_blocks(x), axis=1), np.sort(_blocks(y), axis=1))


def test_full_scheme_preserves_the_multiset_of_block_contrast_profiles():
    x = _image(8).astype(np.int32)
    y = make_scheme("block+shuffle+negpos", key=KEY, block=M).mask(x)
    px = np.sort(np.abs(2 * _blocks(x) - 255), axis=1)
    py = np.sort(np.abs(2 * _blocks(y) - 255), axis=1)
    np.testing.assert_array_equal(_rows_sorted(px), _rows_sorted(py))


def test_block_scramble_commutes_with_in_block_steps():
    x = _image(9)
    a = make_scheme("block+shuffle+negpos", key=KEY).mask(x)
    b = make_scheme("shuffle+negpos+block", key=KEY).mask(x)
    np.testing.assert_array_equal(a, b)


def test_shuffle_and_negpos_order_matters():
    x = _image(10)
    a = make_scheme("shuffle+negpos", key=KEY).mask(x)
    b = make_scheme("negpos+shuffle", key=KEY).mask(x)
    assert not np.array_equal(a, b)


def test_one_known_pair_reveals_the_in_block_transform():
    """The 'does not hide' claim: a single chosen plain/masked pair unmasks everything else."""
    scheme = make_scheme("shuffle+negpos", key=KEY, block=M)
    # chosen plaintext: one block holding 64 distinct values below mid-grey
    probe = np.tile(np.arange(M * M, dtype=np.uint8).reshape(M, M), (1, 1))
    masked_probe = _blocks(scheme.mask(probe))[0].astype(np.int32)
    flip = masked_probe > 127
    perm = np.where(flip, 255 - masked_probe, masked_probe)
    # attacker now unmasks an unrelated image without the key
    victim = _image(11)
    y = _blocks(scheme.mask(victim)).astype(np.int32)
    y = np.where(flip, 255 - y, y)
    recovered = np.empty_like(y)
    recovered[:, perm] = y
    np.testing.assert_array_equal(recovered, _blocks(victim))


def test_describe_lists_the_claims_checked_here():
    info = make_scheme("shuffle+negpos", key=KEY).describe()
    text = " ".join(info["does_not_hide"])
    assert "|x - mid|" in text
    assert "single known plain/masked pair" in text
    assert "global histogram" not in text  # negpos mixes it
    block_info = make_scheme("block", key=KEY).describe()
    assert any("multiset of blocks" in s for s in block_info["does_not_hide"])
    assert any("global histogram" in s for s in block_info["does_not_hide"])
    shuffle_info = make_scheme("shuffle", key=KEY).describe()
    assert any("histogram, mean" in s for s in shuffle_info["does_not_hide"])


@pytest.mark.parametrize(
    "spec",
    ["shuffle+negpos", "negpos+shuffle", "block+negpos+shuffle", "negpos+block+shuffle"],
)
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_compose_equals_applying_the_steps_one_after_another(spec, dtype):
    x = _image(12, shape=(2, 32, 24))
    if dtype == "float32":
        x = (x / 256).astype(np.float32)
    expected = x
    for step in spec.split("+"):
        expected = make_scheme(step, key=KEY, block=M).mask(expected)
    np.testing.assert_array_equal(make_scheme(spec, key=KEY, block=M).mask(x), expected)
