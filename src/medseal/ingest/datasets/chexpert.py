"""CheXpert (Stanford) chest radiographs, ``CheXpert-v1.0`` or ``-small``.

Where it sits: a data set loader of ingest. No CheXpert data is shipped with the
project (its licence forbids redistribution); point the loader at your own copy.

Layout: ``train.csv`` / ``valid.csv`` whose ``Path`` column reads like
``CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg``, relative to
the folder *containing* ``CheXpert-v1.0-small``. The binary label is ``0`` when
"No Finding" is 1, else ``1`` (uncertain or blank findings count as not normal).
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path
from typing import Any

from medseal.errors import ConfigError
from medseal.ingest.png import read_image
from medseal.ingest.records import Record

__all__ = ["FOLDERS", "LAYOUT", "NAME", "load"]

NAME = "chexpert"
FOLDERS = ("CheXpert-v1.0-small", "CheXpert-v1.0", "chexpert")
LAYOUT = """\
  <data dir>/CheXpert-v1.0-small/train.csv, valid.csv   (column Path = CheXpert-v1.0-small/train/patientNNNNN/studyN/viewN_frontal.jpg)
  <data dir>/CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg ..."""
_CSVS = (("train.csv", "train"), ("valid.csv", "val"), ("test.csv", "test"))
_PATIENT = re.compile(r"^patient(\d+)$")
_STUDY = re.compile(r"^study(\d+)$")


def _resolve(root: Path, rel: str) -> Path:
    """``Path`` column -> file: relative to root's parent, to root, or without its first part."""
    rel_path = Path(rel)
    candidates = [root.parent / rel_path, root / rel_path]
    if len(rel_path.parts) > 1:
        candidates.append(root / Path(*rel_path.parts[1:]))
    for c in candidates:
        if c.is_file():
            return c
    return candidates[0] if rel_path.parts[0] == root.name else candidates[-1]


def _float(value: str | None) -> float | None:
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None


def load(
    root: str | Path, *, splits: tuple[str, ...] = ("train", "val"), max_pixels: int | None = None
) -> list[Record]:
    """List CheXpert images from its CSVs.

    Parameters
    ----------
    root
        The ``CheXpert-v1.0-small`` (or ``-v1.0``) folder holding the CSVs.
    splits
        Which CSVs to read: ``train`` (``train.csv``), ``val`` (``valid.csv``),
        ``test`` (``test.csv``, when present).

    Returns
    -------
    list[Record]
        ``key`` the path inside the data set (``train/patient00001/study1/view1_frontal.jpg``),
        ``patient_id`` ``patient00001``, ``meta``: ``study`` (int), ``view``
        (Frontal/Lateral), ``ap_pa``, ``sex``, ``age``, ``no_finding``.
    """
    root = Path(root)
    present = [(f, s) for f, s in _CSVS if s in splits and (root / f).is_file()]
    if not present:
        raise ConfigError(
            f"{root.name}: no CheXpert CSV (train.csv / valid.csv). Expected:\n{LAYOUT}"
        )
    records = []
    for fname, split in present:
        with open(root / fname, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                rel = row["Path"].strip()
                parts = Path(rel).parts
                patient = next((p for p in parts if _PATIENT.match(p)), None)
                study_part = next((p for p in parts if _STUDY.match(p)), None)
                no_finding = _float(row.get("No Finding"))
                key_parts = (
                    parts[1:] if parts and parts[0].lower().startswith("chexpert") else parts
                )
                meta: dict[str, Any] = {
                    "dataset": "chexpert",
                    "study": int(study_part[5:]) if study_part else None,
                    "view": row.get("Frontal/Lateral", ""),
                    "ap_pa": row.get("AP/PA", ""),
                    "sex": row.get("Sex", ""),
                    "age": int(_float(row.get("Age")) or 0) or None,
                    "no_finding": no_finding,
                }
                records.append(
                    Record(
                        key="/".join(key_parts),
                        label=0 if no_finding == 1.0 else 1,
                        patient_id=patient,
                        split=split,
                        meta=meta,
                        loader=functools.partial(
                            read_image, _resolve(root, rel), max_pixels=max_pixels
                        ),
                    )
                )
    return records
