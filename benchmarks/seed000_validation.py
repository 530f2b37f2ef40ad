"""Choose seed000's epochs, width and augmentation on the VALIDATION split only.

Trains the plaintext ResNet-18 and the Masked-CNN (shuffle+negpos) of
``medseal evaluate seed000`` for each candidate setting and prints the
validation AUC of the selected (best validation loss) epoch and the seconds
per model. The test split is never loaded into a model here. The chosen
setting and this script's output are recorded in docs/seed000.md.

    PYTHONPATH=src python benchmarks/seed000_validation.py --data pneumoniamnist \
        --data-dir ../shared/data --grid "8:16:keyfree,12:16:keyfree,12:16:block"
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from medseal.crypto import KeyRing
from medseal.models.data import load_dataset
from medseal.models.nets import MaskedCNN, ResNet18
from medseal.models.train import TrainConfig, fit
from medseal.privacy.masking import make_scheme
from medseal.privacy.masking.augment import KeyFreeAugment


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="pneumoniamnist")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--grid", default="8:16:keyfree,12:16:keyfree")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    data = load_dataset(args.data, args.data_dir, seed=0, limit=args.limit)
    size = int(data.train.x.shape[1])
    block = 4 if size % 8 else 8
    n_cls = int(data.meta.get("n_classes", 2))
    n_out = n_cls if n_cls > 2 else 1
    key = KeyRing.in_memory(seed=f"medseal/seed000/{args.seed}".encode()).derive(
        f"mask/{data.name}"
    )
    scheme = make_scheme("shuffle+negpos", key=key, block=block, bit_depth=8)
    mtrain, mval = (
        data.train.with_x(scheme.mask(data.train.x)),
        data.val.with_x(scheme.mask(data.val.x)),
    )
    for cand in args.grid.split(","):
        epochs_s, width_s, aug_name = cand.split(":")
        epochs, width = int(epochs_s), int(width_s)
        aug = {
            "none": None,
            "block": KeyFreeAugment(shift=2 * block, shift_step=block),
            "keyfree": KeyFreeAugment(shift=2 * block, shift_step=block, contrast=0.2, gamma=0.2),
            "keyfree+noise": KeyFreeAugment(
                shift=2 * block, shift_step=block, contrast=0.2, gamma=0.2, noise=4.0
            ),
            "keyfree+mixup": KeyFreeAugment(
                shift=2 * block, shift_step=block, contrast=0.2, gamma=0.2, mixup=0.2
            ),
        }[aug_name]
        row = {"epochs": epochs, "width": width, "augment": aug_name}
        for name, model, tr, va in (
            (
                "plain",
                lambda: ResNet18(num_classes=n_out, width=width, image_size=size),
                data.train,
                data.val,
            ),
            (
                "masked",
                lambda: MaskedCNN(
                    block, num_classes=n_out, width=width, body="resnet18", image_size=size
                ),
                mtrain,
                mval,
            ),
        ):
            torch.manual_seed(args.seed)
            net = model()
            t, c = time.perf_counter(), time.process_time()
            res = fit(
                net, tr, va,
                TrainConfig(epochs=epochs, patience=100, seed=args.seed, threads=args.threads, augment=aug),
            )  # fmt: skip
            best = next(h for h in res.history if int(h["epoch"]) == res.best_epoch)
            row[f"{name}_val_auc"] = round(best["val_auc"], 4)
            row[f"{name}_best_epoch"] = res.best_epoch
            row[f"{name}_s"] = round(time.perf_counter() - t, 1)
            row[f"{name}_cpu_s"] = round(time.process_time() - c, 1)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
