"""Arrays for training: load a data set split, mask it, or build its AES control.

Where it sits: models stage. It turns ingest records into ``uint8`` arrays
``(N, H, W)`` plus labels, and turns those into float tensors in ``[0, 1]``.
The study data sets and their splits are loaded by
:mod:`medseal.models.dataset_splits`, an analyst's masked objects by
:mod:`medseal.models.vault_data`; :mod:`medseal.models.data` gathers all three.

Three representations of the same images are compared in seed 000:

- **plain**: the pixels;
- **masked**: :mod:`medseal.privacy.masking` applied with a data set key;
- **AES control**: the AES-256-GCM ciphertext of each image's pixel bytes,
  cut to ``H*W`` bytes and reshaped to the image size. Under a secure cipher
  these bytes are indistinguishable from random, so any model trained on them
  must sit at chance: the control shows what "diagnosis on encrypted images"
  would really mean without a homomorphic or learnable scheme.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from medseal.errors import InputError
from medseal.ingest.grey import image_to_grey_uint8
from medseal.ingest.records import Record

if TYPE_CHECKING:  # pragma: no cover
    from medseal.privacy.masking import MaskingScheme

__all__ = [
    "Split",
    "SplitData",
    "aes_control",
    "mask_split",
    "records_to_split",
    "split_validation",
    "stratified_indices",
    "to_tensor",
]


@dataclass
class Split:
    """One split: ``x`` uint8 ``(N, H, W)``, ``y`` int64 ``(N,)``, ids (record keys or object ids)."""

    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    ids: list[str] = field(repr=False)
    #: each image's patient as an integer code (``None``: unknown, or one image per
    #: patient); lets the evaluation resample patients, not images
    groups: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __repr__(self) -> str:
        pos = int(self.y.sum()) if len(self) else 0
        return f"Split(n={len(self)}, positives={pos}, shape={tuple(self.x.shape[1:])})"

    def subset(self, index: np.ndarray | Sequence[int]) -> Split:
        idx = np.asarray(index, dtype=np.int64)
        groups = self.groups[idx] if self.groups is not None else None
        return Split(self.x[idx], self.y[idx], [self.ids[i] for i in idx], groups)

    def with_x(self, x: np.ndarray) -> Split:
        if x.shape[0] != len(self):
            raise InputError(f"new images {x.shape} do not match {len(self)} labels")
        return Split(x, self.y, self.ids, self.groups)


@dataclass
class SplitData:
    """train / val / test splits of one data set, plus how they were made."""

    name: str
    train: Split
    val: Split
    test: Split
    split_rule: str
    meta: dict[str, Any] = field(default_factory=dict)

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}


def records_to_split(records: Iterable[Record]) -> Split:
    """Decode records into one :class:`Split` (records without a label are refused)."""
    xs, ys, ids, pats = [], [], [], []
    for r in records:
        if r.label is None:
            raise InputError(f"record {r.key} has no label")
        xs.append(image_to_grey_uint8(r.image()))
        ys.append(int(r.label))
        ids.append(r.key)
        pats.append(r.patient_id)
    if not xs:
        return Split(np.zeros((0, 1, 1), np.uint8), np.zeros(0, np.int64), [])
    shapes = {x.shape for x in xs}
    if len(shapes) != 1:
        raise InputError(f"images of several shapes in one split: {sorted(shapes)[:3]}")
    groups = None
    if all(p is not None for p in pats):
        groups = np.unique(np.asarray([str(p) for p in pats]), return_inverse=True)[1].ravel()
    return Split(np.stack(xs), np.asarray(ys, dtype=np.int64), ids, groups)


def stratified_indices(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``n`` items, each class kept in proportion (seeded)."""
    rng = np.random.default_rng(seed)
    idx = []
    classes = np.unique(y)
    for c in classes:
        members = np.flatnonzero(y == c)
        k = max(1, round(n * len(members) / len(y)))
        idx.append(rng.choice(members, size=min(k, len(members)), replace=False))
    return np.sort(np.concatenate(idx))[:n]


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """``uint8 (N, H, W)`` -> float32 ``(N, 1, H, W)`` in ``[0, 1]`` (``x / 255``)."""
    a = np.asarray(x)
    if a.dtype != np.uint8:
        raise InputError(f"expected uint8 images, got {a.dtype}")
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise InputError(f"expected (N, H, W) images, got shape {a.shape}")
    return torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)


def aes_control(x: np.ndarray, key: bytes, *, context: bytes = b"") -> np.ndarray:
    """AES-256-GCM ciphertext of each image's bytes, reshaped to the image size.

    Parameters
    ----------
    x
        ``uint8`` images ``(N, H, W)``.
    key
        32-byte key (e.g. ``keyring.derive("aes-control/<dataset>")``).
    context
        Bound into every nonce, so two calls with the same key never reuse one.

    Returns
    -------
    numpy.ndarray
        ``uint8 (N, H, W)``: the first ``H*W`` ciphertext bytes of each image
        (the 16-byte tag is dropped). Nonces are ``SHA-256(context, index)[:12]``,
        unique per image, so the result is reproducible for the key holder.
    """
    a = np.asarray(x)
    if a.dtype != np.uint8 or a.ndim != 3:
        raise InputError(f"expected uint8 images (N, H, W), got {a.dtype} {a.shape}")
    if len(key) != 32:
        raise InputError("the AES control needs a 32-byte key")
    aead = AESGCM(key)
    out = np.empty_like(a)
    n_bytes = a.shape[1] * a.shape[2]
    for i in range(a.shape[0]):
        nonce = hashlib.sha256(
            b"medseal/aes-control\x00" + context + i.to_bytes(8, "big")
        ).digest()[:12]
        ct = aead.encrypt(nonce, np.ascontiguousarray(a[i]).tobytes(), None)
        out[i] = np.frombuffer(ct[:n_bytes], dtype=np.uint8).reshape(a.shape[1:])
    return out


def mask_split(split: Split, scheme: MaskingScheme) -> Split:
    """The split with every image masked by ``scheme`` (labels and ids kept)."""
    return split.with_x(scheme.mask(split.x))


def split_validation(split: Split, *, fraction: float = 0.2, seed: int = 0) -> tuple[Split, Split]:
    """Carve a stratified validation part out of ``split`` (for vaults without a val split)."""
    n_val = max(2, round(fraction * len(split)))
    val_idx = stratified_indices(split.y, n_val, seed)
    rest = np.setdiff1d(np.arange(len(split)), val_idx)
    return split.subset(rest), split.subset(val_idx)
