"""The masking study, end to end: Masked-CNN vs plaintext vs AES ciphertext, leakage, attacks.

Where it sits: evaluate stage, on top of ``models`` and ``privacy``. One call
of :func:`run_masked_study` (CLI: ``medseal evaluate seed000``) trains the
three models, measures every claim of seed 000 and returns a JSON-able dict
that :mod:`medseal.evaluate.report` turns into one HTML page.

What is compared, on the same test images:

- **plaintext**: :class:`~medseal.models.ResNet18` on the pixels (baseline);
- **masked**: :class:`~medseal.models.MaskedCNN` on keyed masked images
  (``shuffle+negpos`` by default), what seed 000 calls "partially masked".
  By default its body is the baseline's own ResNet-18 behind a block-wise
  adaptation layer (``masked_body="resnet18"``), so the masked model is the
  plaintext network plus one learnable block map, not a different design;
- **AES control**: the same Masked-CNN on AES-256-GCM ciphertext bytes of the
  same images. A secure cipher leaves nothing to learn, so this must be at
  chance; it is what "a CNN on AES-encrypted images" really gives.

Protocol (docs/seed000.md): every model trains for a fixed number of epochs
with a one-cycle schedule sized to them and keeps its best-validation-loss
weights; the clock only guards (a run over ``budget_s`` fails). All models of
all seeds are trained first; then the test split is read, once per model.
Comparisons are means over ``seeds`` with the paired bootstrap CI of the mean
gap (test images resampled once per draw for every seed), and each goal's
verdict (met / missed / inconclusive) follows from that CI
(:mod:`medseal.evaluate.verdict`).

Augmentation: by default key-free maps that commute with the masking
(:class:`~medseal.privacy.masking.augment.KeyFreeAugment`), the same for the
plaintext baseline. ``masked_augment="owner"`` (the key holder masks shifted
copies) hands the analyst the key; it needs ``allow_key_leak=True`` and the
report prints the views attack's result beside its figures.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from medseal.errors import InputError
from medseal.evaluate.metrics import paired_auc_difference, seeds_summary, summarize
from medseal.evaluate.studies import costs
from medseal.evaluate.studies.masking.attacks import measure_attacks, measure_leakage
from medseal.evaluate.studies.masking.claims import judge_goals, seed_claims
from medseal.evaluate.studies.masking.config import MaskedAugment, MaskingStudyConfig
from medseal.evaluate.studies.masking.prepare import MODELS, SeedRun, augmentations, prepare_seed
from medseal.evaluate.studies.training import train_all
from medseal.models.data import SplitData
from medseal.models.dataset_splits import load_dataset
from medseal.models.inference import predict_proba
from medseal.privacy.masking import make_scheme

__all__ = ["run_masked_study"]

log = logging.getLogger(__name__)


def _results(
    data: SplitData,
    runs: list[SeedRun],
    probs: dict[str, list[np.ndarray]],
    cfg: MaskingStudyConfig,
) -> dict[str, Any]:
    """AUCs of every model with bootstrap CIs, per seed, and the mean masked - plaintext gap."""
    test, y, seeds = data.test, data.test.y, cfg.seed_list
    results: dict[str, Any] = {}
    for name in MODELS:
        results[name] = summarize(
            y, probs[name][0], n_boot=cfg.n_boot, seed=seeds[0], groups=test.groups
        )
        results[name]["seed"] = seeds[0]
    results["per_seed"] = [
        {
            "seed": run.seed,
            **{
                name: {
                    k: v
                    for k, v in summarize(
                        y, probs[name][i], n_boot=cfg.n_boot, seed=run.seed, groups=test.groups
                    ).items()
                    if k != "roc"
                }
                for name in ("plain", "masked")
            },
        }
        for i, run in enumerate(runs)
    ]
    comp = seeds_summary(
        y, probs["masked"], probs["plain"], n_boot=cfg.n_boot, seed=seeds[0], groups=test.groups
    )
    results["mean_over_seeds"] = comp
    results["masked_minus_plain"] = {
        "diff": comp["gap"]["mean"],
        "lo": comp["gap"]["ci"][0],
        "hi": comp["gap"]["ci"][1],
        "seeds": list(seeds),
        "first_seed": paired_auc_difference(
            y,
            probs["masked"][0],
            probs["plain"][0],
            n_boot=cfg.n_boot,
            seed=seeds[0],
            groups=test.groups,
        ),
    }
    return results


def _say_results(
    results: dict[str, Any], seeds: tuple[int, ...], say: Callable[[str], None]
) -> None:
    for name in MODELS:
        r = results[name]
        say(
            f"{name:6s} AUC {r['auc']:.3f} [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}] (seed {seeds[0]})  "
            f"ACC {r['acc']:.3f} (majority class {r['majority_rate']:.3f})"
        )
    comp = results["mean_over_seeds"]
    say(
        f"mean over seeds {list(seeds)}: plain {comp['b']['mean']:.3f} [{comp['b']['ci'][0]:.3f}, {comp['b']['ci'][1]:.3f}], "
        f"masked {comp['a']['mean']:.3f} [{comp['a']['ci'][0]:.3f}, {comp['a']['ci'][1]:.3f}], "
        f"gap {comp['gap']['mean']:+.3f} [{comp['gap']['ci'][0]:+.3f}, {comp['gap']['ci'][1]:+.3f}]"
    )


def run_masked_study(
    cfg: MaskingStudyConfig | None = None,
    *,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train, attack and measure; returns the JSON-able results (arrays under ``"_arrays"``).

    Parameters
    ----------
    cfg
        Settings (default :class:`MaskingStudyConfig`).
    progress
        Show rich progress bars while training.
    say
        Called with one line per finished step (the CLI prints them).

    Raises
    ------
    InputError
        ``masked_augment="owner"`` without ``allow_key_leak``.
    TrainingBudgetExceeded
        A model took longer than ``budget_s`` (the whole run is void).
    """
    cfg = cfg or MaskingStudyConfig()
    if cfg.masked_augment == MaskedAugment.OWNER and not cfg.allow_key_leak:
        raise InputError(
            "masked_augment='owner' hands the analyst masked copies under known 1-2 px shifts, "
            "from which the views attack recovers the key exactly; pass allow_key_leak=True "
            "(--allow-key-leak) to measure it anyway"
        )
    say = say or (lambda s: log.info("%s", s))
    t_start = time.perf_counter()
    seeds = cfg.seed_list
    data = load_dataset(cfg.data, cfg.data_dir, seed=cfg.split_seed, limit=cfg.limit)
    size = int(data.train.x.shape[1])
    block = cfg.block or (4 if size % 8 else 8)
    n_classes = int(data.meta.get("n_classes", 2))
    n_out = n_classes if n_classes > 2 else 1
    say(
        f"{data.name}: train {len(data.train)}, val {len(data.val)}, test {len(data.test)} "
        f"({data.split_rule}); {n_classes} classes; seeds {list(seeds)}"
    )
    test = data.test
    steps = tuple(make_scheme(cfg.scheme, key=bytes(32), block=block, bit_depth=8).steps)
    augs = augmentations(cfg, block, steps)

    # ------------------------------------------------- training (no test split here)
    runs = [
        prepare_seed(s, data, cfg, augs, block=block, n_out=n_out, with_aes=s == seeds[0])
        for s in seeds
    ]
    keys = [(run, name) for run in runs for name in run.models]
    tasks = [run.task(name, cfg, augs[name]) for run, name in keys]

    def done(k: int, rec: dict[str, Any]) -> None:  # one line as each model ends
        run, name = keys[k]
        say(
            f"seed {run.seed} {name:6s} trained: best epoch {rec['best_epoch']}/{rec['epochs_run']}, "
            f"val loss {rec['best_val_loss']:.3f}, "
            f"val AUC {rec['best_val_auc'] or float('nan'):.3f} ({rec['seconds']:.0f} s)"
        )

    # the owner's shifted copies (up to max_view_bytes) are not shipped to workers
    jobs = 1 if cfg.masked_augment == MaskedAugment.OWNER else cfg.jobs
    for (run, name), rec in zip(
        keys, train_all(tasks, jobs=jobs, progress=progress, done=done), strict=True
    ):
        run.training[name] = rec

    # ------------------------------------------------- the test split, read once per model
    probs: dict[str, list[np.ndarray]] = {name: [] for name in MODELS}
    for run in runs:
        for name, model in run.models.items():
            probs[name].append(
                predict_proba(model, run.inputs[name]["test"].x, threads=cfg.threads)
            )
    results = _results(data, runs, probs, cfg)
    _say_results(results, seeds, say)
    first = runs[0]
    goals = judge_goals(data.name, results, first.views_attack, cfg)
    for g in goals:
        say(g["reading"])

    # ------------------------------------------------- leakage and attacks (first seed's key)
    leak, scheme_imgs = measure_leakage(data, first, cfg, block=block, seed=seeds[0])
    say(
        f"leakage: SSIM(plain, AES) {leak['aes']['ssim']:.4f}, SSIM(plain, {cfg.scheme}) "
        f"{leak.get(cfg.scheme, leak['shuffle+negpos'])['ssim']:.4f}, pHash distance AES "
        f"{leak['aes']['phash']:.1f} / masked {leak['shuffle+negpos']['phash']:.1f} (unrelated images {leak['unrelated_plain']['phash']:.1f})"
    )
    attacks, rebuilt = measure_attacks(data, runs, cfg, leak, scheme_imgs, block=block, say=say)
    masked, aes = first.masked, first.inputs["aes"]
    latency = {
        "plain": costs.latency(first.models["plain"], test.x, cfg.threads, cfg.latency_images),
        "masked": costs.latency(
            first.models["masked"], masked["test"].x, cfg.threads, cfg.latency_images
        ),
        "masking_ms_per_image": first.mask_s
        / max(sum(len(v) for v in data.splits().values()), 1)
        * 1000,
    }
    storage = costs.storage(test.x, masked["test"].x, min(100, len(test)))
    ng = min(cfg.gallery, min(cfg.attack_images, len(test)))
    gallery = {
        "plain": test.x[:ng],
        cfg.scheme: masked["test"].x[:ng],
        "block": scheme_imgs["block"][:ng],
        "aes": aes["test"].x[:ng],
        **{k: v[:ng] for k, v in rebuilt.items()},
    }
    return {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "dataset": {
            "name": data.name,
            "split_rule": data.split_rule,
            "sizes": {k: len(sp) for k, sp in data.splits().items()},
            "positives": {k: int((sp.y > 0).sum()) for k, sp in data.splits().items()},
            "image_size": size,
            **data.meta,
        },
        "scheme": first.scheme.describe(),
        "protocol": {
            "seeds": list(seeds),
            "epochs": cfg.epochs,
            "aes_epochs": cfg.aes_epochs,
            "schedule": "one-cycle (AdamW) sized to the epoch count",
            "selection": "weights of the epoch with the lowest validation loss",
            "patience": cfg.patience,
            "guard_s": cfg.budget_s,
            "test_reads": "once per model, after all models were trained",
            "ci": results["mean_over_seeds"]["gap"]["method"],
        },
        "augmentation": {**first.augmentation, "aes": "none"},
        "training": {
            f"{name} (seed {run.seed})": t for run in runs for name, t in run.training.items()
        },
        "results": results,
        "goals": goals,
        "leakage": leak,
        "attacks": attacks,
        "latency": latency,
        "storage": storage,
        "claims": seed_claims(results, leak, attacks, storage, latency, goals, cfg),
        "environment": {
            "torch": torch.__version__,
            "threads": cfg.threads,
            "jobs": cfg.jobs,
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "seconds": time.perf_counter() - t_start,
        "_arrays": {
            "gallery": gallery,
            "labels": test.y,
            "probs": {k: v[0] for k, v in probs.items() if v},
        },
    }
