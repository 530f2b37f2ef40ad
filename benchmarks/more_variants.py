"""Seed 003 on BreaKHis: which input variant to use, chosen on validation data only.

For each variant the plaintext networks are trained with the protocol of
``medseal evaluate seed003 --data breakhis`` (patient-grouped 4-fold CV over
the given seeds, inner patient-grouped 20 % validation split, early stopping
on its loss), and scored on the **inner validation patients** of every
training fold. The outer test folds are never predicted. Every variant uses
the same patients in the same fit / validation parts (folds are drawn once on
patients from the default variant's sequences).

Variants (a histopathology practitioner's first tries):

- ``base``: RGB 16 px frames, windows of 3 fields of view (the default);
- ``stain``: the same with per-image colour standardisation (each channel of
  each frame to mean 0.5, sd 0.2: a Reinhard-style normalisation in RGB);
- ``t5``: windows of 5;
- ``px32``: 32 px frames;
- ``overlap``: the ``base`` models, voted at validation time over every
  window of stride 1 (each field of view in up to 3 windows).

Usage::

    python benchmarks/more_variants.py --data-dir ../shared/data --variants base,stain,t5
        [--nets conv-bilstm,cnn] [--seeds 0,1,2] [--out benchmarks/results/more_variants.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from medseal.evaluate.seed003 import Seed003Config
from medseal.models import breakhis_sequences as seq_mod
from medseal.models.backend import NumpyBackend
from medseal.models.more_folds import grouped_folds, inner_validation_split, run_fold
from medseal.models.more_train import predict
from medseal.models.nets.sequence_nets import build_sequence_net
from medseal.models.sequences import SequenceSet, load_sequences, weighted_votes

F64 = np.ndarray


def _standardise(x: F64, mean: float = 0.5, sd: float = 0.2) -> F64:
    """Each channel of each frame to ``mean``/``sd`` (clipped to [0, 1])."""
    mu = x.mean(axis=(-2, -1), keepdims=True)
    s = x.std(axis=(-2, -1), keepdims=True)
    return np.clip((x - mu) / np.maximum(s, 1e-6) * sd + mean, 0.0, 1.0)


def _overlapping(data_dir: str | None, size: int, length: int) -> SequenceSet:
    """The sequences with stride-1 field-of-view windows (every window of ``length``)."""
    orig = seq_mod._stride_windows

    def stride1(items: list[Any], n: int) -> list[list[Any]]:
        if len(items) < n:
            return orig(items, n)
        return [items[s : s + n] for s in range(len(items) - n + 1)]

    seq_mod._stride_windows = stride1  # type: ignore[assignment]
    try:
        return load_sequences("breakhis", data_dir, size=size, length=length, colour=True)
    finally:
        seq_mod._stride_windows = orig  # type: ignore[assignment]


def _rows(data: SequenceSet, patients: set[str]) -> np.ndarray:
    return np.asarray([i for i, g in enumerate(data.groups) if g in patients], dtype=np.intp)


def _patient_auc(data: SequenceSet, idx: np.ndarray, logits: F64) -> tuple[float, dict[str, float]]:
    from sklearn.metrics import roc_auc_score

    _, pats = weighted_votes(logits, [data.keys[i] for i in idx], [data.groups[i] for i in idx])
    label = {data.groups[i]: int(data.y[i]) for i in idx}
    keys = sorted(pats)
    y = [label[k] for k in keys]
    auc = float(roc_auc_score(y, [pats[k] for k in keys])) if len(set(y)) == 2 else float("nan")
    return auc, pats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--variants", default="base,stain,t5,px32")
    ap.add_argument("--nets", default="conv-bilstm,cnn")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default="benchmarks/results/more_variants.json")
    args = ap.parse_args()
    cfg = Seed003Config(dataset="breakhis", max_epochs=60, colour=True, data_dir=args.data_dir)
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    base = load_sequences("breakhis", args.data_dir, size=16, length=3, colour=True)
    settings = {
        "base": (16, 3, False),
        "stain": (16, 3, True),
        "t5": (16, 5, False),
        "px32": (32, 3, False),
    }
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = json.loads(out_path.read_text()) if out_path.exists() else {}
    for variant in variants:
        size, length, stain = settings[variant]
        data = (
            base
            if (size, length) == (16, 3)
            else load_sequences("breakhis", args.data_dir, size=size, length=length, colour=True)
        )
        x = _standardise(data.x) if stain else data.x
        y = data.y.astype(np.float64)
        over = _overlapping(args.data_dir, size, length) if variant == "base" else None
        for net_name in args.nets.split(","):
            net = build_sequence_net(net_name, frames=length, size=size, in_channels=3)
            folds_out = []
            pooled: list[tuple[int, float]] = []
            pooled_over: list[tuple[int, float]] = []
            t0 = time.perf_counter()
            for s in seeds:
                for k, (tr, _te) in enumerate(grouped_folds(base.y, base.groups, seed=s)):
                    fit_b, val_b = inner_validation_split(tr, base.y, base.groups, seed=s + k)
                    fit_p = {base.groups[i] for i in fit_b}
                    val_p = {base.groups[i] for i in val_b}
                    fit_i, val_i = _rows(data, fit_p), _rows(data, val_p)
                    run = run_fold(
                        net, x, y, fit_i, val_i, val_i, mode="plain",
                        init_seed=s * 1000 + k, config=cfg.train_config(k, s), curves=False,
                    )  # fmt: skip
                    auc, pats = _patient_auc(data, val_i, run.test_logits)
                    label = {data.groups[i]: int(data.y[i]) for i in val_i}
                    pooled += [(label[p], v) for p, v in pats.items()]
                    row = {"seed": s, "fold": k, "epochs": run.epochs, "val_patient_auc": auc}
                    if over is not None:
                        ov_i = _rows(over, val_p)
                        z = np.asarray(predict(net, NumpyBackend(), run.params, over.x[ov_i]))
                        auc_o, pats_o = _patient_auc(over, ov_i, z)
                        pooled_over += [(label[p], v) for p, v in pats_o.items()]
                        row["overlap_val_patient_auc"] = auc_o
                    folds_out.append(row)
                    print(variant, net_name, row, flush=True)
            from sklearn.metrics import roc_auc_score

            def summary(
                rows: list[dict[str, Any]], key: str, pool: list[tuple[int, float]]
            ) -> dict[str, Any]:
                vals = np.asarray([r[key] for r in rows], dtype=np.float64)
                return {
                    "mean_fold_auc": float(np.nanmean(vals)),
                    "sd_fold_auc": float(np.nanstd(vals)),
                    "pooled_auc": float(roc_auc_score([a for a, _ in pool], [b for _, b in pool])),
                    "entries": len(pool),
                }

            entry = {
                "size": size, "length": length, "stain": stain, "sequences": len(data),
                "seconds": time.perf_counter() - t0, "folds": folds_out,
                **summary(folds_out, "val_patient_auc", pooled),
            }  # fmt: skip
            result[f"{variant}/{net_name}"] = entry
            print(variant, net_name, {k: v for k, v in entry.items() if k != "folds"}, flush=True)
            if over is not None:
                result[f"overlap/{net_name}"] = {
                    "size": size, "length": length, "stain": False, "sequences": len(over),
                    **summary(folds_out, "overlap_val_patient_auc", pooled_over),
                }  # fmt: skip
                print("overlap", net_name, result[f"overlap/{net_name}"], flush=True)
            out_path.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
