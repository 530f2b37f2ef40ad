"""Arrays for training: load a data set split, mask it, or build its AES control.

Where it sits: models stage. It turns ingest records (or a vault's masked
objects, for an analyst who may not see plaintext) into ``uint8`` arrays
``(N, H, W)`` plus labels, and turns those into float tensors in ``[0, 1]``.

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

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from medseal import config
from medseal.errors import ConfigError, InputError
from medseal.ingest import datasets
from medseal.ingest.records import Record

if TYPE_CHECKING:  # pragma: no cover
    from medseal.privacy.masking import MaskingScheme
    from medseal.vault import Vault

__all__ = [
    "Split",
    "SplitData",
    "aes_control",
    "dataset_names",
    "load_dataset",
    "load_masked_from_vault",
    "mask_split",
    "records_to_split",
    "split_validation",
    "to_grey_uint8",
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


def to_grey_uint8(pixels: np.ndarray) -> np.ndarray:
    """A 2-D ``uint8`` grey image from grey, RGB(A) or >8-bit input (display range kept)."""
    a = np.asarray(pixels)
    if a.ndim == 3:
        rgb = a[..., :3].astype(np.float64)
        a = rgb @ np.array([0.299, 0.587, 0.114]) if rgb.shape[-1] == 3 else rgb[..., 0]
    if a.ndim != 2:
        raise InputError(
            f"expected a 2-D grey or colour image, got shape {np.asarray(pixels).shape}"
        )
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    if a.max(initial=0) > 255:
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / max(hi - lo, 1e-12))
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def records_to_split(records: Iterable[Record]) -> Split:
    """Decode records into one :class:`Split` (records without a label are refused)."""
    xs, ys, ids, pats = [], [], [], []
    for r in records:
        if r.label is None:
            raise InputError(f"record {r.key} has no label")
        xs.append(to_grey_uint8(r.image().pixels))
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


#: what ``load_dataset`` accepts besides the MedMNIST 2D names
OTHER_DATASETS = (
    "nih-chestxray14",
    "nih-chestxray14-more",
    "nih-chestxray14-pneumonia",
    "breakhis",
    "embedded",
)


def dataset_names() -> list[str]:
    """Every name ``--data`` accepts (MedMNIST 2D sets by their real names)."""
    from medseal.ingest.datasets import medmnist

    return sorted(medmnist.FLAGS_2D) + list(OTHER_DATASETS)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    limit: int | None = None,
) -> SplitData:
    """Load a data set as train/val/test arrays with the split seed 000 needs.

    Parameters
    ----------
    name
        A MedMNIST 2D set by its real name (``pneumoniamnist``, ``retinamnist``,
        ``bloodmnist``, ...; ``medmnist`` means ``pneumoniamnist``; the multi-label
        ``chestmnist`` is refused), ``nih-chestxray14`` (or ``nih``: the 64 px
        subset, normal vs any finding), ``nih-chestxray14-more`` (128 px,
        pneumonia vs no finding), ``nih-chestxray14-pneumonia`` (both NIH sets at
        64 px, pneumonia vs no finding), ``breakhis`` (96 px, benign vs
        malignant) or ``embedded`` (the 300 PneumoniaMNIST images shipped in the
        package).
    data_dir
        Folder holding the data set folder (default: ``MEDSEAL_DATA_DIR`` etc.).
    seed
        Seed of the patient-disjoint split (sets without official splits).
    limit
        Keep at most this many images per split (stratified, for quick runs and tests).

    Notes
    -----
    MedMNIST sets use their official splits (PneumoniaMNIST: test = the 624
    official test images). NIH sets are split 60/20/20 by patient with
    :func:`~medseal.ingest.datasets.patient_disjoint_split` (the subset's own
    folders share patients). BreaKHis is split 60/20/20 by slide id within each
    class (every slide is one class), so no patient is in two splits and each
    split holds both classes. Colour images (RetinaMNIST, BloodMNIST, BreaKHis,
    ...) are converted to grey (ITU-R 601 luma): the networks here are grey.
    """
    from medseal.ingest.datasets import medmnist
    from medseal.ingest.datasets.nih import pneumonia_label

    key = name.strip().lower()
    meta: dict[str, Any] = {}
    if key == "medmnist":
        key = "pneumoniamnist"
    if key in ("nih", "nih-chestxray14", "chestx-ray14"):
        records = _load_records("nih", data_dir)
        parts = datasets.patient_disjoint_split(records, (0.6, 0.2, 0.2), seed=seed)
        rule = f"patient-disjoint 60/20/20 (seed {seed}) over {len(records)} images"
        canonical = "nih-chestxray14"
        meta["task"] = "normal vs any finding"
    elif key == "nih-chestxray14-more":
        records = _load_records("nih-chestxray14-more", data_dir)
        parts = datasets.patient_disjoint_split(records, (0.6, 0.2, 0.2), seed=seed)
        rule = f"patient-disjoint 60/20/20 (seed {seed}) over {len(records)} images"
        canonical = key
        meta["task"] = "pneumonia vs no finding (images with other findings only left out)"
    elif key == "nih-chestxray14-pneumonia":
        sub = [
            dataclasses.replace(r, label=pneumonia_label(str(r.meta["finding_labels"])))
            for r in _load_records("nih", data_dir)
        ]
        sub = [r for r in sub if r.label is not None]
        more = [
            dataclasses.replace(r, loader=_resized(r.loader, 64))
            for r in _load_records("nih-chestxray14-more", data_dir)
        ]
        records = sub + more
        parts = datasets.patient_disjoint_split(records, (0.6, 0.2, 0.2), seed=seed)
        rule = (
            f"patient-disjoint 60/20/20 (seed {seed}) over {len(records)} images "
            f"({len(sub)} of the 64 px subset, {len(more)} of the 128 px set resized to 64 px)"
        )
        canonical = key
        meta["task"] = "pneumonia vs no finding"
        meta["caution"] = (
            "source and label are confounded: the subset adds mostly 'No Finding' images "
            "resized by another hand; prefer nih-chestxray14-more for the claim"
        )
    elif key == "breakhis":
        records = _load_records("breakhis", data_dir)
        parts = _grouped_by_class(records, seed)
        rule = f"slide-grouped 60/20/20 within each class (seed {seed}) over {len(records)} images"
        canonical = key
        meta["task"] = "benign vs malignant"
    elif key in medmnist.FLAGS_2D or key == "embedded":
        if key in medmnist.MULTI_LABEL:
            raise InputError(
                f"{key} is multi-label (14 findings per image); seed000 compares single-label "
                "classifiers: use another MedMNIST set"
            )
        records = _load_records(key, data_dir)
        parts = {s: [r for r in records if r.split == s] for s in ("train", "val", "test")}
        rule = "official MedMNIST splits" + (
            " (embedded 300-image demo subset)" if key == "embedded" else ""
        )
        canonical = key
        if key != "embedded":
            meta["file"] = str(records[0].meta.get("dataset", key)) if records else key
    else:
        raise InputError(f"unknown data set {name!r}: use one of {', '.join(dataset_names())}")
    out: dict[str, Split] = {}
    for s in ("train", "val", "test"):
        split = records_to_split(parts[s])
        if limit is not None and len(split) > limit:
            split = split.subset(_stratified(split.y, limit, seed))
        out[s] = split
    if any(r.patient_id is not None for r in records) and key not in medmnist.FLAGS_2D:
        pats = [{r.patient_id for r in parts[s]} for s in ("train", "val", "test")]
        overlap = len(pats[0] & pats[1]) + len(pats[0] & pats[2]) + len(pats[1] & pats[2])
        meta.update(patients=[len(p) for p in pats], shared_patients=overlap)
    if records and records[0].image().pixels.ndim == 3:
        meta["colour"] = "RGB converted to grey (ITU-R 601 luma)"
    labels = np.concatenate([out[s].y for s in ("train", "val", "test")])
    meta["n_classes"] = int(max(int(labels.max()) + 1, 2)) if len(labels) else 2
    return SplitData(canonical, out["train"], out["val"], out["test"], rule, meta)


def _resized(loader: Any, size: int) -> Any:
    """A record loader giving the image resized to ``size`` px (PIL LANCZOS)."""

    def load() -> Any:
        from PIL import Image as PILImage

        img = loader()
        pil = PILImage.fromarray(to_grey_uint8(img.pixels)).resize(
            (size, size), PILImage.Resampling.LANCZOS
        )
        return dataclasses.replace(img, pixels=np.asarray(pil, dtype=np.uint8))

    return load


def _grouped_by_class(records: list[Record], seed: int) -> dict[str, list[Record]]:
    """Patient-disjoint 60/20/20 within each class; every patient must have one class."""
    by_label: dict[int, list[Record]] = {}
    for r in records:
        by_label.setdefault(int(r.label or 0), []).append(r)
    classes_of: dict[str | None, set[int]] = {}
    for r in records:
        classes_of.setdefault(r.patient_id, set()).add(int(r.label or 0))
    if any(len(c) > 1 for c in classes_of.values()):
        raise InputError("a patient has images of two classes: use a patient-disjoint split")
    parts: dict[str, list[Record]] = {"train": [], "val": [], "test": []}
    for _, group in sorted(by_label.items()):
        for s, rs in datasets.patient_disjoint_split(group, (0.6, 0.2, 0.2), seed=seed).items():
            parts[s].extend(rs)
    return parts


def _load_records(name: str, data_dir: str | os.PathLike[str] | None) -> list[Record]:
    """``datasets.load``; without an explicit dir, fall back to the project's shared data."""
    try:
        return datasets.load(name, data_dir)
    except ConfigError:
        shared = config.shared_data_dir()
        if data_dir is not None or shared is None:
            raise
        return datasets.load(name, shared)


