"""The data step of the masking study: keys, masked inputs, networks and augmentation per seed.

Where it sits: evaluate stage; :func:`prepare_seed` runs before any training.
Keys come from an in-memory key ring seeded with each seed (reproducible; no
key is ever written to the report).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from medseal.crypto import KeyRing
from medseal.evaluate.attacks.views import views_attack
from medseal.evaluate.studies.masking.config import MaskedAugment, MaskingStudyConfig
from medseal.evaluate.studies.training import TrainTask
from medseal.models.data import Split, SplitData, aes_control
from medseal.models.nets import MaskedCNN, ResNet18
from medseal.models.train import TrainConfig
from medseal.privacy.masking import MaskingScheme, make_scheme
from medseal.privacy.masking.augment import KeyFreeAugment

__all__ = ["SeedRun", "augmentations", "owner_views", "prepare_seed"]

MODELS = ("plain", "masked", "aes")


@dataclass
class SeedRun:
    """Everything one seed trains and measures: its key, masked inputs, networks, records."""

    seed: int
    scheme: MaskingScheme
    mask_key: bytes = field(repr=False)
    ring: KeyRing = field(repr=False)
    masked: dict[str, Split]
    inputs: dict[str, dict[str, Split]]
    models: dict[str, torch.nn.Module]
    views: np.ndarray | None
    augmentation: dict[str, str]
    views_attack: dict[str, Any]
    mask_s: float
    training: dict[str, dict[str, Any]] = field(default_factory=dict)

    def task(self, name: str, cfg: MaskingStudyConfig, augment: KeyFreeAugment | None) -> TrainTask:
        """The training task of model ``name`` under ``cfg``."""
        loop = {k: getattr(cfg, k) for k in ("patience", "lr", "batch_size", "threads", "device")}
        epochs = (cfg.aes_epochs if name == "aes" else None) or cfg.epochs
        tc = TrainConfig(
            augment=augment, epochs=epochs, seed=self.seed, max_seconds=cfg.budget_s, **loop
        )
        return TrainTask(
            f"{name} (seed {self.seed})",
            self.models[name],
            self.inputs[name]["train"],
            self.inputs[name]["val"],
            tc,
            self.views if name == "masked" else None,
        )


def owner_views(
    x: np.ndarray, scheme: Any, cfg: MaskingStudyConfig
) -> tuple[np.ndarray, list[tuple[int, int]], str]:
    """The key holder's shifted copies (LEAKS THE KEY): masked copies shifted by -2..2 px.

    Memory is ``V`` times the training set; above ``cfg.max_view_bytes`` a seeded
    subset of the shifts is kept. Returns the copies, their offsets and a note.
    """
    offsets = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
    cap = max(1, int(cfg.max_view_bytes // max(x.nbytes, 1)))
    if cap < len(offsets):
        rng = np.random.default_rng(cfg.seed)
        keep = sorted(rng.choice(len(offsets), size=cap, replace=False).tolist())
        offsets = [offsets[i] for i in keep]
    views = np.stack([scheme.mask(np.roll(x, o, axis=(1, 2))) for o in offsets])
    return (
        views,
        offsets,
        (
            f"owner-side (LEAKS THE KEY): the key holder masks {len(offsets)} cyclically shifted copies "
            "(up to 2 px) of each training image; one drawn per image and epoch"
        ),
    )


def augmentations(
    cfg: MaskingStudyConfig, block: int, steps: tuple[str, ...]
) -> dict[str, KeyFreeAugment | None]:
    """The augmentation of each model: the same key-free maps for plaintext and masked."""
    if not cfg.augment or cfg.masked_augment == MaskedAugment.NONE:
        return {"plain": None, "masked": None, "aes": None}
    shifts = KeyFreeAugment(shift=2 * block, shift_step=block)
    if cfg.masked_augment == MaskedAugment.BLOCK:
        full = shifts
    else:  # keyfree (and owner, whose plaintext model gets 2 px shifts, see below)
        full = KeyFreeAugment(
            shift=2 * block,
            shift_step=block,
            contrast=cfg.aug_contrast,
            gamma=cfg.aug_gamma,
            noise=cfg.aug_noise,
            mixup=cfg.aug_mixup,
        )
    masked = full.for_steps(steps)
    if cfg.masked_augment == MaskedAugment.OWNER:
        return {"plain": KeyFreeAugment(shift=2, shift_step=1), "masked": None, "aes": None}
    return {"plain": full, "masked": masked if masked.active else None, "aes": None}


def _masked_cnn(cfg: MaskingStudyConfig, block: int, n_out: int, size: int) -> MaskedCNN:
    return MaskedCNN(
        block, num_classes=n_out, width=cfg.masked_width, body=cfg.masked_body, image_size=size
    )


def prepare_seed(
    s: int,
    data: SplitData,
    cfg: MaskingStudyConfig,
    augs: dict[str, KeyFreeAugment | None],
    *,
    block: int,
    n_out: int,
    with_aes: bool,
) -> SeedRun:
    """Seed ``s``: its key ring and masking, masked splits, fresh networks, owner views if any,
    the AES control (``with_aes``), and the views attack on what the analyst holds."""
    size = int(data.train.x.shape[1])
    ring = KeyRing.in_memory(seed=f"medseal/seed000/{s}".encode())
    mask_key = ring.derive(f"mask/{data.name}")
    scheme = make_scheme(cfg.scheme, key=mask_key, block=block, bit_depth=8)
    t0 = time.perf_counter()
    masked = {k: sp.with_x(scheme.mask(sp.x)) for k, sp in data.splits().items()}
    mask_s = time.perf_counter() - t0
    torch.manual_seed(s)
    models: dict[str, torch.nn.Module] = {
        "plain": ResNet18(num_classes=n_out, width=cfg.baseline_width, image_size=size),
        "masked": _masked_cnn(cfg, block, n_out, size),
    }
    inputs: dict[str, dict[str, Split]] = {"plain": data.splits(), "masked": masked}
    views: np.ndarray | None = None
    view_offsets: list[tuple[int, int]] = [(0, 0)]
    note = {
        "plain": augs["plain"].describe() if augs["plain"] else "none",
        "masked": augs["masked"].describe() if augs["masked"] else "none",
    }
    if cfg.augment and cfg.masked_augment == MaskedAugment.OWNER:
        views, view_offsets, note["masked"] = owner_views(data.train.x, scheme, cfg)
    if with_aes:
        aes_key = ring.derive(f"aes-control/{data.name}")
        inputs["aes"] = {
            k: sp.with_x(aes_control(sp.x, aes_key, context=k.encode()))
            for k, sp in data.splits().items()
        }
        models["aes"] = _masked_cnn(cfg, block, n_out, size)
    # what the analyst holds beyond the one masked copy of each image
    na_v = min(cfg.attack_images, len(data.train))
    held = views[:, :na_v] if views is not None else masked["train"].x[None, :na_v]
    bt = scheme.block_transform(1)
    va = views_attack(
        held,
        view_offsets,
        block=block,
        steps=tuple(scheme.steps),
        true_perm=bt.perm,
        true_flip=bt.flip,
        test_masked=masked["test"].x[: cfg.attack_images],
        test_plain=data.test.x[: cfg.attack_images],
        seed=s,
    )
    return SeedRun(s, scheme, mask_key, ring, masked, inputs, models, views, note, va, mask_s)
