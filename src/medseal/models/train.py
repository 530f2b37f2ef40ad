"""The standard training loop of medseal: AdamW, early stopping, explicit seeds.

Where it sits: models stage. Every network of seed 000 (plaintext ResNet-18,
Masked-CNN on masked images, the same on AES ciphertext bytes) is trained by
:func:`fit` with the same settings, so differences come from the data
representation, not the loop.

- AdamW with a one-cycle learning-rate schedule (warm-up, then cosine decay)
  sized to ``epochs``: the schedule depends on the epoch count only, never on
  the clock, so the same command gives the same model on a loaded or an idle
  host;
- binary cross-entropy on one logit, with ``pos_weight = n_neg / n_pos`` when
  ``balance`` is set (the PneumoniaMNIST copy here has 9x more pneumonia than
  normal training images); for networks with ``K > 1`` outputs, cross-entropy
  with class weights ``n / (K n_k)``;
- model selection on the validation split only: the weights of the epoch with
  the lowest validation loss are restored (``patience`` epochs without
  improvement end the run early, deterministically); the validation AUC of
  each epoch is recorded beside it. The test split is never seen here;
- ``seed`` seeds torch (weights, dropout) and the batch order; the number of
  torch threads is set for the call and restored after;
- ``max_seconds`` is a guard, not a stop: a run that exceeds it raises
  :class:`TrainingBudgetExceeded`, so no figure ever comes from a run cut by
  the clock;
- optional key-free augmentation (``augment``,
  :class:`~medseal.privacy.masking.augment.KeyFreeAugment`): whole-block
  shifts, mid-grey-symmetric intensity maps, symmetric noise and mixup, all of
  which commute with ``shuffle``/``negpos`` masking, so an analyst applies them
  to masked images without the key and the plaintext baseline gets the same.
  (``shift``/``shift_step`` are the older spelling of the shifts alone.)
- optional precomputed *views* of each training image (``train_views``,
  ``(V, N, H, W)``): each epoch, every image is replaced by one of its views
  drawn at random. Views made by the key holder from shifted plaintext (not
  whole blocks) hand the analyst the key: see
  :mod:`medseal.evaluate.attacks.views`; callers fence them.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from medseal.errors import InputError, MedsealError
from medseal.models.arrays import Split, to_tensor
from medseal.models.inference import (
    _logits,
    load_model,
    predict_proba,
    save_model,
    torch_threads,
)
from medseal.models.scores import roc_auc
from medseal.privacy.masking.augment import KeyFreeAugment, mixup_pairs

__all__ = [
    "Device",
    "TrainConfig",
    "TrainResult",
    "TrainingBudgetExceeded",
    "fit",
    "load_model",
    "predict_proba",
    "random_shift",
    "save_model",
    "torch_threads",
]

log = logging.getLogger(__name__)


class Device(StrEnum):
    """Where :func:`fit` trains (any torch device string is accepted too, e.g. ``"cuda:1"``)."""

    CPU = "cpu"
    CUDA = "cuda"


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`fit` (all explicit, all saved with the model)."""

    epochs: int = 20
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-2
    patience: int = 5
    seed: int = 0
    balance: bool = True
    threads: int | None = None
    max_seconds: float | None = None
    device: Device | str = Device.CPU
    shift: int = 0
    shift_step: int = 1
    augment: KeyFreeAugment | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise InputError("epochs, batch_size and patience must be >= 1")
        if self.shift < 0 or self.shift_step < 1:
            raise InputError("shift must be >= 0 and shift_step >= 1")
        if not (self.lr > 0 and self.weight_decay >= 0):
            raise InputError("lr must be > 0 and weight_decay >= 0")


class TrainingBudgetExceeded(MedsealError):
    """A training run took longer than its ``max_seconds`` guard (the run is void)."""


@dataclass
class TrainResult:
    """What :func:`fit` did: history per epoch, best epoch, time."""

    config: TrainConfig
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["config"] = asdict(self.config)
        return d


