"""The study data sets as train/val/test arrays, with the split each study needs.

Where it sits: models stage, on top of :mod:`medseal.ingest.datasets`.
:func:`load_dataset` gives the MedMNIST 2D sets their official splits and
splits the others by patient (NIH) or by slide within each class (BreaKHis),
so no patient is in two splits.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

import numpy as np

from medseal import config
from medseal.errors import ConfigError, InputError
from medseal.ingest import datasets
from medseal.ingest.grey import image_to_grey_uint8
from medseal.ingest.records import Record
from medseal.models.arrays import Split, SplitData, records_to_split, stratified_indices

__all__ = ["OTHER_DATASETS", "StudyData", "dataset_names", "load_dataset", "parse_named"]


_E = TypeVar("_E", bound=StrEnum)


def parse_named(
    kind: type[_E], name: str, aliases: Mapping[str, str], what: str, known: Iterable[str]
) -> _E:
    """The member of ``kind`` that ``name`` (case-insensitive, or one of ``aliases``) stands
    for; an unknown name is an :class:`InputError` listing the ``known`` ones."""
    key = str(name).strip().lower()
    try:
        return kind(aliases.get(key, key))
    except ValueError:
        raise InputError(f"unknown {what} {name!r}; known: {', '.join(known)}") from None


class StudyData(StrEnum):
    """The data sets :func:`load_dataset` knows, by their canonical names."""

    PATHMNIST = "pathmnist"
    CHESTMNIST = "chestmnist"
    DERMAMNIST = "dermamnist"
    OCTMNIST = "octmnist"
    PNEUMONIAMNIST = "pneumoniamnist"
    RETINAMNIST = "retinamnist"
    BREASTMNIST = "breastmnist"
    BLOODMNIST = "bloodmnist"
    TISSUEMNIST = "tissuemnist"
    ORGANAMNIST = "organamnist"
    ORGANCMNIST = "organcmnist"
    ORGANSMNIST = "organsmnist"
    NIH_CHESTXRAY14 = "nih-chestxray14"
    NIH_CHESTXRAY14_MORE = "nih-chestxray14-more"
    NIH_CHESTXRAY14_PNEUMONIA = "nih-chestxray14-pneumonia"
    BREAKHIS = "breakhis"
    EMBEDDED = "embedded"

    @classmethod
    def parse(cls, name: str) -> StudyData:
        """The data set ``name`` stands for (``medmnist``, ``nih`` and ``chestx-ray14`` too)."""
        return parse_named(cls, name, _ALIASES, "data set", dataset_names())


_ALIASES = {
    "medmnist": "pneumoniamnist",
    "nih": "nih-chestxray14",
    "chestx-ray14": "nih-chestxray14",
}


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
            split = split.subset(stratified_indices(split.y, limit, seed))
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
        pil = PILImage.fromarray(image_to_grey_uint8(img)).resize(
            (size, size), PILImage.Resampling.LANCZOS
        )
        # already grey and windowed: drop the header so nobody applies its LUTs twice
        return dataclasses.replace(
            img, pixels=np.asarray(pil, dtype=np.uint8), header=None, bits_stored=8, frames=1
        )

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
