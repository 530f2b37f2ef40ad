"""Each key-free augmentation commutes with shuffle+negpos masking (exactly, or in law)."""

from __future__ import annotations

import numpy as np
import pytest

from medseal.crypto import KeyRing
from medseal.errors import InputError
from medseal.privacy.masking import blockify, make_scheme, unblockify
from medseal.privacy.masking.augment import KeyFreeAugment, mixup_pairs, symmetric_lut

SPECS = ["shuffle", "negpos", "shuffle+negpos"]


def _scheme(spec: str, block: int = 4):
    return make_scheme(
        spec, key=KeyRing.in_memory(seed=b"aug").derive("m"), block=block, bit_depth=8
    )


def _x(n: int = 6, size: int = 28) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(n, size, size), dtype=np.uint8)


def test_symmetric_lut_is_exactly_symmetric_about_mid_grey_and_identity_at_one() -> None:
    v = np.arange(256)
    for c, g in [(1.0, 1.0), (0.8, 1.0), (1.3, 0.7), (0.9, 1.4)]:
        f = symmetric_lut(c, g).astype(np.int64)
        assert np.array_equal(f[255 - v], 255 - f)
    assert np.array_equal(symmetric_lut(1.0, 1.0), v.astype(np.uint8))
    assert not np.array_equal(symmetric_lut(1.3, 0.7), v.astype(np.uint8))


@pytest.mark.parametrize("spec", SPECS)
def test_symmetric_intensity_maps_commute_exactly(spec: str) -> None:
    sch, x = _scheme(spec), _x()
    aug = KeyFreeAugment(contrast=0.3, gamma=0.3)
    a = aug.pointwise(sch.mask(x), np.random.default_rng(5))
    b = sch.mask(aug.pointwise(x, np.random.default_rng(5)))  # same random maps
    assert np.array_equal(a, b)
    assert not np.array_equal(a, sch.mask(x))  # the map did something


def test_an_asymmetric_map_does_not_commute_with_negpos() -> None:
    """The symmetry is what makes it work: a plain brightness shift fails (the test can fail)."""
    sch, x = _scheme("negpos"), _x()
    brighter = np.clip(x.astype(np.int16) + 20, 0, 255).astype(np.uint8)
    brighter_masked = np.clip(sch.mask(x).astype(np.int16) + 20, 0, 255).astype(np.uint8)
    assert not np.array_equal(sch.mask(brighter), brighter_masked)


@pytest.mark.parametrize("spec", SPECS)
def test_symmetric_noise_commutes_with_the_noise_permuted_and_negated(spec: str) -> None:
    sch, x = _scheme(spec), _x()
    n = np.rint(np.random.default_rng(1).normal(0, 6, size=x.shape)).astype(np.int16)
    bt = sch.block_transform(1)
    nb = blockify(n, 4)[..., bt.perm]
    n_masked = unblockify(np.where(bt.flip, -nb, nb), 4)  # n' : same law as n
    lhs = sch.mask(np.clip(x.astype(np.int16) + n, 0, 255).astype(np.uint8))
    rhs = np.clip(sch.mask(x).astype(np.int16) + n_masked, 0, 255).astype(np.uint8)
    assert np.array_equal(lhs, rhs)
    # n' has the law of n: a symmetric law is kept by sign flips and permutations
    assert abs(float(n_masked.mean()) - float(n.mean())) < 0.5  # about 4 standard errors
    assert np.array_equal(np.sort(np.abs(n_masked).ravel()), np.sort(np.abs(n).ravel()))


@pytest.mark.parametrize("spec", SPECS)
def test_mixup_of_two_images_under_the_same_key_commutes(spec: str) -> None:
    sch, x = _scheme(spec), _x()
    f = x.astype(np.float64) / 255.0
    partner, lam = mixup_pairs(len(x), 0.4, np.random.default_rng(2))
    assert (lam >= 0.5).all() and (lam <= 1).all()
    lam_b = lam[:, None, None]
    plain_mix = lam_b * f + (1 - lam_b) * f[partner]
    fm = sch.mask(f)  # float images: flips are 1 - v
    masked_mix = lam_b * fm + (1 - lam_b) * fm[partner]
    np.testing.assert_allclose(sch.mask(plain_mix), masked_mix, atol=1e-12)


@pytest.mark.parametrize("spec", SPECS)
def test_whole_block_shifts_commute_and_one_pixel_shifts_do_not(spec: str) -> None:
    sch, x = _scheme(spec), _x()
    aug = KeyFreeAugment(shift=8, shift_step=4)
    a = aug(sch.mask(x), np.random.default_rng(3))
    b = sch.mask(aug(x, np.random.default_rng(3)))
    assert np.array_equal(a, b) and not np.array_equal(a, sch.mask(x))
    if spec != "negpos":  # a 1 px shift moves pixels across the in-block permutation
        one = KeyFreeAugment(shift=1, shift_step=1)
        assert not np.array_equal(
            one(sch.mask(x), np.random.default_rng(3)), sch.mask(one(x, np.random.default_rng(3)))
        )


def test_the_full_default_pipeline_commutes_and_drops_shifts_for_block_scrambling() -> None:
    sch, x = _scheme("shuffle+negpos"), _x()
    aug = KeyFreeAugment(shift=8, shift_step=4, contrast=0.2, gamma=0.2)
    assert np.array_equal(
        aug(sch.mask(x), np.random.default_rng(4)), sch.mask(aug(x, np.random.default_rng(4)))
    )
    assert aug.for_steps(("block", "shuffle")).shift == 0
    assert aug.for_steps(("shuffle", "negpos")) == aug
    assert "mid-grey" in aug.describe() and aug.active
    assert not KeyFreeAugment().active and KeyFreeAugment().describe() == "none"
    with pytest.raises(InputError):
        KeyFreeAugment(contrast=1.5)
