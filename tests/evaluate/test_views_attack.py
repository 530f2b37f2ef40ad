"""Views attack: masked copies under known shifts give the key; the analyst's own key-free views do not."""

from __future__ import annotations

import numpy as np
import pytest

from medseal.crypto import KeyRing
from medseal.evaluate.attacks.views import views_attack
from medseal.privacy.masking import make_scheme


def _images(n: int = 12, size: int = 28, seed: int = 0) -> np.ndarray:
    """Smooth-ish images with texture (like radiographs: no two columns agree everywhere)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = []
    for _ in range(n):
        base = 120 + 60 * np.sin(xx / rng.uniform(3, 7)) * np.cos(yy / rng.uniform(3, 7))
        out.append(np.clip(base + rng.normal(0, 20, size=(size, size)), 0, 255))
    return np.rint(np.stack(out)).astype(np.uint8)


def _scheme(spec: str = "shuffle+negpos", block: int = 4):
    return make_scheme(
        spec, key=KeyRing.in_memory(seed=b"views").derive("m"), block=block, bit_depth=8
    )


@pytest.mark.parametrize("block", [4, 8])
def test_owner_shifted_copies_give_the_exact_key_up_to_the_global_bit(block: int) -> None:
    """The copies `mask --shifts 1` / `masked_augment="owner"` hand out: the whole key, no plaintext."""
    x = _images(size=32 if block == 8 else 28)
    sch = _scheme(block=block)
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    copies = np.stack([sch.mask(np.roll(x[:8], s, axis=(1, 2))) for s in shifts])
    bt = sch.block_transform(1)
    r = views_attack(
        copies, shifts, block=block, true_perm=bt.perm, true_flip=bt.flip,
        test_masked=sch.mask(x[8:]), test_plain=x[8:],
    )  # fmt: skip
    assert r["key_exact"] and r["determined"] == 1.0 and r["above_chance"]
    assert r["pixel_exact"] == 1.0 and r["pixel_exact_chance"] < 0.2
    assert r["pixel_exact_above_chance"] and r["n_chance"] == 64
    assert r["perm_fraction"] == 1.0 and r["perm_chance"] == 1 / block**2


def test_two_copies_one_pixel_apart_in_each_axis_suffice() -> None:
    x = _images()
    sch = _scheme()
    shifts = [(0, 0), (0, 1), (1, 0)]
    copies = np.stack([sch.mask(np.roll(x, s, axis=(1, 2))) for s in shifts])
    bt = sch.block_transform(1)
    r = views_attack(copies, shifts, block=4, true_perm=bt.perm, true_flip=bt.flip)
    assert r["key_exact"]
    # only horizontal neighbours: rows are not tied together, positions are not pinned
    r1 = views_attack(copies[:2], shifts[:2], block=4, true_perm=bt.perm, true_flip=bt.flip)
    assert r1["determined"] == 0.0 and not r1["key_exact"]


def test_the_analysts_key_free_views_give_nothing_beyond_chance() -> None:
    """New default: one masked copy per image plus what the analyst derives from it without the key."""
    from medseal.privacy.masking.augment import KeyFreeAugment

    x = _images()
    sch = _scheme()
    masked = sch.mask(x[:8])
    aug = KeyFreeAugment(shift=8, shift_step=4, contrast=0.2, gamma=0.2, noise=4.0)
    rng = np.random.default_rng(0)
    views = [masked]
    shifts = [(0, 0)]
    for dy, dx in [(4, 0), (0, 4), (-4, 4), (8, -4)]:  # whole-block shifts, offsets known
        views.append(np.roll(masked, (dy, dx), axis=(1, 2)))
        shifts.append((dy, dx))
    for _ in range(3):  # intensity maps and noise: same positions as the copy itself
        views.append(aug.pointwise(masked, rng))
        shifts.append((0, 0))
    bt = sch.block_transform(1)
    r = views_attack(
        np.stack(views), shifts, block=4, true_perm=bt.perm, true_flip=bt.flip,
        test_masked=sch.mask(x[8:]), test_plain=x[8:],
    )  # fmt: skip
    assert r["edges"] == 0 and r["determined"] == 0.0
    assert not r["key_exact"] and not r["above_chance"]
    assert r["pixel_exact"] <= r["pixel_exact_chance"] + 0.05
    assert not r["pixel_exact_above_chance"]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_one_copy_of_images_with_a_flat_background_is_scored_against_many_random_keys(
    seed: int,
) -> None:
    """RetinaMNIST-like images (a black surround): a guess that places one slot right by luck
    unmasks far more pixels than a guess that places none, so one random key is no yardstick;
    the chance figure is the mean and the 95th percentile over many."""
    x = _images(size=28, seed=seed)
    yy, xx = np.mgrid[0:28, 0:28]
    x[:, (yy - 13.5) ** 2 + (xx - 13.5) ** 2 > 13**2] = 0
    sch = _scheme()
    bt = sch.block_transform(1)
    r = views_attack(
        sch.mask(x[None, :8]), [(0, 0)], block=4, true_perm=bt.perm, true_flip=bt.flip,
        test_masked=sch.mask(x[8:]), test_plain=x[8:], seed=seed,
    )  # fmt: skip
    assert r["determined"] == 0.0 and not r["above_chance"]
    assert r["pixel_exact_chance"] <= r["pixel_exact_chance_p95"]
    assert not r["pixel_exact_above_chance"]


def test_block_scrambling_is_reported_out_of_scope() -> None:
    r = views_attack(np.zeros((2, 1, 8, 8), np.uint8), [(0, 0), (0, 1)], block=4, steps=("block",))
    assert r["applicable"] is False
