"""Train a Masked-CNN on a vault's masked images, and predict masked images: the analyst's workflow.

Where it sits: models stage, on top of :mod:`medseal.models.vault_data`.
``medseal train masked-cnn`` and ``medseal predict`` are shells over
:func:`load_masked_training`, :func:`train_masked_cnn` and
:func:`predict_masked`; an HTTP front end calls the same functions. Nothing
here reads plaintext: masked pixels in, probabilities out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from medseal.errors import InputError
from medseal.ingest.grey import to_grey_uint8
from medseal.models.arrays import Split, SplitData, split_validation
from medseal.models.inference import predict_proba
from medseal.models.nets.masked_cnn import MaskedCNN
from medseal.models.train import TrainConfig, TrainResult, fit
from medseal.models.vault_data import (
    load_masked_from_vault,
    load_masked_views_with_offsets,
    masked_images,
)
from medseal.privacy.masking.augment import KeyFreeAugment
from medseal.privacy.masking.descriptor import MaskDescriptor

if TYPE_CHECKING:  # pragma: no cover
    from medseal.vault import Vault

__all__ = [
    "MaskedPrediction",
    "MaskedTraining",
    "load_masked_training",
    "predict_masked",
    "train_masked_cnn",
]


@dataclass
class MaskedTraining:
    """What an analyst trains on: masked splits, their descriptor, any owner-made views."""

    data: SplitData
    train: Split
    val: Split
    descriptor: MaskDescriptor
    #: owner-made shifted masked copies ``(V, N, H, W)`` of ``train``: THEY GIVE THE KEY
    views: np.ndarray | None = None
    offsets: list[tuple[int, int]] | None = None

    @property
    def block(self) -> int:
        return self.descriptor.block or 8


def load_masked_training(
    vault: Vault, *, as_: str, dataset: str, seed: int = 0, views: bool = True
) -> MaskedTraining:
    """The masked splits of ``dataset`` (a validation part carved from train if the vault has none).

    ``views=True`` also loads the owner's shifted masked copies of the
    training images when they exist (see :func:`~medseal.models.vault_data.load_masked_views`).
    """
    data, desc = load_masked_from_vault(vault, as_=as_, dataset=dataset)
    train, val = data.train, data.val
    if len(val) == 0:
        train, val = split_validation(train, seed=seed)
    got = (
        load_masked_views_with_offsets(vault, as_=as_, dataset=dataset, ids=train.ids)
        if views
        else None
    )
    return MaskedTraining(
        data, train, val, desc, None if got is None else got[0], None if got is None else got[1]
    )


def train_masked_cnn(
    masked: MaskedTraining,
    *,
    epochs: int = 30,
    patience: int = 6,
    width: int = 16,
    body: str = "resnet18",
    seed: int = 0,
    threads: int | None = None,
    augment: bool = True,
    progress: bool = False,
) -> tuple[MaskedCNN, TrainResult]:
    """Train a Masked-CNN on the masked training images (best validation weights kept).

    With ``augment``, key-free maps that commute with an in-block transform
    shared by every block (whole-block shifts, mid-grey-symmetric intensity
    maps), so no key is needed; owner-made views, when loaded, replace them.
    """
    block = masked.block
    model = MaskedCNN(block, width=width, body=body, image_size=int(masked.train.x.shape[-1]))
    aug = (
        KeyFreeAugment(shift=2 * block, shift_step=block, contrast=0.2, gamma=0.2).for_steps(
            masked.descriptor.steps
        )
        if augment and masked.views is None
        else None
    )
    cfg = TrainConfig(epochs=epochs, patience=patience, seed=seed, threads=threads, augment=aug)
    res = fit(
        model,
        masked.train,
        masked.val,
        cfg,
        progress=progress,
        description="masked-cnn",
        train_views=masked.views,
    )
    return model, res


@dataclass(frozen=True)
class MaskedPrediction:
    """One masked image's prediction (ids and a probability, never pixels)."""

    id: str
    parent_id: str | None
    probability: float
    prediction: int
    label: int | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_PREDICT_CHUNK = 256  # masked images read (and audited) per batch


def predict_masked(
    vault: Vault,
    model: nn.Module,
    *,
    as_: str,
    key_id: str | None = None,
    ids: Sequence[str] | None = None,
    dataset: str | None = None,
) -> list[MaskedPrediction]:
    """Predict masked images: ``ids`` (masked objects or their originals) or all of ``dataset``.

    ``key_id`` (the model's masking key fingerprint) refuses images masked
    under another key. Owner-made shifted copies are not images to diagnose
    and are left out.

    Raises
    ------
    InputError
        An id without a masked copy, or a copy masked under another key.
    """
    wanted = list(ids or [])
    infos = masked_images(vault, as_=as_, dataset=dataset) if dataset or wanted else []
    masked = {i.id: i for i in infos}
    by_parent = {i.parent_id: i for i in infos}
    targets = [masked.get(i) or by_parent.get(i) for i in wanted] if wanted else infos
    missing = [i for i, t in zip(wanted, targets, strict=False) if t is None]
    if missing:
        raise InputError(f"no masked copy for {len(missing)} id(s), e.g. {missing[0]}")
    for info in targets:
        assert info is not None
        if key_id and MaskDescriptor.from_manifest(info.manifest).key_id != key_id:
            raise InputError(
                f"object {info.id} was masked with another key than the model's ({key_id})"
            )
    rows = []
    for start in range(0, len(targets), _PREDICT_CHUNK):  # batched reads: one audit entry each
        chunk = [t for t in targets[start : start + _PREDICT_CHUNK] if t is not None]
        grey = [to_grey_uint8(a) for a in vault.get_masked_many([i.id for i in chunk], as_=as_)]
        if len({g.shape for g in grey}) == 1:
            probs = [float(p) for p in predict_proba(model, np.stack(grey))]
        else:  # mixed sizes: one forward pass each
            probs = [float(predict_proba(model, g[None])[0]) for g in grey]
        rows += [
            MaskedPrediction(i.id, i.parent_id, p, int(p >= 0.5), i.label)
            for i, p in zip(chunk, probs, strict=True)
        ]
    return rows
