"""Diagnostic metrics and every bootstrap confidence interval of the studies.

Where it sits: evaluate stage; consumes the probabilities of
:func:`medseal.models.predict_proba` and the logits of the sequence study.
ROC AUC is ``sklearn.metrics.roc_auc_score`` (via :func:`medseal.models.scores.roc_auc`);
the bootstrap draws use a vectorised Mann-Whitney form of it, tested equal.
CIs are percentile bootstraps with an explicit seed, over test images, over
test patients (a cluster bootstrap, ``groups=``), or stratified by class over
patients (:func:`stratified_bootstrap_aucs`, with paired differences); a
paired bootstrap gives the CI of an AUC difference on the same images, and
:func:`seeds_summary` that of a mean gap over seeds (one draw shared by all).
``(N, K)`` scores get the macro one-vs-rest AUC, as MedMNIST's evaluator.
:func:`binary_metrics` are seed 003's threshold metrics (scikit-learn).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from medseal.errors import InputError
from medseal.models.scores import roc_auc as _roc_auc

__all__ = [
    "BINARY_METRICS",
    "AUCResult",
    "accuracy",
    "auc_with_ci",
    "binary_metrics",
    "fold_summary",
    "majority_rate",
    "paired_auc_difference",
    "roc_auc",
    "roc_curve",
    "seeds_summary",
    "stratified_bootstrap_aucs",
    "summarize",
]

#: the seed 003 metrics of :func:`binary_metrics`, in table order
BINARY_METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "auc")


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int64).ravel()
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] > 1:
        if p.shape[0] != y.shape[0]:
            raise InputError(f"labels {y.shape} and scores {p.shape} differ in length")
        if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
            raise InputError(f"labels must lie in 0..{p.shape[1] - 1}")
        return y, p
    p = p.ravel()
    if y.shape != p.shape:
        raise InputError(f"labels {y.shape} and scores {p.shape} differ in shape")
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0 or 1")
    return y, p


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve; ``nan`` when only one class is present.

    ``p`` of shape ``(N, K)``: macro one-vs-rest AUC (mean over the classes
    present). Checks the labels, then :func:`medseal.models.scores.roc_auc`
    (scikit-learn), the one AUC of the code base.
    """
    return _roc_auc(*_check(y, p))


def _macro(
    auc: Callable[[np.ndarray, np.ndarray], np.ndarray], y: np.ndarray, p: np.ndarray
) -> np.ndarray:
    """Macro one-vs-rest: the mean over classes of ``auc(y == k, p[:, k])`` per draw."""
    per = np.stack([auc((y == k).astype(np.int64), p[:, k]) for k in range(p.shape[1])])
    with np.errstate(invalid="ignore"):
        return np.nanmean(per, axis=0) if np.isfinite(per).any() else per[0]


def _auc_many(y: np.ndarray, p: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """AUC for each row of resampling indices ``idx`` (B, n); macro one-vs-rest for ``(N, K)``."""
    if p.ndim == 2:
        return _macro(lambda yk, pk: _auc_many(yk, pk, idx), y, p)
    ys = y[idx]
    ranks = rankdata(p[idx], axis=1)
    n1 = ys.sum(axis=1).astype(np.float64)
    n0 = ys.shape[1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * ys).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), auc, np.nan)


