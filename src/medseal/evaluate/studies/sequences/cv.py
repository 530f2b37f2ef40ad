"""The training step of the sequence study: cross-validation of one network, plaintext and
MORE side by side (seed 003's protocol).

Where it sits: evaluate stage, a step of :mod:`medseal.evaluate.studies.sequences`.
For every seed: patient-grouped folds, an inner patient-grouped validation
split, one plaintext training per fold and, where asked, the same training on
MORE ciphertexts from the same initial weights and batch order; per fold the
seed's metrics (and image/patient levels), the plain/MORE weight and logit
differences and the cost ratio; per network the summary over folds and the
out-of-fold patient scores averaged over seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medseal.evaluate.metrics import binary_metrics, fold_summary
from medseal.evaluate.studies.sequences.config import SequenceStudyConfig
from medseal.models.more_folds import (
    FoldMode,
    FoldRun,
    grouped_folds,
    inner_validation_split,
    run_fold,
)
from medseal.models.nets.sequence_net import SequenceNet
from medseal.models.nets.sequence_nets import SequenceNetName, build_sequence_net
from medseal.models.sequences import SequenceSet, weighted_votes
from medseal.privacy.more import MoreKey

__all__ = ["CVRun", "cross_validate", "level_metrics"]

F64 = NDArray[np.float64]


@dataclass
class CVRun:
    """What every network's CV shares: the data, the seeds, the MORE key, the patients."""

    config: SequenceStudyConfig
    data: SequenceSet
    key: MoreKey | None
    say: Callable[[str], None]

    @property
    def groups_sorted(self) -> list[str]:
        return sorted(set(self.data.groups))

    @property
    def has_levels(self) -> bool:
        return all(len(k) == self.data.x.shape[1] for k in self.data.keys)

    @property
    def n_encrypted(self) -> int:
        c = self.config
        return c.folds if c.encrypted_folds is None else min(c.folds, c.encrypted_folds)


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


_Split = tuple[NDArray[np.intp], NDArray[np.intp]]


def _fold_row(
    run: CVRun, net: SequenceNet, name: str, s_i: int, run_seed: int, k: int, split: _Split
) -> tuple[dict[str, Any], dict[FoldMode, FoldRun]]:
    """Train one fold plain (and on MORE where asked); its metrics, equality and cost ratio."""
    config, data = run.config, run.data
    train_idx, test_idx = split
    fit_idx, val_idx = inner_validation_split(
        train_idx, data.y, data.groups, fraction=config.val_fraction, seed=run_seed + k
    )
    encrypt_here = run.key is not None and k < run.n_encrypted and s_i < config.more_seeds
    modes = [FoldMode.PLAIN] + ([FoldMode.MORE] if encrypt_here else [])
    row: dict[str, Any] = {
        "seed": run_seed,
        "fold": k,
        "n_fit": len(fit_idx),
        "n_val": len(val_idx),
        "n_test": len(test_idx),
        "test_patients": len({data.groups[i] for i in test_idx}),
    }
    runs: dict[FoldMode, FoldRun] = {}
    for mode in modes:
        r = run_fold(
            net, data.x, data.y.astype(np.float64), fit_idx, val_idx, test_idx, mode=mode,
            init_seed=run_seed * 1000 + k, config=config.train_config(k, run_seed), key=run.key,
        )  # fmt: skip
        runs[mode] = r
        row[mode] = {
            "metrics": binary_metrics(data.y[test_idx], r.test_logits),
            "epochs": r.epochs,
            "best_epoch": r.best_epoch,
            "train_seconds": r.train_seconds,
            "inference_seconds": r.inference_seconds,
            "client_seconds": r.client_seconds,
            "history": r.history,
            **r.extra,
        }
        if run.has_levels:
            row[mode]["levels"] = level_metrics(data, test_idx, r.test_logits)
        run.say(
            f"{name} seed {run_seed} fold {k} {mode}: {r.epochs} epochs, "
            f"train {r.train_seconds:.1f}s, AUC {row[mode]['metrics']['auc']:.3f}"
        )
    if FoldMode.MORE in runs:
        p, c = runs[FoldMode.PLAIN], runs[FoldMode.MORE]
        row["equality"] = {
            "max_abs_weight_diff": float(
                max(np.max(np.abs(p.params[n] - c.params[n])) for n in p.params)
            ),
            "max_abs_logit_diff": float(np.max(np.abs(p.test_logits - c.test_logits))),
            "same_epochs": p.epochs == c.epochs and p.best_epoch == c.best_epoch,
        }
        row["cost_ratio"] = c.train_seconds / max(p.train_seconds, 1e-9)
    return row, runs