def _loss_fn(y: np.ndarray, balance: bool, n_out: int = 1) -> nn.Module:
    if n_out > 1:
        counts = np.bincount(y.astype(np.int64), minlength=n_out).astype(np.float64)
        w = len(y) / (n_out * np.maximum(counts, 1.0))
        return nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32) if balance else None)
    pos = float(y.sum())
    neg = float(len(y) - pos)
    weight = torch.tensor([neg / pos]) if balance and pos > 0 and neg > 0 else None
    return nn.BCEWithLogitsLoss(pos_weight=weight)


def _targets(y: np.ndarray, n_out: int) -> torch.Tensor:
    """Float targets: ``(N,)`` 0/1 for one logit, one-hot ``(N, K)`` for ``K`` outputs."""
    if n_out > 1:
        return torch.nn.functional.one_hot(torch.from_numpy(y.astype(np.int64)), n_out).float()
    return torch.from_numpy(y.astype(np.float32))


def random_shift(x: torch.Tensor, shift: int, step: int, gen: np.random.Generator) -> torch.Tensor:
    """Roll each image of ``x`` (``N, C, H, W``) by random multiples of ``step`` up to ``shift``.

    Cyclic, so no pixel value is invented: with ``step`` equal to a masking
    block size the result is exactly the masking of the rolled plaintext.
    """
    if shift < step:
        return x
    k = shift // step
    offs = gen.integers(-k, k + 1, size=(len(x), 2)) * step
    out = torch.empty_like(x)
    for dy, dx in {(int(a), int(b)) for a, b in offs}:
        sel = torch.from_numpy(np.flatnonzero((offs[:, 0] == dy) & (offs[:, 1] == dx))).to(x.device)
        out[sel] = torch.roll(x[sel], shifts=(dy, dx), dims=(2, 3))
    return out


