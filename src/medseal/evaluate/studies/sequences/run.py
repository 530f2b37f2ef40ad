"""The sequence study: Conv Bi-LSTM vs CNN vs CNN-LSTM, trained on plaintext and on MORE.

Where it sits: evaluate stage, the whole of :mod:`medseal.evaluate.studies.sequences`
(``medseal evaluate seed003`` reproduces seed paper 003 with it). It builds
sequences (:mod:`medseal.models.sequences`), runs patient-grouped 4-fold
cross-validation of the three networks, each trained once on plaintext and
once entirely on MORE ciphertexts (:mod:`medseal.models.more_train`),
computes the seed's metrics with scikit-learn on the decrypted outputs,
checks that the decrypted ciphertext-trained weights equal the plaintext
ones, runs the MORE attacks on the ciphertexts the server held, and returns
one JSON-able dict (the "Table 1 equivalent" and everything behind it).
:mod:`medseal.evaluate.studies.sequences.report` renders it as HTML.

On per-patient data (BreaKHis, :func:`medseal.models.sequences.breakhis_patient_sequences`)
the CV is repeated over ``seeds`` (plaintext; MORE on the first ``more_seeds``),
and every test fold is also scored at the image level (unit vote) and the
patient level (sequence vote) with :func:`medseal.models.sequences.weighted_votes`;
the out-of-fold patient scores, averaged over seeds, give each network's
pooled patient AUC with a stratified bootstrap CI and paired CIs of the AUC
differences (the ranking). The issue's goals are judged from these numbers
by :mod:`medseal.evaluate.verdict` (``result["goals"]``).
:func:`measure_frame_sizes` times one training step plain vs MORE at each
candidate frame size (``frame_sizes``).

Protocol (seed section 4) and where this run departs from it, recorded in
the result's ``protocol`` entry: Adam, binary cross-entropy, minibatch <= 256,
early stopping (no improvement of the validation loss by more than 0.001 for
10 epochs, best weights kept), 4-fold CV. Defaults here use ``lr = 1e-3`` and
batch 32 instead of the seed's ``1e-4``/256: with a few hundred sequences the
seed's values barely move the weights before early stopping triggers, and
the twelve ciphertext trainings must fit the 30-minute budget. Pass
``lr=1e-4, batch_size=256`` for the seed's literal values.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medseal.errors import InputError
from medseal.evaluate.metrics import stratified_bootstrap_aucs
from medseal.evaluate.studies.sequences.attacks import more_attacks
from medseal.evaluate.studies.sequences.claims import goals
from medseal.evaluate.studies.sequences.config import SequenceStudyConfig
from medseal.evaluate.studies.sequences.costs import measure_frame_sizes
from medseal.evaluate.studies.sequences.cv import CVRun, cross_validate
from medseal.models.sequences import SequenceSet, load_sequences
from medseal.privacy.more import MoreKey

__all__ = ["run_sequence_study", "write_outputs"]

F64 = NDArray[np.float64]


def _load_and_time(
    config: SequenceStudyConfig, say: Callable[[str], None]
) -> tuple[SequenceSet, list[dict[str, Any]]]:
    """The run's sequences, after timing plain vs MORE at each of ``config.frame_sizes``."""

    def _load(size: int) -> SequenceSet:
        return load_sequences(
            config.dataset, config.data_dir, size=size, length=config.length,
            max_windows=config.max_windows, colour=config.colour,
        )  # fmt: skip

    frame_sizes: list[dict[str, Any]] = []
    if config.frame_sizes:
        frame_sizes = measure_frame_sizes(
            _load, config.frame_sizes, seed=config.seed, conv_channels=config.conv_channels,
            hidden=config.hidden,
        )  # fmt: skip
        for fs in frame_sizes:
            say(
                f"frame size {fs['size']}: plain {fs['plain_ms_per_seq']:.2f} ms/seq, "
                f"MORE {fs['more_ms_per_seq']:.2f} ms/seq, ratio {fs['ratio']:.1f}x"
            )
    return _load(config.size), frame_sizes