def _net_entry(
    net: SequenceNet, fold_rows: list[dict[str, Any]], has_levels: bool
) -> dict[str, Any]:
    """One network's summary over its folds: per mode, cost ratios, plain/MORE equality."""
    n_params = SequenceNet.n_params(net.init_params(0))
    entry: dict[str, Any] = {"params": n_params, "architecture": repr(net), "folds": fold_rows}
    for mode in FoldMode:
        rows = [r[mode] for r in fold_rows if mode in r]
        if not rows:
            continue
        n_test = sum(r["n_test"] for r in fold_rows if mode in r)
        inference = float(sum(r["inference_seconds"] for r in rows))
        entry[mode] = {
            "folds": len(rows),
            "seeds": sorted({r["seed"] for r in fold_rows if mode in r}),
            "metrics": fold_summary([r["metrics"] for r in rows]),
            "train_seconds": float(sum(r["train_seconds"] for r in rows)),
            "inference_seconds": inference,
            "inference_ms_per_sequence": 1000.0 * inference / max(1, n_test),
            "epochs": [r["epochs"] for r in rows],
        }
        if has_levels:
            entry[mode]["image_metrics"] = fold_summary([r["levels"]["image"] for r in rows])
            entry[mode]["patient_metrics"] = fold_summary([r["levels"]["patient"] for r in rows])
    entry["cost_ratios"] = [
        {"seed": r["seed"], "fold": r["fold"], "more_over_plain": r["cost_ratio"]}
        for r in fold_rows
        if "cost_ratio" in r
    ]
    eq = [r["equality"] for r in fold_rows if "equality" in r]
    if eq:
        worst = max(e["max_abs_weight_diff"] for e in eq)
        same = all(e["same_epochs"] for e in eq)
        entry["equality"] = {
            "max_abs_weight_diff": worst,
            "max_abs_logit_diff": max(e["max_abs_logit_diff"] for e in eq),
            "all_same_epochs": same,
            "tolerance": 1e-8,
            "passed": bool(worst <= 1e-8 and same),
        }
    return entry


def cross_validate(run: CVRun, name: SequenceNetName) -> tuple[dict[str, Any], F64, dict[str, F64]]:
    """The repeated CV of one network: its entry, its patient scores averaged over seeds, and
    the last ciphertext-trained weights (for the attacks)."""
    config, data = run.config, run.data
    x = data.x
    net = build_sequence_net(
        name, frames=x.shape[1], size=x.shape[3], conv_channels=config.conv_channels,
        hidden=config.hidden, in_channels=x.shape[2],
    )  # fmt: skip
    fold_rows: list[dict[str, Any]] = []
    seeds = config.run_seeds
    groups = run.groups_sorted
    patient_scores = np.zeros((len(seeds), len(groups)))
    last_weights: dict[str, F64] = {}
    for s_i, run_seed in enumerate(seeds):
        folds = grouped_folds(data.y, data.groups, n_splits=config.folds, seed=run_seed)
        oof = np.full(len(data), np.nan)
        for k, split in enumerate(folds):
            row, runs = _fold_row(run, net, name, s_i, run_seed, k, split)
            oof[split[1]] = runs[FoldMode.PLAIN].test_logits
            if FoldMode.MORE in runs:
                last_weights = {n: v for n, v in runs[FoldMode.MORE].params.items() if v.ndim >= 2}
            fold_rows.append(row)
        if run.has_levels:
            _, pats = weighted_votes(oof, data.keys, data.groups)
            patient_scores[s_i] = [pats[g] for g in groups]
    return _net_entry(net, fold_rows, run.has_levels), patient_scores.mean(axis=0), last_weights
