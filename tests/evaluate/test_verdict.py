"""Verdicts follow from the numbers and their CIs; macro AUC; mean-over-seeds CI."""

from __future__ import annotations

import numpy as np
import pytest

from medseal.evaluate.metrics import (
    auc_with_ci,
    majority_rate,
    roc_auc,
    seeds_summary,
    summarize,
)
from medseal.evaluate.verdict import NONINFERIORITY_MARGIN, Goal, check_claim, judge

MARGIN = Goal("masked_within_margin", "masked within 0.02 of plaintext", -NONINFERIORITY_MARGIN)


@pytest.mark.parametrize(
    ("estimate", "ci", "verdict"),
    [
        (-0.005, [-0.011, 0.001], "met"),  # the whole CI above -0.02
        (-0.061, [-0.121, -0.012], "inconclusive"),  # the example: straddles -0.02
        (-0.080, [-0.121, -0.040], "missed"),  # the whole CI below -0.02
        (float("nan"), [float("nan"), float("nan")], "inconclusive"),
    ],
)
def test_the_margin_verdict_is_computed_from_the_ci(estimate, ci, verdict) -> None:
    out = judge(MARGIN, estimate, ci)
    assert out["verdict"] == verdict and verdict in out["reading"]


def test_the_benchmark_goal_needs_the_whole_ci_above_the_reference() -> None:
    goal = Goal("plain", "plaintext >= 0.944", 0.944)
    assert judge(goal, 0.96, [0.950, 0.970])["verdict"] == "met"
    assert judge(goal, 0.95, [0.930, 0.965])["verdict"] == "inconclusive"
    assert judge(goal, 0.90, [0.880, 0.920])["verdict"] == "missed"


def test_a_claim_is_consistent_only_when_the_ci_holds_it() -> None:
    assert check_claim("plain", 0.921, 0.90, [0.88, 0.93])["verdict"] == "consistent"
    assert check_claim("plain", 0.921, 0.80, [0.75, 0.85])["verdict"].startswith(
        "refuted (measured below"
    )
    assert check_claim("plain", 0.921, 0.97, [0.95, 0.99])["verdict"].startswith(
        "refuted (measured above"
    )


def test_macro_one_vs_rest_auc_matches_scikit_learn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=200)
    p = rng.dirichlet(np.ones(4), size=200)
    p[np.arange(200), y] += 0.3
    p /= p.sum(axis=1, keepdims=True)
    ref = roc_auc_score(y, p, multi_class="ovr", average="macro")
    assert roc_auc(y, p) == pytest.approx(ref, abs=1e-12)
    r = auc_with_ci(y, p, n_boot=200)
    assert r.lo <= r.auc <= r.hi
    s = summarize(y, p, n_boot=100)
    assert s["n_classes"] == 4 and s["acc"] == float((p.argmax(1) == y).mean())
    assert s["majority_rate"] == majority_rate(y) == np.bincount(y).max() / 200


def test_mean_over_seeds_uses_one_paired_draw_for_every_seed() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=300)
    good = [y + rng.normal(0, 0.8, size=300) for _ in range(3)]
    worse = [y + rng.normal(0, 1.2, size=300) for _ in range(3)]
    out = seeds_summary(y, worse, good, n_boot=500)
    assert out["n_seeds"] == 3
    assert out["gap"]["mean"] == pytest.approx(
        np.mean([roc_auc(y, w) - roc_auc(y, g) for w, g in zip(worse, good, strict=True)])
    )
    lo, hi = out["gap"]["ci"]
    assert lo <= out["gap"]["mean"] <= hi < 0
    # the same scores for both models: every paired draw gives a gap of exactly 0
    same = seeds_summary(y, good, good, n_boot=200)
    assert same["gap"]["ci"] == [0.0, 0.0]
    assert "paired bootstrap" in out["gap"]["method"]
