"""The standard training loop of medseal: AdamW, early stopping, explicit seeds.

Where it sits: models stage. Every network of seed 000 (plaintext ResNet-18,
Masked-CNN on masked images, the same on AES ciphertext bytes) is trained by
:func:`fit` with the same settings, so differences come from the data
representation, not the loop.

- AdamW with a one-cycle learning-rate schedule (warm-up, then cosine decay) over ``epochs``;
- binary cross-entropy on one logit, with ``pos_weight = n_neg / n_pos`` when
  ``balance`` is set (the PneumoniaMNIST copy here has 9x more pneumonia than
  normal training images);
- early stopping on the validation loss with ``patience`` epochs; the weights
  of the best epoch are restored;
- ``seed`` seeds torch (weights, dropout) and the batch order; the number of
  torch threads is set for the call and restored after;
- optional random cyclic shifts of each training image (``shift`` pixels at
  most, in steps of ``shift_step``). With ``shift_step`` equal to the masking
  block size, a shift commutes with block-wise masking whose in-block
  transform is the same for every block (``shuffle``, ``negpos``), so an
  analyst can augment masked images without the key, and the plaintext
  baseline gets the same kind of augmentation.
- optional precomputed *views* of each training image (``train_views``,
  ``(V, N, H, W)``): each epoch, every image is replaced by one of its views
  drawn at random. This is how a data owner gives an analyst augmentation
  that does not commute with the masking: the owner, who holds the key,
  masks shifted copies of each image, and the analyst only ever sees those.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from medseal.errors import InputError
from medseal.models.data import Split, to_tensor

__all__ = [
    "TrainConfig",
    "TrainResult",
    "fit",
    "load_model",
    "predict_proba",
    "random_shift",
    "save_model",
    "torch_threads",
]

log = logging.getLogger(__name__)


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
    device: str = "cpu"
    shift: int = 0
    shift_step: int = 1

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise InputError("epochs, batch_size and patience must be >= 1")
        if self.shift < 0 or self.shift_step < 1:
            raise InputError("shift must be >= 0 and shift_step >= 1")
        if not (self.lr > 0 and self.weight_decay >= 0):
            raise InputError("lr must be > 0 and weight_decay >= 0")


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


@contextmanager
def torch_threads(n: int | None) -> Any:
    """Use ``n`` torch threads inside the block (``None``: leave as is)."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _loss_fn(y: np.ndarray, balance: bool) -> nn.Module:
    pos = float(y.sum())
    neg = float(len(y) - pos)
    weight = torch.tensor([neg / pos]) if balance and pos > 0 and neg > 0 else None
    return nn.BCEWithLogitsLoss(pos_weight=weight)


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
) -> float:
    model.eval()
    total = 0.0
    for i in range(0, len(x), bs):
        out = model(x[i : i + bs])
        total += float(loss(out.squeeze(1), y[i : i + bs])) * len(out)
    return total / max(len(x), 1)


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
        training image (e.g. masked copies of shifted plaintext, made by the
        key holder); every batch draws one version per image at random.

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
    with torch_threads(cfg.threads):
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        dev = torch.device(cfg.device)
        model.to(dev)
        xt, yt = to_tensor(train.x).to(dev), torch.from_numpy(train.y.astype(np.float32)).to(dev)
        xv, yv = to_tensor(val.x).to(dev), torch.from_numpy(val.y.astype(np.float32)).to(dev)
        loss_fn = _loss_fn(train.y, cfg.balance).to(dev)
        val_loss_fn = _loss_fn(train.y, cfg.balance).to(dev)
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
                    idx = torch.from_numpy(order[i : i + cfg.batch_size]).to(dev)
                    if len(idx) < 2:  # batch norm needs two samples
                        continue
                    if train_views is not None:
                        sel = order[i : i + cfg.batch_size]
                        pick = rng.integers(0, train_views.shape[0], size=len(sel))
                        xb = to_tensor(train_views[pick, sel]).to(dev)
                    else:
                        xb = xt[idx]
                    if cfg.shift:
                        xb = random_shift(xb, cfg.shift, cfg.shift_step, rng)
                    out = model(xb).squeeze(1)
                    loss = loss_fn(out, yt[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    total += float(loss.detach()) * len(idx)
                vloss = _eval_loss(model, xv, yv, val_loss_fn, 256)
                row = {"epoch": float(epoch), "train_loss": total / len(train), "val_loss": vloss}
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
                if bad >= cfg.patience:
                    stopped = True
                    break
                if cfg.max_seconds is not None and time.perf_counter() - start > cfg.max_seconds:
                    log.info(
                        "%s: stopping at the %.0f s budget after epoch %d",
                        description,
                        cfg.max_seconds,
                        epoch,
                    )
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


@torch.no_grad()
def predict_proba(
    model: nn.Module, x: np.ndarray, *, batch_size: int = 256, threads: int | None = None
) -> np.ndarray:
    """Probability of class 1 for ``uint8`` images ``(N, H, W)``."""
    with torch_threads(threads):
        model.eval()
        dev = next(model.parameters()).device
        xt = to_tensor(x)
        out = [
            torch.sigmoid(model(xt[i : i + batch_size].to(dev)).squeeze(1)).cpu()
            for i in range(0, len(xt), batch_size)
        ]
        return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)


def save_model(model: nn.Module, directory: str | os.PathLike[str], info: dict[str, Any]) -> Path:
    """Write ``model.pt`` (weights only) and ``model.json`` (architecture + ``info``).

    ``info`` must not hold keys or pixels: it is meant to carry the masking
    scheme's ``describe()`` (a key fingerprint), metrics and the training record.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise InputError("only medseal networks (with a .config dict) can be saved")
    torch.save(model.state_dict(), out / "model.pt")
    doc = {"format": "medseal-model", "version": 1, "network": config, **info}
    (out / "model.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return out


def load_model(directory: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a network saved by :func:`save_model`; returns it (eval mode) and its JSON."""
    from medseal.models.nets import build

    src = Path(directory)
    try:
        doc = json.loads((src / "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"no readable model at {src}: {type(exc).__name__}") from None
    if doc.get("format") != "medseal-model":
        raise InputError(f"{src} does not hold a medseal model")
    model = build(dict(doc["network"]))
    state = torch.load(src / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model, doc
