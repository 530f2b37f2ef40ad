"""TCIA-style DICOM collections (LIDC-IDRI, COVID-19-NY-SBU ...): folders of series.

Where it sits: a data set loader of ingest. TCIA downloads are folders of ``.dcm``
files, one folder per series, in any nesting. This loader reads only the headers
(``stop_before_pixels``), groups files by PatientID and SeriesInstanceUID, orders
each series along the slice normal (ImagePositionPatient, else InstanceNumber)
and orders a patient's studies by date.

The records carry no identifying header values: ``patient_id`` is the
collection's PatientID (a TCIA pseudonym; hidden from ``repr`` and meant for
grouping only), ``meta`` holds indices and the day offset from the patient's
first study, not dates or UIDs. ``record.image()`` de-identifies the full header
(by default with one :class:`~medseal.ingest.deid.Deidentifier` shared by all
records of a ``load`` call, so pseudonyms are consistent across a patient's studies).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import warnings
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from medseal.ingest.deid import Deidentifier
from medseal.ingest.dicom import read_dicom
from medseal.ingest.discover import discover
from medseal.ingest.records import Record

__all__ = ["FOLDERS", "LAYOUT", "NAME", "load", "series"]

NAME = "covid19-ny-sbu"
FOLDERS = ("covid19-ny-sbu-ct-followup", "COVID-19-NY-SBU", "LIDC-IDRI", "tcia")
LAYOUT = """\
  <data dir>/COVID-19-NY-SBU/<PatientID>/<study>/<series>/*.dcm   (any nesting of folders of .dcm files,
  as the NBIA Data Retriever writes them; LIDC-IDRI works the same way)"""
_TAGS = [
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "StudyDate",
    "Modality",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "SOPClassUID",
]


def _header(path: Path) -> pydicom.Dataset | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_TAGS)
    except Exception:  # noqa: BLE001 - unreadable files are left out of the listing
        return None


def _slice_position(ds: pydicom.Dataset) -> float | None:
    try:
        pos = np.asarray([float(v) for v in ds.ImagePositionPatient])
        ori = np.asarray([float(v) for v in ds.ImageOrientationPatient])
    except (AttributeError, TypeError, ValueError):
        return None
    if pos.shape != (3,) or ori.shape != (6,):
        return None
    return float(np.dot(pos, np.cross(ori[:3], ori[3:])))


def _date(value: Any) -> datetime.date | None:
    try:
        return datetime.datetime.strptime(str(value)[:8], "%Y%m%d").date()
    except (TypeError, ValueError):
        return None


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load(
    root: str | Path,
    *,
    deidentify: bool = True,
    deidentifier: Deidentifier | None = None,
    allow_burned_in: bool = False,
    max_pixels: int | None = None,
) -> list[Record]:
    """List the DICOM slices under ``root``, grouped into series and ordered.

    Parameters
    ----------
    root
        A folder of DICOM files (any nesting).
    deidentify, deidentifier, allow_burned_in, max_pixels
        Passed to :func:`~medseal.ingest.dicom.read_dicom` by each record's loader;
        with ``deidentifier=None`` one random-secret de-identifier is shared by
        all records of this call.

    Returns
    -------
    list[Record]
        Ordered by patient, study date, series, slice. ``key`` is the path
        relative to ``root``; ``meta``: ``modality``, ``study_index`` (0 = the
        patient's first study), ``days_from_first_study``, ``series_key`` (a hash
        of the SeriesInstanceUID), ``slice_index``, ``n_slices``.
    """
    root = Path(root)
    if deidentify and deidentifier is None:
        deidentifier = Deidentifier.random()
    by_series: dict[tuple[str, str], list[tuple[Path, pydicom.Dataset]]] = defaultdict(list)
    for path in discover(root):
        if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npz"):
            continue
        ds = _header(path)
        if ds is None or "SeriesInstanceUID" not in ds:
            continue
        by_series[(str(ds.get("PatientID", "")), str(ds.SeriesInstanceUID))].append((path, ds))

    # study order per patient, by date then UID
    studies: dict[str, dict[str, datetime.date | None]] = defaultdict(dict)
    for (patient, _), items in by_series.items():
        for _, ds in items:
            studies[patient].setdefault(
                str(ds.get("StudyInstanceUID", "")), _date(ds.get("StudyDate"))
            )

    def study_rank(patient: str, study: str) -> tuple[int, int | None]:
        dates = studies[patient]
        ordered = sorted(dates, key=lambda s: (dates[s] or datetime.date.max, s))
        first = min((d for d in dates.values() if d is not None), default=None)
        date = dates[study]
        days = (date - first).days if date is not None and first is not None else None
        return ordered.index(study), days

    groups = []
    for (patient, series_uid), items in by_series.items():
        study = str(items[0][1].get("StudyInstanceUID", ""))
        rank, days = study_rank(patient, study)

        def order(item: tuple[Path, pydicom.Dataset]) -> tuple[float, float, str]:
            pos = _slice_position(item[1])
            number = item[1].get("InstanceNumber")
            try:
                num = float(number) if number not in (None, "") else float("inf")
            except (TypeError, ValueError):
                num = float("inf")
            return (pos if pos is not None else num, num, item[0].name)

        groups.append((patient, rank, days, series_uid, sorted(items, key=order)))
    groups.sort(key=lambda g: (g[0], g[1], g[3]))

    records = []
    for patient, rank, days, series_uid, items in groups:
        series_key = _short_hash(series_uid)
        for index, (path, ds) in enumerate(items):
            meta = {
                "dataset": "tcia",
                "modality": str(ds.get("Modality", "") or "") or None,
                "study_index": rank,
                "days_from_first_study": days,
                "series_key": series_key,
                "slice_index": index,
                "n_slices": len(items),
            }
            records.append(
                Record(
                    key=path.relative_to(root).as_posix(),
                    label=None,
                    patient_id=patient or None,
                    split=None,
                    meta=meta,
                    loader=functools.partial(
                        read_dicom,
                        path,
                        deidentify=deidentify,
                        deidentifier=deidentifier,
                        allow_burned_in=allow_burned_in,
                        max_pixels=max_pixels,
                    ),
                )
            )
    return records


def series(records: Iterable[Record]) -> dict[str, list[Record]]:
    """Group records from :func:`load` by ``meta["series_key"]``, slices in order."""
    out: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        out[str(r.meta["series_key"])].append(r)
    return {k: sorted(v, key=lambda r: int(r.meta["slice_index"])) for k, v in out.items()}
