"""Metrics of the sequence study (seed 003): per fold, per level, pooled over patients, goals.

Where it sits: evaluate stage, used by :mod:`medseal.evaluate.seed003`. The
seed's metrics with scikit-learn (accuracy, precision, recall, specificity, F1,
AUC) on one fold; image-level (unit vote) and patient-level (sequence vote)
metrics of a test fold; each network's pooled patient AUC with a stratified
bootstrap CI and paired CIs of the differences (the ranking); the issue's goals
judged by :mod:`medseal.evaluate.verdict`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from medseal.models.sequences import SequenceSet, weighted_votes

__all__ = [
    "METRICS",
    "binary_metrics",
    "bootstrap_auc",
    "goals",
    "level_metrics",
    "summarise",
]

F64 = NDArray[np.float64]
METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "auc")


def binary_metrics(y_true: NDArray[Any], logits: F64) -> dict[str, float]:
    """The seed's metrics with scikit-learn (threshold: logit 0, i.e. probability 0.5)."""
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y = np.asarray(y_true).astype(int)
    pred = (np.asarray(logits) > 0).astype(int)
    out = {
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "specificity": float(recall_score(y, pred, pos_label=0, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "auc": float(roc_auc_score(y, logits)) if len(np.unique(y)) == 2 else float("nan"),
    }
    return out


def summarise(values: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    out = {}
    for m in METRICS:
        arr = np.asarray([v[m] for v in values], dtype=np.float64)
        out[m] = {"mean": float(np.nanmean(arr)), "std": float(np.nanstd(arr))}
    return out


def level_metrics(
    data: SequenceSet, idx: NDArray[np.intp], logits: F64
) -> dict[str, dict[str, float]]:
    """Image-level (unit vote) and patient-level (sequence vote) metrics of one test fold."""
    images, patients = weighted_votes(
        logits, [data.keys[i] for i in idx], [data.groups[i] for i in idx]
    )
    label_of_group = {data.groups[i]: int(data.y[i]) for i in idx}
    label_of_image: dict[str, int] = {}
    for i in idx:
        for k in data.keys[i]:
            label_of_image[k] = int(data.y[i])
    img_keys = sorted(images)
    pat_keys = sorted(patients)
    return {
        "image": binary_metrics(
            np.asarray([label_of_image[k] for k in img_keys]),
            np.asarray([images[k] for k in img_keys]),
        ),
        "patient": binary_metrics(
            np.asarray([label_of_group[g] for g in pat_keys]),
            np.asarray([patients[g] for g in pat_keys]),
        ),
    }


def bootstrap_auc(
    y: NDArray[Any], scores: dict[str, F64], n_boot: int, seed: int
) -> dict[str, Any]:
    """AUC of each net's pooled patient scores with a percentile bootstrap CI over patients,
    and paired bootstrap CIs of every pairwise AUC difference (the ranking)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed + 31337)
    n = len(y)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    draws: dict[str, list[float]] = {k: [] for k in scores}
    for _ in range(n_boot):
        # stratified resample: both classes always present
        b = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        for k, v in scores.items():
            draws[k].append(float(roc_auc_score(y[b], v[b])))
    out: dict[str, Any] = {"patients": int(n), "resamples": n_boot, "auc": {}, "differences": {}}
    for k, v in scores.items():
        d = np.asarray(draws[k])
        out["auc"][k] = {
            "estimate": float(roc_auc_score(y, v)),
            "ci": [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))],
        }
    names = list(scores)
    for i, a in enumerate(names):
        for b_name in names[i + 1 :]:
            d = np.asarray(draws[a]) - np.asarray(draws[b_name])
            out["differences"][f"{a} - {b_name}"] = {
                "estimate": out["auc"][a]["estimate"] - out["auc"][b_name]["estimate"],
                "ci": [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))],
            }
    ranked = sorted(names, key=lambda k: -out["auc"][k]["estimate"])
    out["ranking"] = ranked
    return out


def goals(nets_out: dict[str, Any], pooled: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's goals judged with :mod:`medseal.evaluate.verdict` from the numbers."""
    from medseal.evaluate.verdict import Goal, judge

    out = []
    if pooled is not None:
        best = pooled["ranking"][0]
        a = pooled["auc"][best]
        out.append(
            judge(
                Goal(
                    "patient_auc_best_net",
                    f"plaintext patient-level AUC of the best network ({best}) >= 0.90",
                    0.90,
                ),
                a["estimate"],
                a["ci"],
            )
        )
    eq = [e["equality"] for e in nets_out.values() if "equality" in e]
    if eq:
        worst = max(e["max_abs_weight_diff"] for e in eq)
        same = all(e["all_same_epochs"] for e in eq)
        est = -worst if same else float("-inf")
        out.append(
            judge(
                Goal(
                    "more_identical",
                    "MORE-trained weights equal plaintext (minus max |weight diff| >= -1e-8, "
                    "same epochs; deterministic, CI is the value)",
                    -1e-8,
                ),
                est,
                [est, est],
            )
        )
    ratios = [r["more_over_plain"] for e in nets_out.values() for r in e.get("cost_ratios", [])]
    if ratios:
        arr = np.asarray(ratios)
        out.append(
            judge(
                Goal(
                    "more_cost",
                    "MORE training within 10x plaintext (minus the per-fold ratio >= -10; "
                    "CI: lowest..highest fold)",
                    -10.0,
                ),
                -float(np.median(arr)),
                [-float(arr.max()), -float(arr.min())],
            )
        )
    if pooled is not None:
        for pair, d in pooled["differences"].items():
            out.append(
                judge(
                    Goal(f"rank {pair}", f"patient-level AUC {pair} > 0", 0.0),
                    d["estimate"],
                    d["ci"],
                )
            )
    return out
