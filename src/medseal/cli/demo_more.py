"""The MORE stage of ``medseal demo``: train on ciphertexts, decrypt, compare, then break MORE.

Where it sits: cli (called by :mod:`medseal.cli.demo`). Offline by default: it
uses the embedded PneumoniaMNIST images (one-frame "sequences"); when
``data_dir`` holds the NIH ChestX-ray14 subset it uses real follow-up
sequences of three studies instead. Runs in well under two minutes on 2 cores.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from medseal.errors import ConfigError
from medseal.evaluate.attacks import eigenvalue_attack
from medseal.models import MoreTrainConfig, SequenceSet, frame, nih_followup_sequences, run_fold
from medseal.models.nets import ConvBiLSTM
from medseal.privacy.more import MoreKey

__all__ = ["run_more_stage"]


def _embedded_sequences(size: int) -> SequenceSet:
    from medseal.ingest.datasets import demo_records

    recs = [r for r in demo_records() if r.label is not None][:120]
    x = np.stack([frame(r.image(), size) for r in recs])[:, None, None]
    y = np.asarray([int(r.label or 0) for r in recs], dtype=np.int64)
    return SequenceSet(
        x=x,
        y=y,
        groups=[r.key for r in recs],
        keys=[(r.key,) for r in recs],
        name="pneumoniamnist-embedded (single frames)",
        meta={"length": 1, "size": size},
    )


def _sequences(data_dir: str | Path | None, size: int) -> SequenceSet:
    if data_dir is not None:
        from medseal.ingest import datasets

        try:
            root = datasets.find("nih", data_dir)
        except ConfigError:
            root = None
        if root is not None:
            return nih_followup_sequences(
                datasets.get("nih")(root), length=3, size=size, max_windows=2
            )
    return _embedded_sequences(size)


def run_more_stage(
    console: Console, *, seed: int = 0, data_dir: str | Path | None = None
) -> dict[str, Any]:
    """Encrypt sequences, train a Conv Bi-LSTM on the ciphertexts, decrypt, compare, attack.

    Returns the figures it printed (JSON-able).
    """
    t_start = time.perf_counter()
    console.rule("[bold]MORE: training on encrypted image sequences (seed paper 003)")
    data = _sequences(data_dir, size=16)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))[: min(len(data), 96)]
    fit_idx, val_idx, test_idx = order[:56], order[56:72], order[72:]
    frames = data.x.shape[1]
    net = ConvBiLSTM(frames=frames, size=16, conv_channels=(4, 8), hidden=8)
    cfg = MoreTrainConfig(lr=1e-2, batch_size=32, max_epochs=6, patience=3, seed=seed)
    key = MoreKey.generate(n=2, seed=seed + 1)
    console.print(
        f"data: {data.name}: {len(order)} sequences of {frames} frame(s) at 16x16; "
        f"client key n=2 (each value becomes a 2x2 matrix, 32 bytes)"
    )
    y = data.y.astype(np.float64)
    args = (net, data.x, y, fit_idx, val_idx, test_idx)
    plain = run_fold(*args, mode="plain", init_seed=seed, config=cfg)
    enc = run_fold(*args, mode="more", init_seed=seed, config=cfg, key=key)
    wdiff = max(float(np.max(np.abs(plain.params[k] - enc.params[k]))) for k in plain.params)
    ldiff = float(np.max(np.abs(plain.test_logits - enc.test_logits)))
    acc = float(np.mean((enc.test_logits > 0) == (y[test_idx] > 0.5)))

    table = Table(
        title="Conv Bi-LSTM: plaintext vs MORE-ciphertext training (same seed, same init)"
    )
    for col in ("run", "epochs", "train s", "inference s", "test accuracy"):
        table.add_column(col)
    for run in (plain, enc):
        table.add_row(
            "plaintext" if run.mode == "plain" else "ciphertext (server never decrypts)",
            str(run.epochs),
            f"{run.train_seconds:.2f}",
            f"{run.inference_seconds:.3f}",
            f"{np.mean((run.test_logits > 0) == (y[test_idx] > 0.5)):.3f}",
        )
    console.print(table)
    console.print(
        f"decrypted weights vs plaintext weights: max |diff| = {wdiff:.1e}; "
        f"test logits: {ldiff:.1e} (float64 rounding; tolerance 1e-8)"
    )
    console.print(
        f"client decrypted {enc.extra['decrypted_scalars']} values during training "
        "(validation loss for early stopping, plus curves)"
    )

    sample = data.x[test_idx[:4]]
    ct = key.encrypt(sample, rng=rng)
    t0 = time.perf_counter()
    attack = eigenvalue_attack(ct, truth=sample, known_range=(0.0, 1.0))
    t_attack = time.perf_counter() - t0
    console.print(
        f"[red]eigenvalue attack[/]: the compute host read {attack.success_rate:.0%} of "
        f"{sample.size} encrypted pixels exactly from the ciphertexts alone in {t_attack:.2f}s. "
        "MORE is obfuscation, not encryption (docs/more.md)."
    )
    return {
        "dataset": data.name,
        "sequences": int(len(order)),
        "frames": int(frames),
        "plain_train_seconds": plain.train_seconds,
        "more_train_seconds": enc.train_seconds,
        "epochs": enc.epochs,
        "max_abs_weight_diff": wdiff,
        "max_abs_logit_diff": ldiff,
        "test_accuracy": acc,
        "attack_success_rate": attack.success_rate,
        "seconds": time.perf_counter() - t_start,
    }