def run_sequence_study(
    config: SequenceStudyConfig = SequenceStudyConfig(),
    *,
    data: SequenceSet | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the whole protocol; return the JSON-able result (see the module docstring).

    Parameters
    ----------
    config
        What to run.
    data
        Pre-built sequences (tests); otherwise :func:`load_sequences` on
        ``config.dataset`` under ``config.data_dir``.
    log
        Called with one line per finished training run.
    """
    say = log or (lambda _msg: None)
    started = time.perf_counter()
    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    frame_sizes: list[dict[str, Any]] = []
    if data is None:
        data, frame_sizes = _load_and_time(config, say)
    if not data.labelled:
        raise InputError(f"{data.name}: sequences without labels cannot be cross-validated")
    key = MoreKey.generate(n=2, seed=config.seed + 2024) if config.encrypted else None
    run = CVRun(config, data, key, say)
    groups = run.groups_sorted
    group_label = {g: int(data.y[data.groups.index(g)]) for g in groups}
    nets_out: dict[str, Any] = {}
    pooled_scores: dict[str, F64] = {}
    last_weights: dict[str, F64] = {}
    for name in config.nets:
        nets_out[name], scores, weights = cross_validate(run, name)
        last_weights = weights or last_weights
        if run.has_levels:
            pooled_scores[name] = scores
    pooled = None
    if pooled_scores and len(set(group_label.values())) == 2:
        pooled = stratified_bootstrap_aucs(
            np.asarray([group_label[g] for g in groups]), pooled_scores,
            config.bootstrap, config.seed,
        )  # fmt: skip
        pooled["level"] = "patient (sequence vote), plaintext, scores averaged over seeds"
    attacks = (
        more_attacks(key, data, last_weights, config.seed)
        if key is not None and last_weights
        else {}
    )
    return {
        "seed": "003",
        "title": "Privacy-preserving convolutional Bi-LSTM on MORE-encrypted image sequences",
        "config": asdict(config),
        "data": _data_summary(data, group_label),
        "frame_sizes": frame_sizes,
        "protocol": _protocol(config, data),
        "nets": nets_out,
        "pooled": pooled,
        "goals": goals(nets_out, pooled),
        "attacks": attacks,
        "security_note": (
            "MORE gives no confidentiality against the compute host: the eigenvalue attack "
            "reads every plaintext value from the ciphertexts it trains on (see docs/more.md)."
        ),
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_start": load_start,
            "load_average_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "seconds": time.perf_counter() - started,
    }


def _data_summary(data: SequenceSet, group_label: dict[str, int]) -> dict[str, Any]:
    return {
        "name": data.name,
        "sequences": len(data),
        "patients": len(set(data.groups)),
        "positives": int(np.sum(data.y == 1)),
        "patients_positive": int(sum(group_label.values())),
        "shape": list(data.x.shape[1:]),
        **{
            k: v
            for k, v in data.meta.items()
            if isinstance(v, int | float | str | None)
            or (isinstance(v, dict) and k.startswith("patients_per"))
            or k in ("magnifications", "dropped_duplicates")
        },
    }


def _protocol(config: SequenceStudyConfig, data: SequenceSet) -> dict[str, Any]:
    frames, channels, size = data.x.shape[1], data.x.shape[2], data.x.shape[3]
    return {
        "optimizer": "Adam (beta 0.9/0.999, eps 1e-8), all state encrypted in MORE runs",
        "loss": "binary cross-entropy with logits, softplus(z) - y z (analytic on ciphertexts)",
        "lr": config.lr,
        "batch_size": config.batch_size,
        "early_stopping": (
            f"val loss must improve by > {config.min_delta} within {config.patience} epochs; "
            "best weights kept; the client decrypts the validation loss each epoch "
            "(MORE has no comparison) and answers improved/stop"
        ),
        "folds": f"{config.folds}-fold, patient-grouped, label-stratified (scikit-learn "
        "StratifiedGroupKFold); validation = a patient-grouped "
        f"{config.val_fraction:.0%} of each training part; repeated with seeds "
        f"{list(config.run_seeds)} (plaintext), MORE on the first {config.more_seeds} seed(s)",
        "levels": (
            "sequence: one logit per window; image (unit vote): mean logit of the windows "
            "holding the image; patient (sequence vote): window logits weighted by their "
            "distinct images"
        ),
        "deviations": [
            "tanh and average pooling instead of ReLU and max pooling (MORE needs analytic "
            "functions)",
            f"lr {config.lr} and batch {config.batch_size} (seed: 1e-4 and 256)"
            if (config.lr, config.batch_size) != (1e-4, 256)
            else "none in lr/batch",
            f"frames resized to {size}x{size} {'RGB' if channels == 3 else 'grey'}, "
            f"{frames} per sequence (CPU budget; the seed gives no window length)",
            f"epoch cap {config.max_epochs} (the seed gives none)",
            "metrics from a 0-logit threshold; AUC from the logits",
        ],
    }


def write_outputs(result: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``seed003.json`` and ``seed003.html`` into ``out_dir``; return their paths."""
    from medseal.evaluate.report import write_report

    html, js = write_report(result, out_dir, stem="seed003")
    return {"json": js, "html": html}