def _stratified(y: np.ndarray, n: int, seed: int) -> np.ndarray:
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


def load_masked_from_vault(
    vault: Vault, *, as_: str, dataset: str, ids: Sequence[str] | None = None
) -> tuple[SplitData, dict[str, Any]]:
    """The masked objects of ``dataset`` an analyst may read, as splits (never plaintext).

    Reads only ``kind == "masked"`` objects through :meth:`Vault.get_masked`;
    labels and splits come from the catalogue. Objects without a split go to
    ``train``. Returns the splits and the masking scheme description they share.

    Raises
    ------
    InputError
        No masked objects, or objects masked with different schemes.
    """
    infos = [
        i
        for i in vault.ls(as_=as_, dataset=dataset)
        if i.kind == "masked" and masked_shift(i.manifest) == (0, 0)
    ]
    if ids is not None:
        wanted = set(ids)
        infos = [i for i in infos if i.id in wanted]
    if not infos:
        raise InputError(f"no masked objects in dataset {dataset!r}: run `medseal mask` first")
    schemes = {_scheme_key(i.manifest) for i in infos}
    if len(schemes) != 1:
        raise InputError(f"dataset {dataset!r} holds images masked with {len(schemes)} schemes")
    groups: dict[str, list[tuple[np.ndarray, int, str]]] = {"train": [], "val": [], "test": []}
    labelled = [i for i in infos if i.label is not None]
    for start in range(0, len(labelled), 256):  # batched reads: one audit entry per chunk
        chunk = labelled[start : start + 256]
        for info, raw in zip(
            chunk, vault.get_masked_many([i.id for i in chunk], as_=as_), strict=True
        ):
            split = info.split if info.split in groups else "train"
            groups[split].append((to_grey_uint8(raw), int(info.label), info.id))  # type: ignore[arg-type]
    out = {}
    for s, items in groups.items():
        if items:
            out[s] = Split(
                np.stack([p for p, _, _ in items]),
                np.asarray([lab for _, lab, _ in items], dtype=np.int64),
                [i for _, _, i in items],
            )
        else:
            shape = next(p.shape for v in groups.values() for p, _, _ in v)
            out[s] = Split(np.zeros((0, *shape), np.uint8), np.zeros(0, np.int64), [])
    scheme = dict(_scheme_of(infos[0].manifest))
    return SplitData(dataset, out["train"], out["val"], out["test"], "vault splits"), scheme


