"""NIH ChestX-ray14: the public release and the project's 1000-image 64 px subset.

Where it sits: a data set loader of ingest (records for the models stage).

Two layouts are recognised:

- **public**: ``Data_Entry_2017.csv`` plus the PNGs in ``images/`` or in
  ``images_001/images/`` ... ``images_012/images/`` (the NIH Box / Kaggle layout);
  ``train_val_list.txt`` / ``test_list.txt`` give the official split when present.
- **subset** (``shared/data/nih-chestxray14-subset``): ``manifest.csv`` plus
  ``NIH1000_64px/<train|valid|test>/<0_normal|1_abnormal>/*.png``. Its splits are
  **not patient-disjoint** (patients shared between train/valid/test), so use
  :func:`patient_disjoint_split` when leakage matters.

A third layout, ``shared/data/nih-chestxray14-more`` (``nih_128.npz``: 1,044 more
NIH images at 128 px with their v2020 finding labels and patient ids), is read
by :func:`load_more`; none of its images is in the subset, one patient (218) is
in both.

Labels are binary and always come from the NIH finding labels: ``0`` for
"No Finding", else ``1`` (:func:`load_more` offers pneumonia vs no finding too). In the subset this overrides one folder label:
``valid/0_normal/00000193_019.png`` is "Pneumonia" in NIH's CSV, so its label is 1
(``meta["folder_label"]`` keeps 0 and ``meta["label_disagrees"]`` is ``True``).
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from medseal.errors import ConfigError
from medseal.ingest.png import read_image
from medseal.ingest.records import Record

__all__ = [
    "FOLDERS", "LAYOUT", "MORE_FOLDERS", "NAME", "load", "load_more", "patient_disjoint_split",
    "pneumonia_label",
]  # fmt: skip

NAME = "nih"
FOLDERS = ("ChestX-ray14", "nih-chestxray14", "NIH", "nih-chestxray14-subset")
LAYOUT = """\
  <data dir>/ChestX-ray14/Data_Entry_2017.csv
  <data dir>/ChestX-ray14/images/00000001_000.png ...      (or images_001/images/..., images_012/images/...)
  <data dir>/ChestX-ray14/train_val_list.txt, test_list.txt (optional: official split)
  or the 1000-image subset: <data dir>/nih-chestxray14-subset/manifest.csv + NIH1000_64px/..."""
_SPLIT_NAMES = {"valid": "val", "validation": "val"}
MORE_FOLDERS = ("nih-chestxray14-more",)


def pneumonia_label(findings: str) -> int | None:
    """Pneumonia vs no finding: 1 if "Pneumonia" is among the findings, 0 for "No
    Finding", ``None`` (left out) for any other finding."""
    parts = {f.strip() for f in findings.split("|")}
    if "Pneumonia" in parts:
        return 1
    if parts == {"No Finding"}:
        return 0
    return None


