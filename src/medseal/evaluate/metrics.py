"""Diagnostic metrics with bootstrap confidence intervals.

Where it sits: evaluate stage; consumes the probabilities of
:func:`medseal.models.predict_proba`. ROC AUC is the Mann-Whitney statistic
(ties count one half), identical to ``sklearn.metrics.roc_auc_score``.
Confidence intervals are percentile bootstraps over test images, resampled
with an explicit seed; a paired bootstrap gives the CI of an AUC difference
between two models scored on the same images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from medseal.errors import InputError

__all__ = [
    "AUCResult",
    "accuracy",
    "auc_with_ci",
    "paired_auc_difference",
    "roc_auc",
    "roc_curve",
    "summarize",
]


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise InputError(f"labels {y.shape} and scores {p.shape} differ in shape")
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0 or 1")
    return y, p


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve; ``nan`` when only one class is present."""
    y, p = _check(y, p)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _auc_many(y: np.ndarray, p: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """AUC for each row of resampling indices ``idx`` (B, n)."""
    ys = y[idx]
    ranks = rankdata(p[idx], axis=1)
    n1 = ys.sum(axis=1).astype(np.float64)
    n0 = ys.shape[1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * ys).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), auc, np.nan)


def roc_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate, thresholds), thresholds decreasing."""
    y, p = _check(y, p)
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    distinct = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]
    tps = np.cumsum(ys)[distinct]
    fps = (distinct + 1) - tps
    tpr = np.r_[0.0, tps / max(ys.sum(), 1)]
    fpr = np.r_[0.0, fps / max(len(ys) - ys.sum(), 1)]
    return fpr, tpr, np.r_[np.inf, ps[distinct]]


def accuracy(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> float:
    y, p = _check(y, p)
    return float(((p >= threshold).astype(np.int64) == y).mean()) if len(y) else float("nan")


@dataclass(frozen=True)
class AUCResult:
    """AUC with its percentile-bootstrap 95% CI."""

    auc: float
    lo: float
    hi: float
    n: int
    n_boot: int

    def covers(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def __str__(self) -> str:
        return f"{self.auc:.3f} [{self.lo:.3f}, {self.hi:.3f}]"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def auc_with_ci(
    y: np.ndarray, p: np.ndarray, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> AUCResult:
    """AUC and its percentile-bootstrap CI (resampling images with replacement)."""
    y, p = _check(y, p)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n_boot, len(y)))
    boots = _auc_many(y, p, idx)
    boots = boots[~np.isnan(boots)]
    a = (1 - level) / 2
    lo, hi = np.quantile(boots, [a, 1 - a]) if len(boots) else (np.nan, np.nan)
    return AUCResult(roc_auc(y, p), float(lo), float(hi), len(y), n_boot)


def paired_auc_difference(
    y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, *, n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """``AUC(a) - AUC(b)`` on the same images, with a paired percentile-bootstrap 95% CI."""
    y, p_a = _check(y, p_a)
    _, p_b = _check(y, p_b)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n_boot, len(y)))
    d = _auc_many(y, p_a, idx) - _auc_many(y, p_b, idx)
    d = d[~np.isnan(d)]
    lo, hi = np.quantile(d, [0.025, 0.975])
    return {"diff": roc_auc(y, p_a) - roc_auc(y, p_b), "lo": float(lo), "hi": float(hi)}


def summarize(y: np.ndarray, p: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """AUC with CI, accuracy at 0.5, sensitivity and specificity, and the ROC curve."""
    y, p = _check(y, p)
    res = auc_with_ci(y, p, n_boot=n_boot, seed=seed)
    pred = p >= 0.5
    fpr, tpr, _ = roc_curve(y, p)
    return {
        "auc": res.auc,
        "auc_ci": [res.lo, res.hi],
        "acc": accuracy(y, p),
        "sensitivity": float(pred[y == 1].mean()) if (y == 1).any() else float("nan"),
        "specificity": float((~pred[y == 0]).mean()) if (y == 0).any() else float("nan"),
        "n": int(len(y)),
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
    }