def masked_shift(manifest: Any) -> tuple[int, int]:
    """The cyclic shift of the plaintext behind a masked copy (``(0, 0)``: the image itself)."""
    s = _scheme_of(manifest).get("shift") or (0, 0)
    return int(s[0]), int(s[1])


def load_masked_views(
    vault: Vault, *, as_: str, dataset: str, ids: Sequence[str]
) -> np.ndarray | None:
    """The owner-made shifted masked copies of the masked objects ``ids``, as ``(V, N, H, W)``.

    ``medseal mask --shifts S --allow-key-leaking-shifts`` stores, besides each
    masked image, masked copies of its plaintext cyclically shifted by up to
    ``S`` pixels. View ``k`` of image ``n`` is the masking of image ``n`` shifted
    by the ``k``-th offset that *every* image in ``ids`` has. Returns ``None``
    when there are no such copies (or none shared by all). Whoever reads them
    can recover the key (:mod:`medseal.evaluate.attacks.views`).
    """
    got = load_masked_views_with_offsets(vault, as_=as_, dataset=dataset, ids=ids)
    return None if got is None else got[0]


def load_masked_views_with_offsets(
    vault: Vault, *, as_: str, dataset: str, ids: Sequence[str]
) -> tuple[np.ndarray, list[tuple[int, int]]] | None:
    """:func:`load_masked_views` and the shift ``(dy, dx)`` of each view (from the manifests)."""
    infos = [i for i in vault.ls(as_=as_, dataset=dataset) if i.kind == "masked"]
    by_id = {i.id: i for i in infos}
    parents = [by_id[i].parent_id for i in ids if i in by_id]
    if len(parents) != len(ids) or not ids:
        return None
    scheme = _scheme_key(by_id[ids[0]].manifest)
    copies: dict[str | None, dict[tuple[int, int], str]] = {}
    for i in infos:
        if _scheme_key(i.manifest) == scheme:
            copies.setdefault(i.parent_id, {})[masked_shift(i.manifest)] = i.id
    shared = set.intersection(*(set(copies.get(p, {})) for p in parents))
    if len(shared) < 2:
        return None
    offsets = sorted(shared)
    views = np.stack(
        [
            np.stack(
                [
                    to_grey_uint8(raw)
                    for raw in vault.get_masked_many([copies[p][o] for p in parents], as_=as_)
                ]
            )
            for o in offsets
        ]
    )
    return views, offsets


def _scheme_of(manifest: Any) -> dict[str, Any]:
    meta = manifest.get("meta") or {}
    return dict(meta.get("scheme") or {})


def _scheme_key(manifest: Any) -> str:
    s = _scheme_of(manifest)
    return f"{s.get('scheme')}|{s.get('key_id')}|{s.get('block')}"


def mask_split(split: Split, scheme: MaskingScheme) -> Split:
    """The split with every image masked by ``scheme`` (labels and ids kept)."""
    return split.with_x(scheme.mask(split.x))


def split_validation(split: Split, *, fraction: float = 0.2, seed: int = 0) -> tuple[Split, Split]:
    """Carve a stratified validation part out of ``split`` (for vaults without a val split)."""
    n_val = max(2, round(fraction * len(split)))
    val_idx = _stratified(split.y, n_val, seed)
    rest = np.setdiff1d(np.arange(len(split)), val_idx)
    return split.subset(rest), split.subset(val_idx)
