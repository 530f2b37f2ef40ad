"""Image sequences from the data set loaders: follow-up series, CT pairs, magnification series.

Where it sits: models stage, on top of :mod:`medseal.ingest.datasets`. Seed
paper 003 analyses *time series* of medical images; this module turns the
per-image records of the loaders into fixed-length sequences ``x`` of shape
``(N, T, 1, S, S)`` (grey frames resized to ``S x S``, values in ``[0, 1]``)
with one label and one patient group per sequence:

- :func:`nih_followup_sequences` (real, shipped): NIH ChestX-ray14 follow-up
  studies of one patient, in follow-up order; windows of ``T`` consecutive
  studies; the label is that of the **last** study of the window ("is the
  current study abnormal, given the history"), or ``any`` study.
- :func:`breakhis_patient_sequences`, :func:`breakhis_magnification_sequences`
  and :func:`weighted_votes` (the seed's unit and sequence voting at the data
  level): see :mod:`medseal.models.breakhis_sequences`.
- :func:`chexpert_study_sequences`: a CheXpert patient's studies in order
  (label of the last study), frontal views.
- :func:`covid_ct_pairs`: the COVID-19-NY-SBU CT follow-up pairs (two studies
  per patient and plane). The collection is all COVID-positive and carries no
  per-study label, so these sequences have ``y = -1`` (unlabelled): usable for
  encrypted inference and the demo, not for supervised metrics.

Shorter series are left-padded by repeating their first frame (documented in
each sequence's ``meta``); groups are patient (or slide) ids, used for
patient-disjoint folds. No PHI: groups are the data sets' own pseudonymous ids.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medseal.errors import InputError
from medseal.ingest.datasets import breakhis as breakhis_mod
from medseal.ingest.datasets import chexpert as chexpert_mod
from medseal.ingest.datasets import nih as nih_mod
from medseal.ingest.datasets import tcia as tcia_mod
from medseal.ingest.records import Record
from medseal.models.breakhis_sequences import (
    breakhis_magnification_sequences,
    breakhis_patient_sequences,
    weighted_votes,
)
from medseal.models.dataset_splits import parse_named
from medseal.models.sequence_set import SequenceSet, build_sequences, frame

if TYPE_CHECKING:  # pragma: no cover
    from medseal.vault import Vault

__all__ = [
    "SequenceDataset",
    "SequenceSet",
    "breakhis_magnification_sequences",
    "breakhis_patient_sequences",
    "chexpert_study_sequences",
    "covid_ct_pairs",
    "frame",
    "load_sequences",
    "nih_followup_sequences",
    "synthetic_sequences",
    "vault_sequences",
    "weighted_votes",
]


def nih_followup_sequences(
    records: Iterable[Record],
    *,
    length: int = 3,
    size: int = 16,
    min_images: int = 2,
    max_windows: int | None = 8,
    label: str = "last",
) -> SequenceSet:
    """Follow-up sequences of NIH ChestX-ray14 patients.

    Parameters
    ----------
    records
        From :func:`medseal.ingest.datasets.nih.load`.
    length
        Frames per sequence ``T``; patients with fewer (but ``>= min_images``)
        images are left-padded by repeating their first study.
    size
        Frame side after resizing.
    min_images
        Patients with fewer images are skipped (the subset has 136 patients with 2+).
    max_windows
        At most this many windows per patient, evenly spread over the series
        (one patient has 66 images; without a cap they dominate the set).
    label
        ``"last"``: the label of the window's last study; ``"any"``: 1 if any is abnormal.
    """
    if label not in ("last", "any"):
        raise InputError("label must be 'last' or 'any'")
    by_patient: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if r.patient_id is not None and r.split != "fullres":
            by_patient[str(r.patient_id)].append(r)
    series = {
        p: sorted(items, key=lambda r: (int(r.meta.get("follow_up") or 0), r.key))
        for p, items in sorted(
            by_patient.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0
        )
        if len(items) >= min_images
    }
    return build_sequences(
        series,
        name="nih-followup",
        length=length,
        size=size,
        label=label,
        max_windows=max_windows,
        meta={"min_images": min_images, "max_windows": max_windows, "patients": len(series)},
    )


def chexpert_study_sequences(
    records: Iterable[Record], *, length: int = 3, size: int = 16, max_windows: int | None = 8
) -> SequenceSet:
    """A CheXpert patient's frontal studies in study order, windows of ``length`` (label: last study)."""
    by_patient: dict[str, dict[int, Record]] = defaultdict(dict)
    for r in records:
        if r.patient_id is None or str(r.meta.get("view", "")).lower() == "lateral":
            continue
        study = int(r.meta.get("study") or 0)
        by_patient[str(r.patient_id)].setdefault(study, r)
    series = {
        p: [studies[s] for s in sorted(studies)]
        for p, studies in sorted(by_patient.items())
        if len(studies) >= 2
    }
    return build_sequences(
        series, name="chexpert-studies", length=length, size=size, label="last",
        max_windows=max_windows, meta={"patients": len(series)},
    )  # fmt: skip


def covid_ct_pairs(
    records: Iterable[Record], *, plane: str = "axial", size: int = 16
) -> SequenceSet:
    """COVID-19-NY-SBU CT pairs: per patient, the slice of ``plane`` at each study, in date order.

    Unlabelled (``y = -1``): the collection is all COVID-positive.
    """
    by_patient: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        parts = Path(r.key).parts
        if plane and plane not in parts:
            continue
        if r.patient_id is not None:
            by_patient[str(r.patient_id)].append(r)
    series = {
        p: sorted(items, key=lambda r: (int(r.meta.get("study_index") or 0), r.key))
        for p, items in sorted(by_patient.items())
    }
    return build_sequences(
        series, name=f"covid19-ny-sbu-{plane}", length=2, size=size, label="last",
        max_windows=1, meta={"plane": plane, "patients": len(series)},
    )  # fmt: skip