def _cluster_weights(groups: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Cluster-bootstrap weights ``(B, N)``: each draw resamples the *groups* (patients)
    with replacement; an image counts as often as its group was drawn."""
    codes = np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
    g = int(codes.max()) + 1 if codes.size else 0
    draws = rng.integers(0, g, size=(n_boot, g))
    counts = np.zeros((n_boot, g))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts[:, codes]


def _auc_weighted(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """AUC (Mann-Whitney, ties one half) for each row of image weights ``w`` (B, N)."""
    if p.ndim == 2:
        return _macro(lambda yk, pk: _auc_weighted(yk, pk, w), y, p)
    levels, inv = np.unique(p, return_inverse=True)
    inv = inv.ravel()

    def per_level(mask: np.ndarray) -> np.ndarray:
        out = np.zeros((w.shape[0], len(levels)))
        cols = np.flatnonzero(mask)
        if cols.size:
            order = cols[np.argsort(inv[cols], kind="stable")]
            lv = inv[order]
            starts = np.r_[0, np.flatnonzero(np.diff(lv)) + 1]
            out[:, lv[starts]] = np.add.reduceat(w[:, order], starts, axis=1)
        return out

    pos, neg = per_level(y == 1), per_level(y == 0)
    below = np.cumsum(neg, axis=1) - neg
    n1, n0 = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos * (below + 0.5 * neg)).sum(axis=1) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), auc, np.nan)


def _boot_aucs(
    y: np.ndarray,
    ps: list[np.ndarray],
    n_boot: int,
    seed: int,
    groups: np.ndarray | None,
) -> list[np.ndarray]:
    """Bootstrap AUCs of every score set in ``ps`` on one shared set of draws: images
    resampled (``groups=None``) or whole groups (patients) resampled."""
    rng = np.random.default_rng(seed)
    if groups is None:
        idx = rng.integers(0, len(y), size=(n_boot, len(y)))
        return [_auc_many(y, p, idx) for p in ps]
    g = np.asarray(groups).ravel()
    if g.shape[0] != len(y):
        raise InputError(f"groups ({g.shape[0]}) and labels ({len(y)}) differ in length")
    w = _cluster_weights(g, n_boot, rng)
    return [_auc_weighted(y, p, w) for p in ps]


def _ci(draws: np.ndarray, q: list[float]) -> list[float]:
    """Percentile CI of bootstrap ``draws`` at quantiles ``q``, undefined draws left out."""
    d = draws[~np.isnan(draws)]
    return [float(x) for x in np.quantile(d, q)] if len(d) else [float("nan")] * len(q)


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


def _predict(p: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    return p.argmax(axis=1) if p.ndim == 2 else (p >= threshold).astype(np.int64)


def accuracy(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> float:
    """Share of right predictions (threshold for one score, arg-max for ``(N, K)``)."""
    y, p = _check(y, p)
    return float((_predict(p, threshold) == y).mean()) if len(y) else float("nan")


def majority_rate(y: np.ndarray) -> float:
    """Accuracy of always predicting the most frequent class: what ACC must beat."""
    y = np.asarray(y).astype(np.int64).ravel()
    return float(np.bincount(y).max() / len(y)) if len(y) else float("nan")


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
    y: np.ndarray,
    p: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    groups: np.ndarray | None = None,
) -> AUCResult:
    """AUC and its percentile-bootstrap CI (resampling images with replacement, or
    whole groups when ``groups`` gives each image's patient: a cluster bootstrap)."""
    y, p = _check(y, p)
    boots = _boot_aucs(y, [p], n_boot, seed, groups)[0]
    a = (1 - level) / 2
    lo, hi = _ci(boots, [a, 1 - a])
    return AUCResult(roc_auc(y, p), lo, hi, len(y), n_boot)


def paired_auc_difference(
    y: np.ndarray,
    p_a: np.ndarray,
    p_b: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> dict[str, float]:
    """``AUC(a) - AUC(b)`` on the same images, with a paired percentile-bootstrap 95% CI
    (over images, or over the ``groups`` (patients) when given)."""
    y, p_a = _check(y, p_a)
    _, p_b = _check(y, p_b)
    ba, bb = _boot_aucs(y, [p_a, p_b], n_boot, seed, groups)
    lo, hi = _ci(ba - bb, [0.025, 0.975])
    return {"diff": roc_auc(y, p_a) - roc_auc(y, p_b), "lo": lo, "hi": hi}


def seeds_summary(
    y: np.ndarray,
    probs_a: list[np.ndarray],
    probs_b: list[np.ndarray],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    groups: np.ndarray | None = None,
) -> dict[str, Any]:
    """Mean AUC over seeds of models ``a`` and ``b`` and the CI of the mean gap ``a - b``.

    ``probs_a[s]`` and ``probs_b[s]`` are the scores of seed ``s`` on the same test
    images ``y``. Each bootstrap draw resamples the test images once and uses that
    draw for every seed and both models (paired, combined over seeds), so the CI
    covers the test-set sampling of the mean gap. The t-interval over seeds (from
    the per-seed gaps, ``n_seeds - 1`` degrees of freedom) is given beside it.
    With ``groups`` (each test image's patient), each draw resamples whole
    patients instead of images (cluster bootstrap): images of one patient are
    not independent, and resampling them one by one makes the CI too narrow.

    Returns
    -------
    dict
        ``a``/``b``: ``{"mean", "ci", "per_seed"}``; ``gap``: ``{"mean", "ci",
        "per_seed", "t_ci", "method"}``; ``n_seeds``.
    """
    from scipy import stats

    if not probs_a or len(probs_a) != len(probs_b):
        raise InputError("need the same number (>= 1) of score sets for both models")
    y, _ = _check(y, probs_a[0])
    pa = [_check(y, p)[1] for p in probs_a]
    pb = [_check(y, p)[1] for p in probs_b]
    boots = _boot_aucs(y, [*pa, *pb], n_boot, seed, groups)
    boot_a = np.mean(boots[: len(pa)], axis=0)
    boot_b = np.mean(boots[len(pa) :], axis=0)
    gap = boot_a - boot_b
    q = [(1 - level) / 2, 1 - (1 - level) / 2]

    per_a = [roc_auc(y, p) for p in pa]
    per_b = [roc_auc(y, p) for p in pb]
    per_gap = [a - b for a, b in zip(per_a, per_b, strict=True)]
    n = len(per_gap)
    if n >= 2:
        half = float(stats.t.ppf(q[1], n - 1) * np.std(per_gap, ddof=1) / np.sqrt(n))
        t_ci = [float(np.mean(per_gap)) - half, float(np.mean(per_gap)) + half]
    else:
        t_ci = [float("nan"), float("nan")]
    return {
        "n_seeds": n,
        "a": {"mean": float(np.mean(per_a)), "ci": _ci(boot_a, q), "per_seed": per_a},
        "b": {"mean": float(np.mean(per_b)), "ci": _ci(boot_b, q), "per_seed": per_b},
        "gap": {
            "mean": float(np.mean(per_gap)),
            "ci": _ci(gap, q),
            "per_seed": per_gap,
            "t_ci": t_ci,
            "method": (
                "paired bootstrap over test images"
                if groups is None
                else "paired cluster bootstrap over test patients (all images of a drawn "
                "patient together)"
            )
            + f", one draw shared by all seeds and both models ({n_boot} draws); "
            f"t-interval over the {n} per-seed gaps beside it",
        },
    }


def summarize(
    y: np.ndarray,
    p: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> dict[str, Any]:
    """AUC with CI, accuracy (beside the majority-class rate), sensitivity, specificity, ROC.

    For ``(N, K)`` scores: macro one-vs-rest AUC, arg-max accuracy, no
    sensitivity/specificity (``nan``) and no ROC curve.
    """
    y, p = _check(y, p)
    res = auc_with_ci(y, p, n_boot=n_boot, seed=seed, groups=groups)
    out: dict[str, Any] = {
        "auc": res.auc,
        "auc_ci": [res.lo, res.hi],
        "acc": accuracy(y, p),
        "majority_rate": majority_rate(y),
        "n": int(len(y)),
        "n_classes": int(p.shape[1]) if p.ndim == 2 else 2,
    }
    if p.ndim == 2:
        out.update(sensitivity=float("nan"), specificity=float("nan"), roc=None)
        return out
    pred = p >= 0.5
    fpr, tpr, _ = roc_curve(y, p)
    out.update(
        sensitivity=float(pred[y == 1].mean()) if (y == 1).any() else float("nan"),
        specificity=float((~pred[y == 0]).mean()) if (y == 0).any() else float("nan"),
        roc={"fpr": fpr.tolist(), "tpr": tpr.tolist()},
    )
    return out


def binary_metrics(y_true: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """The seed 003 metrics (:data:`BINARY_METRICS`) with scikit-learn, threshold logit 0."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    y = np.asarray(y_true).astype(int)
    pred = (np.asarray(logits) > 0).astype(int)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "specificity": float(recall_score(y, pred, pos_label=0, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "auc": _roc_auc(y, np.asarray(logits)),
    }


def fold_summary(values: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and sd over folds of each of :data:`BINARY_METRICS` (undefined folds left out)."""
    out = {}
    for m in BINARY_METRICS:
        arr = np.asarray([v[m] for v in values], dtype=np.float64)
        out[m] = {"mean": float(np.nanmean(arr)), "std": float(np.nanstd(arr))}
    return out


def stratified_bootstrap_aucs(
    y: np.ndarray, scores: dict[str, np.ndarray], n_boot: int, seed: int
) -> dict[str, Any]:
    """AUC of each score set (one per patient) with a percentile bootstrap CI, paired CIs
    of every pairwise difference, and the ranking. Each draw resamples positives and
    negatives apart (stratified: both classes always present), shared by all sets."""
    rng = np.random.default_rng(seed + 31337)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    draws: dict[str, list[float]] = {k: [] for k in scores}
    for _ in range(n_boot):
        b = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        for k, v in scores.items():
            draws[k].append(_roc_auc(y[b], v[b]))
    q = [0.025, 0.975]
    out: dict[str, Any] = {"patients": len(y), "resamples": n_boot, "auc": {}, "differences": {}}
    for k, v in scores.items():
        out["auc"][k] = {"estimate": _roc_auc(y, v), "ci": _ci(np.asarray(draws[k]), q)}
    names = list(scores)
    for i, a in enumerate(names):
        for b_name in names[i + 1 :]:
            d = np.asarray(draws[a]) - np.asarray(draws[b_name])
            out["differences"][f"{a} - {b_name}"] = {
                "estimate": out["auc"][a]["estimate"] - out["auc"][b_name]["estimate"],
                "ci": _ci(d, q),
            }
    out["ranking"] = sorted(names, key=lambda k: -out["auc"][k]["estimate"])
    return out
