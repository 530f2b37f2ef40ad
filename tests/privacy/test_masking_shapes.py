"""Shapes and layouts: refusals, padding, blockify/unblockify, and the Masked-CNN hooks."""

from __future__ import annotations

import numpy as np
import pytest

from medseal.errors import InputError, UnsupportedImageError
from medseal.privacy.masking import (
    Compose,
    MaskKind,
    NegativePositive,
    PixelShuffle,
    blockify,
    make_scheme,
    pad_to_block,
    unblockify,
)

KEY = bytes(range(32))


def test_shape_not_multiple_of_block_names_both_shapes():
    scheme = make_scheme(key=KEY, block=8)
    with pytest.raises(InputError) as info:
        scheme.mask(np.zeros((2, 65, 64), dtype=np.uint8))
    msg = str(info.value)
    assert "(65, 64)" in msg and "(8, 8)" in msg and "(2, 65, 64)" in msg
    assert "pad=" in msg


@pytest.mark.parametrize(
    ("shape", "channel_axis"),
    [((8,), None), ((8, 8), -1), ((2, 8, 8), 5)],
)
def test_bad_layouts_are_refused(shape, channel_axis):
    with pytest.raises(InputError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
        make_scheme(key=KEY, block=4).mask(np.zeros(shape, np.uint8), channel_axis=channel_axis)


@pytest.mark.parametrize("block", [0, -4, 2.5, True])
def test_bad_block_sizes_are_refused(block):
    with pytest.raises(InputError, match="block size"):
        make_scheme(key=KEY, block=block)


def test_unknown_and_repeated_steps_are_refused():
    with pytest.raises(InputError, match="unknown masking step 'rot'"):
        make_scheme("shuffle+rot", key=KEY)
    with pytest.raises(InputError, match="twice"):
        make_scheme("shuffle+shuffle", key=KEY)


def test_values_out_of_range_for_bit_depth_are_refused():
    x = np.full((8, 8), 4000, dtype=np.uint16)
    with pytest.raises(InputError, match="bit_depth=8") as info:
        make_scheme(key=KEY, bit_depth=8).mask(x)
    assert "4000" not in str(info.value)  # no pixel values in messages
    # the right bit depth works, and pure permutations never care
    make_scheme(key=KEY, bit_depth=12).mask(x)
    make_scheme("shuffle", key=KEY, bit_depth=8).mask(x)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        make_scheme(key=KEY).mask(np.full((8, 8), 1.5, dtype=np.float32))
    with pytest.raises(InputError):
        make_scheme(key=KEY, bit_depth=12).mask(np.full((8, 8), -1, dtype=np.int16))


def test_dtypes_that_cannot_be_flipped_are_refused():
    with pytest.raises(UnsupportedImageError, match="does not fit dtype uint8"):
        make_scheme(key=KEY, bit_depth=12).mask(np.zeros((8, 8), np.uint8))
    with pytest.raises(UnsupportedImageError, match="bool"):
        make_scheme(key=KEY).mask(np.ones((8, 8), bool))
    with pytest.raises(TypeError, match="list"):
        make_scheme(key=KEY).mask([[0] * 8] * 8)


def test_pad_then_crop_round_trips():
    x = np.random.default_rng(0).integers(0, 256, size=(2, 30, 21, 3), dtype=np.uint8)
    scheme = make_scheme("block+shuffle+negpos", key=KEY, block=8, channel_axis=-1)
    for pad in ("edge", "zero"):
        y = scheme.mask(x, pad=pad)
        assert y.shape == (2, 32, 24, 3)
        np.testing.assert_array_equal(scheme.unmask(y, crop=(30, 21)), x)
    padded = pad_to_block(x, 8, channel_axis=-1, mode="zero")
    assert padded.shape == (2, 32, 24, 3) and padded[:, 30:].max() == 0
    with pytest.raises(ValueError):
        scheme.mask(x, pad="wrap")


def test_blockify_layout_and_inverse():
    x = np.arange(16).reshape(4, 4)
    b = blockify(x, 2)
    assert b.shape == (1, 2, 2, 4)
    np.testing.assert_array_equal(b[0, 0, 1], [2, 3, 6, 7])
    np.testing.assert_array_equal(unblockify(b, 2)[0], x)
    rgb = np.random.default_rng(1).integers(0, 256, size=(3, 16, 8, 3), dtype=np.uint8)
    br = blockify(rgb, 4, channel_axis=-1)
    assert br.shape == (3, 4, 2, 48)
    # values inside a block are (row, column, channel) row-major
    np.testing.assert_array_equal(br[1, 2, 1], rgb[1, 8:12, 4:8, :].ravel())
    np.testing.assert_array_equal(unblockify(br, 4, channel_axis=-1), rgb)
    chw = np.moveaxis(rgb, -1, 1)
    np.testing.assert_array_equal(blockify(chw, 4, channel_axis=1), br)
    np.testing.assert_array_equal(unblockify(br, 4, channel_axis=1), chw)
    with pytest.raises(InputError, match="channels"):
        unblockify(br, 4)


@pytest.mark.parametrize("spec", ["shuffle+negpos", "negpos+shuffle", "block+shuffle+negpos"])
@pytest.mark.parametrize("channels", [1, 3])
def test_block_transform_describes_mask_exactly(spec, channels):
    """What a Masked-CNN first layer relies on: mask == (order, perm, flip) on blockify."""
    m = 4
    scheme = make_scheme(spec, key=KEY, block=m, channel_axis=-1)
    x = np.random.default_rng(2).integers(0, 256, size=(2, 16, 12, channels), dtype=np.uint8)
    hb, wb = 16 // m, 12 // m
    order = scheme.block_order(hb * wb)
    perm, flip = scheme.block_transform(channels)
    assert perm.shape == flip.shape == (m * m * channels,)
    expected = blockify(x, m, channel_axis=-1).reshape(2, hb * wb, -1)[:, order][:, :, perm]
    expected = np.where(flip, 255 - expected, expected)
    got = blockify(scheme.mask(x), m, channel_axis=-1).reshape(2, hb * wb, -1)
    np.testing.assert_array_equal(got, expected)
    assert scheme.block == m
    np.testing.assert_array_equal(scheme.pixel_permutation(channels), perm)


def test_channel_first_single_channel_equals_grey():
    x = np.random.default_rng(3).integers(0, 256, size=(1, 16, 16), dtype=np.uint8)
    scheme = make_scheme(key=KEY)
    np.testing.assert_array_equal(scheme.mask(x, channel_axis=0), scheme.mask(x, channel_axis=None))


def test_returned_permutations_are_copies():
    scheme = make_scheme("block+shuffle", key=KEY)
    p = scheme.pixel_permutation()
    p[:] = 0
    assert len(set(scheme.pixel_permutation().tolist())) == 64


def test_make_scheme_accepts_enums_and_matches_explicit_compose():
    x = np.random.default_rng(5).integers(0, 256, size=(16, 16), dtype=np.uint8)
    a = make_scheme([MaskKind.SHUFFLE, "negpos"], key=KEY).mask(x)
    b = Compose([PixelShuffle(key=KEY), NegativePositive(key=KEY)]).mask(x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(make_scheme(" Shuffle + NEGPOS ", key=KEY).mask(x), a)
    assert make_scheme(key=KEY).steps == ("shuffle", "negpos")


def test_output_never_aliases_the_input():
    x = np.arange(64, dtype=np.uint8).reshape(8, 8)
    y = make_scheme("shuffle", key=KEY).mask(x)
    assert not np.shares_memory(x, y)
    y[0, 0] = 99
    assert x[0, 0] == 0