def synthetic_sequences(
    n: int = 64, *, length: int = 3, size: int = 16, seed: int = 0
) -> SequenceSet:
    """Random sequences whose label is "the mean brightness rises over time" (tests, benchmarks)."""
    rng = np.random.default_rng(seed)
    base = rng.random((n, 1, 1, size, size)) * 0.5
    trend = rng.choice([-1.0, 1.0], size=n)
    steps = (
        np.linspace(0.0, 0.3, length)[None, :, None, None, None] * trend[:, None, None, None, None]
    )
    x = np.clip(base + steps + 0.05 * rng.standard_normal((n, length, 1, size, size)), 0.0, 1.0)
    y = (trend > 0).astype(np.int64)
    groups = [f"s{i // 2}" for i in range(n)]
    keys = [tuple(f"s{i}-{t}" for t in range(length)) for i in range(n)]
    return SequenceSet(x, y, groups, keys, "synthetic", {"length": length, "size": size})


class SequenceDataset(StrEnum):
    """A sequence data set by name (the CLI spelling); :meth:`parse` also takes the aliases."""

    NIH = "nih"
    BREAKHIS = "breakhis"
    BREAKHIS_MAGNIFICATION = "breakhis-magnification"
    CHEXPERT = "chexpert"
    COVID19_NY_SBU = "covid19-ny-sbu"
    SYNTHETIC = "synthetic"

    @classmethod
    def parse(cls, name: str) -> SequenceDataset:
        """The data set called ``name`` (case-insensitive; aliases such as ``nih-followup``)."""
        return parse_named(cls, name, _ALIASES, "sequence data set", _KNOWN)


_ALIASES = {
    "nih-followup": "nih",
    "nih-chestxray14": "nih",
    "breakhis-patients": "breakhis",
    "chexpert-studies": "chexpert",
    "covid": "covid19-ny-sbu",
    "tcia": "covid19-ny-sbu",
    "covid19-ny-sbu-ct-followup": "covid19-ny-sbu",
}
_KNOWN = ("nih", "breakhis", "chexpert", "covid19-ny-sbu", "synthetic")


def load_sequences(
    name: SequenceDataset | str,
    data_dir: str | Path | None = None,
    *,
    size: int = 16,
    length: int = 3,
    max_windows: int | None = 8,
    colour: bool = False,
) -> SequenceSet:
    """Sequences of a named data set found under the data dir.

    ``name``: ``nih`` (follow-ups), ``breakhis`` (per-patient fields of view and
    magnifications; ``colour`` for RGB frames), ``breakhis-magnification`` (one
    40-400X series per slide), ``chexpert``
    (studies), ``covid19-ny-sbu`` (CT pairs), or ``synthetic``. ``data_dir`` is
    the folder holding the data set folders (``MEDSEAL_DATA_DIR`` when omitted).
    """
    from medseal.ingest import datasets

    ds = SequenceDataset.parse(name)
    if ds is SequenceDataset.SYNTHETIC:
        return synthetic_sequences(length=length, size=size)
    if ds is SequenceDataset.NIH:
        recs = nih_mod.load(datasets.find("nih", data_dir))
        return nih_followup_sequences(recs, length=length, size=size, max_windows=max_windows)
    if ds is SequenceDataset.BREAKHIS:
        return breakhis_patient_sequences(
            breakhis_mod.load(datasets.find("breakhis", data_dir)),
            length=length,
            size=size,
            colour=colour,
        )
    if ds is SequenceDataset.BREAKHIS_MAGNIFICATION:
        return breakhis_magnification_sequences(
            breakhis_mod.load(datasets.find("breakhis", data_dir)), size=size
        )
    if ds is SequenceDataset.CHEXPERT:
        recs = chexpert_mod.load(datasets.find("chexpert", data_dir))
        return chexpert_study_sequences(recs, length=length, size=size, max_windows=max_windows)
    return covid_ct_pairs(tcia_mod.load(datasets.find("covid19-ny-sbu", data_dir)), size=size)


def vault_sequences(
    vault: Vault, dataset: str, principal: str, *, length: int = 3, size: int = 16
) -> SequenceSet:
    """Follow-up sequences of a vault data set's labelled objects, per patient in name order.

    The frames are read through ``vault.get`` as ``principal`` when the
    sequences are built (the vault enforces its access rules and audit).
    """
    import functools

    infos = vault.ls(as_=principal, dataset=dataset)
    by_patient: dict[str, list[Any]] = {}
    for info in infos:
        if info.patient is not None and info.label is not None:
            by_patient.setdefault(info.patient, []).append(info)
    records = []
    for patient, items in by_patient.items():
        for order, info in enumerate(sorted(items, key=lambda i: (i.name or "", i.id))):
            records.append(
                Record(
                    key=info.id,
                    label=info.label,
                    patient_id=patient,
                    split=None,
                    meta={"follow_up": order},
                    loader=functools.partial(vault.get, info.id, as_=principal),
                )
            )
    if not records:
        raise InputError(f"vault data set {dataset!r} has no labelled objects with a patient")
    return nih_followup_sequences(records, length=length, size=size)
