"""Cluster (patient) bootstrap: images of one patient are resampled together."""

from __future__ import annotations

import numpy as np
import pytest

from medseal.evaluate.metrics import (
    _auc_many,
    _auc_weighted,
    auc_with_ci,
    paired_auc_difference,
    seeds_summary,
)


@pytest.mark.parametrize("classes", [2, 3])
def test_weighted_auc_equals_the_resampled_auc_when_weights_count_the_draws(classes: int) -> None:
    rng = np.random.default_rng(0)
    n = 60
    y = rng.integers(0, classes, n)
    # binary scores with ties on purpose; softmax-like rows for several classes
    p = np.round(rng.random(n), 1) if classes == 2 else rng.dirichlet(np.ones(classes), n)
    idx = rng.integers(0, n, size=(50, n))
    w = np.zeros((50, n))
    np.add.at(w, (np.arange(50)[:, None], idx), 1.0)
    np.testing.assert_allclose(_auc_weighted(y, p, w), _auc_many(y, p, idx), atol=1e-12)


def _clustered(n_patients: int = 40, per: int = 8, seed: int = 0):
    """Each patient's images share one label and (almost) one score: 8 copies of 40 facts."""
    rng = np.random.default_rng(seed)
    yp = rng.integers(0, 2, n_patients)
    sp = np.clip(0.5 + 0.25 * (yp - 0.5) + rng.normal(0, 0.25, n_patients), 0, 1)
    y = np.repeat(yp, per)
    p = np.repeat(sp, per) + rng.normal(0, 1e-3, n_patients * per)
    groups = np.repeat(np.arange(n_patients), per)
    return y, p, groups


def test_the_patient_bootstrap_is_wider_than_the_image_bootstrap_on_clustered_images() -> None:
    y, p, groups = _clustered()
    images = auc_with_ci(y, p, n_boot=1000, seed=1)
    patients = auc_with_ci(y, p, n_boot=1000, seed=1, groups=groups)
    assert images.auc == patients.auc
    assert (patients.hi - patients.lo) > 2 * (images.hi - images.lo)


def test_one_image_per_patient_gives_the_image_bootstrap_width() -> None:
    y, p, _ = _clustered(n_patients=300, per=1)
    a = auc_with_ci(y, p, n_boot=2000, seed=3)
    b = auc_with_ci(y, p, n_boot=2000, seed=3, groups=np.arange(300))
    assert abs((a.hi - a.lo) - (b.hi - b.lo)) < 0.02


def test_paired_and_seed_summaries_take_the_groups_and_say_so() -> None:
    y, p, groups = _clustered()
    rng = np.random.default_rng(5)
    q = np.clip(p + rng.normal(0, 0.05, len(p)), 0, 1)
    d_img = paired_auc_difference(y, p, q, n_boot=500, seed=0)
    d_pat = paired_auc_difference(y, p, q, n_boot=500, seed=0, groups=groups)
    assert d_img["diff"] == d_pat["diff"] and (d_pat["hi"] - d_pat["lo"]) > (d_img["hi"] - d_img["lo"])
    s = seeds_summary(y, [p, q], [q, p], n_boot=300, seed=0, groups=groups)
    assert "cluster bootstrap over test patients" in s["gap"]["method"]
    assert "over test images" in seeds_summary(y, [p], [q], n_boot=100)["gap"]["method"]
    with pytest.raises(Exception, match="groups"):
        auc_with_ci(y, p, groups=groups[:-1])
