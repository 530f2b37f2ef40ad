"""Design trials of the HE-CNN, chosen on the VALIDATION split only (goal: plaintext AUC >= 0.95).

Each trial trains :func:`medseal.evaluate.he.train_he_cnn` with one setting
changed and reports the plaintext AUC on PneumoniaMNIST's official validation
split (the test split is not touched here; ``medseal evaluate he`` scores the
chosen design on it once). One JSON line per trial is appended to ``--out``.

Usage::

    python benchmarks/he_trials.py --data-dir ../shared/data [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from medseal.evaluate.he import HEStudyConfig, train_he_cnn
from medseal.evaluate.metrics import auc_with_ci
from medseal.models.data import load_dataset
from medseal.models.nets.he_cnn import HEClassifier

BASE = HEStudyConfig()
TRIALS: dict[str, dict[str, Any]] = {
    "base": {},  # the study's default: 60 epochs, patience 15 (chosen by these trials)
    "epochs30": {"epochs": 30, "patience": 8},  # the default before
    "shift2": {"shift": 2, "epochs": 30, "patience": 8},
    "filters12": {"channels": 12, "epochs": 30, "patience": 8},
    "shift2-filters12-epochs60": {"shift": 2, "channels": 12, "epochs": 60, "patience": 15},
    "shift2-contrast": {"shift": 2, "contrast": 0.2},
    "conv2-8x3s2-pool5": {"conv2": (8, 3, 2), "pool": 5, "profile": "128-deep"},
    "conv2-8x3s1-pool2": {"conv2": (8, 3, 1), "pool": 2, "profile": "128-deep"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", default="pneumoniamnist")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--only", nargs="*", default=None, help="trial names (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/he_trials.jsonl"))
    args = ap.parse_args()
    data = load_dataset(args.data, args.data_dir, seed=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name, change in TRIALS.items():
        if args.only and name not in args.only:
            continue
        cfg = replace(BASE, data=args.data, threads=args.threads, **change)
        t0 = time.perf_counter()
        net, trained = train_he_cnn(cfg, data)
        clf = HEClassifier(net)
        val = auc_with_ci(data.val.y, clf.predict(data.val.x, mode="plain"), n_boot=1000)
        row = {
            "trial": name,
            "change": {k: list(v) if isinstance(v, tuple) else v for k, v in change.items()},
            "val_auc": val.to_json(),
            "epochs_run": trained.epochs_run,
            "best_epoch": trained.best_epoch,
            "params": sum(p.numel() for p in net.parameters()),
            "seconds": time.perf_counter() - t0,
            "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
        }
        print(json.dumps({k: row[k] for k in ("trial", "val_auc", "epochs_run", "seconds")}))
        with args.out.open("a") as fh:
            fh.write(json.dumps(row, default=str) + "\n")


if __name__ == "__main__":
    main()