@functools.lru_cache(maxsize=2)
def _npz_images(path: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as data:
        return np.asarray(data["images"])


def _npz_item(path: str, index: int) -> Any:
    from medseal.types import Image

    return Image(np.ascontiguousarray(_npz_images(path)[index]), bits_stored=8)


def load_more(root: str | Path, *, task: str = "pneumonia") -> list[Record]:
    """The 1,044 NIH images at 128 px of ``nih-chestxray14-more`` (``nih_128.npz``).

    Parameters
    ----------
    root
        The folder holding ``nih_128.npz`` (or the file itself).
    task
        ``"pneumonia"`` (default): label 1 when the findings include Pneumonia,
        0 for "No Finding"; images with only other findings are left out (14).
        ``"any"``: 0 for "No Finding", else 1 (as :func:`load`).

    Returns
    -------
    list[Record]
        ``key`` the NIH Image Index, ``patient_id`` NIH's patient id, ``split`` ``None``
        (split by patient with :func:`patient_disjoint_split`); ``meta`` has
        ``finding_labels``, ``follow_up``, ``source`` and ``patient_in_existing_subset``.
    """
    root = Path(root)
    path = root if root.is_file() else root / "nih_128.npz"
    if not path.is_file():
        raise ConfigError(f"{root.name}: no nih_128.npz. Expected:\n{LAYOUT}")
    if task not in ("pneumonia", "any"):
        raise ConfigError(f"task must be 'pneumonia' or 'any', got {task!r}")
    with np.load(path, allow_pickle=False) as data:
        names = [str(v) for v in data["filename"]]
        patients = [int(v) for v in data["patient"]]
        follow = [int(v) for v in data["follow_up"]]
        findings = [str(v) for v in data["labels"]]
        source = [str(v) for v in data["source"]]
        shared = [bool(v) for v in data["patient_in_existing_subset"]]
    records = []
    for i, name in enumerate(names):
        label = pneumonia_label(findings[i]) if task == "pneumonia" else _label(findings[i])
        if label is None:
            continue
        records.append(
            Record(
                key=name,
                label=label,
                patient_id=str(patients[i]),
                split=None,
                meta={
                    "dataset": "nih-chestxray14-more",
                    "finding_labels": findings[i],
                    "patient_id": str(patients[i]),
                    "follow_up": follow[i],
                    "source": source[i],
                    "patient_in_existing_subset": shared[i],
                },
                loader=functools.partial(_npz_item, str(path), i),
            )
        )
    return records


def _label(findings: str) -> int:
    return 0 if findings.strip() == "No Finding" else 1


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def load(
    root: str | Path, *, include_fullres: bool = False, max_pixels: int | None = None
) -> list[Record]:
    """List NIH ChestX-ray14 images (public layout or the 64 px subset).

    Parameters
    ----------
    root
        The folder holding ``Data_Entry_2017.csv`` (public) or ``manifest.csv``
        (subset).
    include_fullres
        Subset only: also list the three 1024 px originals (split ``"fullres"``).
    max_pixels
        Pixel-count limit passed to :func:`~medseal.ingest.png.read_image`.

    Returns
    -------
    list[Record]
        ``key`` is NIH's Image Index (``00000001_000.png``), ``patient_id`` NIH's
        Patient ID, ``split`` ``train``/``val``/``test`` (subset),
        ``trainval``/``test`` (public with the official lists) or ``None``.
        ``meta``: ``finding_labels``, ``follow_up``, ``view``, ``age``, ``sex``,
        ``patient_id``.
    """
    root = Path(root)
    if (root / "manifest.csv").is_file() and (root / "NIH1000_64px").is_dir():
        return _load_subset(root, include_fullres, max_pixels)
    if (root / "Data_Entry_2017.csv").is_file():
        return _load_public(root, max_pixels)
    raise ConfigError(f"{root.name}: not an NIH ChestX-ray14 folder. Expected:\n{LAYOUT}")


def _meta(
    findings: str, patient: str, follow_up: Any, view: str, age: Any, sex: str
) -> dict[str, Any]:
    return {
        "dataset": "nih-chestxray14",
        "finding_labels": findings,
        "patient_id": patient,
        "follow_up": _int_or_none(follow_up),
        "view": view,
        "age": _int_or_none(age),
        "sex": sex,
    }


def _load_subset(root: Path, include_fullres: bool, max_pixels: int | None) -> list[Record]:
    records = []
    with open(root / "manifest.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            split = row["split"]
            if split == "fullres" and not include_fullres:
                continue
            path = root / row["path"]
            label = _label(row["finding_labels"])
            patient = str(int(row["patient_id"]))
            meta = _meta(
                row["finding_labels"],
                patient,
                row["follow_up"],
                row["view_position"],
                row["patient_age"],
                row["patient_gender"],
            )
            meta["path"] = row["path"]
            if row["folder_label"]:
                folder_label = int(row["folder_label"].split("_", 1)[0])
                meta["folder_label"] = folder_label
                meta["label_disagrees"] = folder_label != label
            records.append(
                Record(
                    key=path.name,
                    label=label,
                    patient_id=patient,
                    split=_SPLIT_NAMES.get(split, split),
                    meta=meta,
                    loader=functools.partial(read_image, path, max_pixels=max_pixels),
                )
            )
    return records


def _read_list(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def _load_public(root: Path, max_pixels: int | None) -> list[Record]:
    files: dict[str, Path] = {}
    for folder in [
        root / "images",
        *sorted(root.glob("images_*/images")),
        *sorted(root.glob("images_*")),
    ]:
        if folder.is_dir():
            for p in folder.glob("*.png"):
                files.setdefault(p.name, p)
    trainval = _read_list(root / "train_val_list.txt")
    test = _read_list(root / "test_list.txt")
    records = []
    with open(root / "Data_Entry_2017.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name = row["Image Index"]
            path = files.get(name)
            if path is None:
                continue
            patient = str(int(row["Patient ID"]))
            split = "test" if name in test else "trainval" if name in trainval else None
            records.append(
                Record(
                    key=name,
                    label=_label(row["Finding Labels"]),
                    patient_id=patient,
                    split=split,
                    meta=_meta(
                        row["Finding Labels"],
                        patient,
                        row.get("Follow-up #"),
                        row.get("View Position", ""),
                        row.get("Patient Age"),
                        row.get("Patient Gender", ""),
                    ),
                    loader=functools.partial(read_image, path, max_pixels=max_pixels),
                )
            )
    return records


def patient_disjoint_split(
    records: Iterable[Record],
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    names: Sequence[str] = ("train", "val", "test"),
) -> dict[str, list[Record]]:
    """Split records so that no patient (or slide) appears in two parts.

    Parameters
    ----------
    records
        Records with ``patient_id`` set (a record without one is its own group).
    fractions
        Target share of *images* per part; normalised to sum 1.
    seed
        Seeds the patient order (``numpy.random.default_rng``); same input and
        seed give the same split.
    names
        Part names, one per fraction.

    Returns
    -------
    dict[str, list[Record]]
        Copies of the records with ``split`` set to their part, in input order.

    Notes
    -----
    Patients are shuffled, then each goes to the part furthest below its target
    image count, so parts hit their fractions to within one patient's images.
    """
    items = list(records)
    if len(fractions) != len(names) or not fractions:
        raise ValueError(
            f"need one name per fraction, got {len(names)} names, {len(fractions)} fractions"
        )
    frac = np.asarray(fractions, dtype=np.float64)
    if np.any(frac < 0) or frac.sum() <= 0:
        raise ValueError("fractions must be non-negative and not all zero")
    frac = frac / frac.sum()
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(items):
        groups[r.patient_id if r.patient_id is not None else f"\x00{r.key}"].append(i)
    order = sorted(groups)
    rng = np.random.default_rng(seed)
    order = [order[j] for j in rng.permutation(len(order))]
    targets = frac * len(items)
    counts = np.zeros(len(names))
    part_of: dict[int, int] = {}
    for patient in order:
        k = int(np.argmax(targets - counts))
        for i in groups[patient]:
            part_of[i] = k
        counts[k] += len(groups[patient])
    out: dict[str, list[Record]] = {n: [] for n in names}
    for i, r in enumerate(items):
        name = names[part_of[i]]
        out[name].append(replace(r, split=name))
    return out
