"""Leakage metrics against scikit-image, imagehash and closed-form reference values."""

from __future__ import annotations

import imagehash
import numpy as np
import pytest
from PIL import Image as PILImage
from skimage.metrics import structural_similarity

from medseal.errors import InputError
from medseal.evaluate import leakage
from medseal.evaluate.metrics import auc_with_ci, paired_auc_difference, roc_auc, roc_curve


def smooth(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    img = (
        128
        + 60 * np.sin(6 * xx + rng.uniform(0, 3)) * np.cos(4 * yy)
        + rng.normal(0, 5, (size, size))
    )
    return np.clip(img, 0, 255).astype(np.uint8)


def test_ssim_matches_scikit_image() -> None:
    a, b = smooth(0), smooth(1)
    assert leakage.ssim(a, a) == pytest.approx(1.0)
    assert leakage.ssim(a, b) == pytest.approx(structural_similarity(a, b, data_range=255))


def test_psnr_reference() -> None:
    a = np.full((8, 8), 100, np.uint8)
    b = a.copy()
    b[0, 0] = 110  # MSE = 100 / 64
    assert leakage.psnr(a, b) == pytest.approx(10 * np.log10(255**2 / (100 / 64)))
    assert leakage.psnr(a, a) == float("inf")


def test_npcr_uaci_reference_values() -> None:
    zeros, full = np.zeros((16, 16), np.uint8), np.full((16, 16), 255, np.uint8)
    assert leakage.npcr(zeros, full) == 100.0 and leakage.uaci(zeros, full) == 100.0
    assert leakage.npcr(zeros, zeros) == 0.0 and leakage.uaci(zeros, zeros) == 0.0
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (512, 512), dtype=np.uint8) for _ in range(2))
    assert leakage.npcr(a, b) == pytest.approx(leakage.NPCR_RANDOM, abs=0.05)
    assert leakage.uaci(a, b) == pytest.approx(leakage.UACI_RANDOM, abs=0.2)
    assert pytest.approx(99.6094, abs=1e-4) == leakage.NPCR_RANDOM
    assert pytest.approx(33.4635, abs=1e-4) == leakage.UACI_RANDOM


def test_entropy_reference() -> None:
    assert leakage.entropy(np.arange(256, dtype=np.uint8).reshape(16, 16)) == pytest.approx(8.0)
    assert leakage.entropy(np.zeros((4, 4), np.uint8)) == 0.0
    assert leakage.entropy(np.array([[0, 255]], np.uint8)) == pytest.approx(1.0)


def test_phash_matches_imagehash() -> None:
    a, b = smooth(0), smooth(3)
    ref = imagehash.phash(PILImage.fromarray(a)) - imagehash.phash(PILImage.fromarray(b))
    assert leakage.phash_distance(a, b) == ref
    assert leakage.phash_distance(a, a) == 0


def test_compare_and_input_checks() -> None:
    x = np.stack([smooth(i) for i in range(3)])
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, x.shape, dtype=np.uint8)
    r = leakage.compare(x, noise)
    assert r["n"] == 3 and abs(r["ssim"]) < 0.05 and r["npcr"] > 99
    assert leakage.compare(x, x)["ssim"] == pytest.approx(1.0)
    with pytest.raises(InputError, match="shape"):
        leakage.ssim(x[0], x[0][:8])
    with pytest.raises(InputError):
        leakage.ssim(x[0].astype(np.float32), x[0].astype(np.float32))


def test_auc_reference_values() -> None:
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert roc_auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.5)  # ties count 1/2
    assert np.isnan(roc_auc(np.ones(3, int), np.arange(3.0)))
    fpr, tpr, _ = roc_curve(y, np.array([0.1, 0.4, 0.35, 0.8]))
    assert fpr[0] == 0 and tpr[-1] == 1 and fpr[-1] == 1
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(0.75)


def test_bootstrap_ci_of_a_random_scorer_covers_half() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    r = auc_with_ci(y, rng.random(400), n_boot=500, seed=0)
    assert r.lo < r.auc < r.hi and r.covers(0.5)
    good = auc_with_ci(y, y + rng.normal(0, 0.3, 400), n_boot=500)
    assert good.lo > 0.9
    d = paired_auc_difference(y, y + rng.normal(0, 0.3, 400), rng.random(400), n_boot=300)
    assert d["lo"] > 0.3


def test_bootstrap_auc_draws_equal_the_one_roc_auc() -> None:
    """The vectorised Mann-Whitney AUC of the bootstrap equals scikit-learn's AUC per draw."""
    from medseal.evaluate.metrics import _auc_many

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 60)
    p = np.round(rng.random(60), 1)  # ties on purpose
    idx = rng.integers(0, 60, size=(20, 60))
    got = _auc_many(y, p, idx)
    want = [roc_auc(y[i], p[i]) for i in idx]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