@torch.no_grad()
def _eval_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: nn.Module, bs: int
) -> tuple[float, np.ndarray]:
    """Mean loss and the scores (probabilities) on ``x``."""
    model.eval()
    total = 0.0
    scores = []
    for i in range(0, len(x), bs):
        out = _logits(model, x[i : i + bs])
        total += float(loss(out, y[i : i + bs])) * len(out)
        scores.append(torch.softmax(out, 1) if out.ndim == 2 else torch.sigmoid(out))
    p = torch.cat(scores).cpu().numpy() if scores else np.zeros(0)
    return total / max(len(x), 1), p


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    config: TrainConfig | None = None,
    *,
    progress: bool | Progress = False,
    description: str = "train",
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    train_views: np.ndarray | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``train``; keep the weights with the lowest ``val`` loss.

    Parameters
    ----------
    model
        A network producing one logit per image from ``(N, 1, H, W)`` floats in ``[0, 1]``.
    train, val
        ``uint8`` images and 0/1 labels (:class:`~medseal.models.data.Split`).
    config
        Loop settings (default :class:`TrainConfig`).
    progress
        ``True`` shows a rich progress bar, or pass a running ``rich.progress.Progress``.
    description
        Label of the progress bar.
    train_views
        Optional ``uint8 (V, N, H, W)``: ``V`` alternative versions of each
        training image; every batch draws one version per image at random.
        Masked copies of shifted plaintext made by the key holder leak the key
        (:mod:`medseal.evaluate.attacks.views`): callers must fence them.

    Raises
    ------
    TrainingBudgetExceeded
        The run took longer than ``config.max_seconds``.

    Returns
    -------
    TrainResult
        The model is left in eval mode with the best epoch's weights.
    """
    cfg = config or TrainConfig()
    if len(train) == 0 or len(val) == 0:
        raise InputError(f"need non-empty train and val splits, got {len(train)} and {len(val)}")
    if train_views is not None:
        tv = np.asarray(train_views)
        if tv.dtype != np.uint8 or tv.ndim != 4 or tv.shape[1:] != np.asarray(train.x).shape:
            raise InputError(
                f"train_views must be uint8 (V, N, H, W) with (N, H, W) = {np.asarray(train.x).shape}, "
                f"got {tv.dtype} {tv.shape}"
            )
    aug = cfg.augment
    if aug is None and cfg.shift:
        aug = KeyFreeAugment(shift=cfg.shift, shift_step=cfg.shift_step)
    with torch_threads(cfg.threads):
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        dev = torch.device(cfg.device)
        model.to(dev)
        with torch.no_grad():
            model.eval()
            n_out = int(model(to_tensor(np.asarray(train.x)[:2]).to(dev)).shape[1])
        x_train = np.asarray(train.x)
        yt = _targets(train.y, n_out).to(dev)
        xv, yv = to_tensor(val.x).to(dev), _targets(val.y, n_out).to(dev)
        loss_fn = _loss_fn(train.y, cfg.balance, n_out).to(dev)
        val_loss_fn = _loss_fn(train.y, cfg.balance, n_out).to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
        )
        best_state = copy.deepcopy(model.state_dict())
        best_loss, best_epoch, bad = math.inf, 0, 0
        history: list[dict[str, float]] = []
        start = time.perf_counter()
        stopped = False
        own_bar = progress is True
        bar: Progress | None
        if isinstance(progress, Progress):
            bar = progress
        elif own_bar:
            bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                transient=True,
            )
            bar.start()
        else:
            bar = None
        task = bar.add_task(description, total=cfg.epochs, info="") if bar is not None else None
        try:
            epoch = 0
            for epoch in range(1, cfg.epochs + 1):
                model.train()
                order = rng.permutation(len(train))
                total = 0.0
                for i in range(0, len(order), cfg.batch_size):
                    sel = order[i : i + cfg.batch_size]
                    if len(sel) < 2:  # batch norm needs two samples
                        continue
                    idx = torch.from_numpy(sel).to(dev)
                    if train_views is not None:
                        pick = rng.integers(0, train_views.shape[0], size=len(sel))
                        xb_u8 = np.asarray(train_views[pick, sel])
                    else:
                        xb_u8 = x_train[sel]
                    if aug is not None:
                        xb_u8 = aug(xb_u8, rng)
                    xb = to_tensor(xb_u8).to(dev)
                    tb = yt[idx]
                    if aug is not None and aug.mixup > 0:
                        partner, lam = mixup_pairs(len(sel), aug.mixup, rng)
                        lam_t = torch.from_numpy(lam.astype(np.float32)).to(dev)
                        pt = torch.from_numpy(partner).to(dev)
                        xb = lam_t.view(-1, 1, 1, 1) * xb + (1 - lam_t.view(-1, 1, 1, 1)) * xb[pt]
                        lam_y = lam_t.view(-1, 1) if tb.ndim == 2 else lam_t
                        tb = lam_y * tb + (1 - lam_y) * tb[pt]
                    out = _logits(model, xb)
                    loss = loss_fn(out, tb)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    total += float(loss.detach()) * len(sel)
                vloss, vscores = _eval_loss(model, xv, yv, val_loss_fn, 256)
                row = {
                    "epoch": float(epoch),
                    "train_loss": total / len(train),
                    "val_loss": vloss,
                    "val_auc": roc_auc(val.y, vscores),
                }
                history.append(row)
                if on_epoch is not None:
                    on_epoch(row)
                if vloss < best_loss - 1e-6:
                    best_loss, best_epoch, bad = vloss, epoch, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    bad += 1
                if bar is not None and task is not None:
                    bar.update(
                        task,
                        advance=1,
                        info=f"val loss {vloss:.3f} (best {best_loss:.3f} @ {best_epoch})",
                    )
                elapsed = time.perf_counter() - start
                if cfg.max_seconds is not None and elapsed > cfg.max_seconds:
                    raise TrainingBudgetExceeded(
                        f"{description}: {elapsed:.0f} s after epoch {epoch} of {cfg.epochs}, "
                        f"over the {cfg.max_seconds:.0f} s guard; the run is void (no figure "
                        "may come from a run cut by the clock): raise the guard or lower --epochs"
                    )
                if bad >= cfg.patience:
                    stopped = True
                    break
        finally:
            if own_bar and bar is not None:
                bar.stop()
        model.load_state_dict(best_state)
        model.eval()
        return TrainResult(
            config=cfg,
            best_epoch=best_epoch,
            best_val_loss=float(best_loss),
            epochs_run=epoch,
            seconds=time.perf_counter() - start,
            history=history,
            stopped_early=stopped,
        )
