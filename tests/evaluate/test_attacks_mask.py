"""Each attack on keyed masking, on small synthetic cases whose outcome is known."""

from __future__ import annotations

import numpy as np
import pytest

from medseal.errors import InputError
from medseal.evaluate import leakage
from medseal.evaluate.attacks.jigsaw import jigsaw_attack, solve
from medseal.evaluate.attacks.key_mismatch import key_mismatch_attack
from medseal.evaluate.attacks.learned_inverse import BlockLinearDecoder, learned_inverse_sweep
from medseal.evaluate.attacks.mask_known_plaintext import mask_known_plaintext_attack, recover_mask
from medseal.models import aes_control
from medseal.privacy.masking import make_scheme

KEY = bytes(range(32))


def smooth_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Smooth, non-repeating images: every block edge continues into its true neighbour."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(1, 3, 3)
        img = 40 + 150 * (
            0.5 + 0.25 * np.sin(a * xx * 3 + c) + 0.25 * np.cos(b * yy * 2.5 + xx * c)
        )
        img += 40 * xx + 25 * yy
        out.append(np.clip(img, 0, 255))
    return np.stack(out).astype(np.uint8)


def test_jigsaw_reassembles_smooth_block_scrambled_images() -> None:
    x = smooth_images(3)
    scheme = make_scheme("block", key=KEY, block=8, bit_depth=8)
    scrambled = scheme.mask(x)
    order = scheme.block_order(16)
    res = jigsaw_attack(scrambled, 8, order=order, truth=x)
    assert res["direct"] == 1.0 and res["neighbour"] == 1.0 and res["pixel_exact"] == 1.0
    assert leakage.ssim(res["reconstruction"][0], x[0]) == pytest.approx(1.0)
    assert leakage.ssim(scrambled[0], x[0]) < 0.9  # the scrambled image itself is far off


def test_jigsaw_single_image_and_placement_is_a_permutation() -> None:
    x = smooth_images(1, size=24)[0]
    rec, placement = solve(make_scheme("block", key=KEY, block=8, bit_depth=8).mask(x), 8)
    assert rec.shape == x.shape and sorted(placement.ravel().tolist()) == list(range(9))


@pytest.mark.parametrize("spec", ["shuffle+negpos", "block+shuffle+negpos", "negpos", "shuffle"])
def test_one_random_pair_reveals_the_key(spec: str) -> None:
    rng = np.random.default_rng(0)
    scheme = make_scheme(spec, key=KEY, block=4, bit_depth=8)
    known = rng.integers(0, 256, (1, 16, 16), dtype=np.uint8)
    targets = smooth_images(4, size=16, seed=1)
    bt = scheme.block_transform(1)
    res = mask_known_plaintext_attack(
        known,
        scheme.mask(known),
        scheme.mask(targets),
        block=4,
        scrambled="block" in spec,
        truth=targets,
        true_perm=bt.perm,
        true_flip=bt.flip,
    )
    assert res["key_exact"] and res["pixel_exact"] == 1.0 and res["image_exact"] == 1.0
    if "block" in spec:
        key = recover_mask(known, scheme.mask(known), block=4, scrambled=True)
        np.testing.assert_array_equal(key.order, scheme.block_order(16))


def test_learned_inverse_recovers_masking_but_not_aes() -> None:
    x = smooth_images(40, size=16, seed=2)
    scheme = make_scheme("shuffle+negpos", key=KEY, block=4, bit_depth=8)
    train, test = x[:32], x[32:]
    rows = learned_inverse_sweep(
        train, scheme.mask(train), test, scheme.mask(test), block=4, n_pairs=(1, 16)
    )
    assert [r["n_pairs"] for r in rows] == [1, 16]
    assert rows[-1]["mae"] < 1.0  # the inverse of an in-block permutation+flip is linear
    assert leakage.compare(test, rows[-1]["reconstruction"])["ssim"] > 0.99
    aes_train, aes_test = (
        aes_control(train, KEY, context=b"tr"),
        aes_control(test, KEY, context=b"te"),
    )
    aes_rows = learned_inverse_sweep(train, aes_train, test, aes_test, block=4, n_pairs=(16,))
    assert aes_rows[0]["mae"] > 10 * rows[-1]["mae"] + 5
    with pytest.raises(InputError):
        BlockLinearDecoder(4).predict(test)


def test_key_mismatch_drops_a_key_specific_model_to_chance() -> None:
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)
    x[:, 0, 0] = np.where(y == 1, 200, 50)  # the label sits in one plaintext pixel
    scheme = make_scheme("shuffle", key=KEY, block=4, bit_depth=8)
    q = int(np.flatnonzero(scheme.pixel_permutation(1) == 0)[0])
    r, c = divmod(q, 4)

    def predict(masked: np.ndarray) -> np.ndarray:  # reads where key KEY put that pixel
        return masked[:, r, c].astype(float) / 255

    res = key_mismatch_attack(
        predict,
        x,
        y,
        spec="shuffle",
        block=4,
        right_key=KEY,
        wrong_keys=[bytes(32), bytes([7]) * 32],
        n_boot=200,
    )
    assert res["right_key"]["auc"] == 1.0
    assert all(0.35 < a < 0.65 for a in res["wrong_key_aucs"])
