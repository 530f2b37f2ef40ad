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
- :func:`breakhis_patient_sequences` (real, shipped: ``breakhis_96.npz``, 46
  patients): per patient, windows of ``T`` fields of view at one magnification
  (in image-number order) and, where a patient has several magnifications,
  sequences across them (40X -> 400X); label benign 0 / malignant 1. See the
  function for the duplicate-patient rule (slide 14-13412 filed under DC and LC).
- :func:`breakhis_magnification_sequences`: the 40-100-200-400X images of one
  BreaKHis slide (the old 12-image sample).
- :func:`weighted_votes`: the seed's weighted unit and sequence voting read at
  the data level: window logits -> image-level (unit) and patient-level
  (sequence) scores.
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image as PILImage

from medseal.errors import InputError
from medseal.ingest.datasets import breakhis as breakhis_mod
from medseal.ingest.datasets import chexpert as chexpert_mod
from medseal.ingest.datasets import nih as nih_mod
from medseal.ingest.datasets import tcia as tcia_mod
from medseal.ingest.records import Record
from medseal.types import Image

__all__ = [
    "SequenceSet",
    "breakhis_magnification_sequences",
    "breakhis_patient_sequences",
    "chexpert_study_sequences",
    "covid_ct_pairs",
    "frame",
    "load_sequences",
    "nih_followup_sequences",
    "synthetic_sequences",
    "weighted_votes",
]

F64 = NDArray[np.float64]


@dataclass
class SequenceSet:
    """Sequences ready for the networks.

    Attributes
    ----------
    x : ndarray, shape (N, T, 1, S, S)
        Grey frames in ``[0, 1]``, float64.
    y : ndarray, shape (N,)
        Labels 0/1, or -1 when the source has none.
    groups : list of str
        Patient (slide) id of each sequence, for grouped folds.
    keys : list of tuple of str
        Record keys of each sequence's frames (file names, no PHI).
    name : str
        Data set name.
    meta : dict
        How the set was built (length, size, label rule, padding count...).
    """

    x: F64
    y: NDArray[np.int64]
    groups: list[str]
    keys: list[tuple[str, ...]]
    name: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __repr__(self) -> str:
        return (
            f"SequenceSet(name={self.name!r}, n={len(self)}, shape={self.x.shape[1:]}, "
            f"positives={int(np.sum(self.y == 1))}, patients={len(set(self.groups))})"
        )

    @property
    def labelled(self) -> bool:
        """Whether every sequence has a 0/1 label."""
        return bool(np.all(self.y >= 0))


def _grey01(image: Image) -> F64:
    """Grey ``[0, 1]`` float64 frame from a loader's image (DICOM windowed, RGB averaged)."""
    if image.header is not None:
        from medseal.ingest.dicom import to_display

        arr = np.asarray(to_display(image), dtype=np.float64)
    else:
        arr = image.pixels.astype(np.float64) / float(2 ** max(1, image.bits_stored) - 1)
    if arr.ndim == 3 and image.frames > 1:
        arr = arr[arr.shape[0] // 2]
    if arr.ndim == 3:  # samples last: RGB(A) -> mean of the colour channels
        arr = arr[..., :3].mean(axis=-1)
    return np.clip(arr, 0.0, 1.0)


def frame(image: Image, size: int) -> F64:
    """One ``size x size`` grey frame in ``[0, 1]`` (area-averaged resize with Pillow)."""
    arr = _grey01(image).astype(np.float32)
    pil = PILImage.fromarray(arr, mode="F")
    resized = pil.resize((size, size), resample=PILImage.Resampling.BOX)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)


def frame_rgb(image: Image, size: int) -> F64:
    """One ``(3, size, size)`` colour frame in ``[0, 1]`` (area-averaged resize with Pillow).

    Grey images are repeated over the three channels.
    """
    px = np.asarray(image.pixels)
    scale = float(2 ** max(1, image.bits_stored) - 1)
    if px.ndim == 2:
        px = np.repeat(px[..., None], 3, axis=-1)
    chans = []
    for c in range(3):
        arr = (px[..., c].astype(np.float64) / scale).astype(np.float32)
        pil = PILImage.fromarray(arr, mode="F")
        chans.append(np.asarray(pil.resize((size, size), resample=PILImage.Resampling.BOX)))
    return np.clip(np.stack(chans).astype(np.float64), 0.0, 1.0)


def _windows(items: Sequence[Record], length: int, max_windows: int | None) -> list[list[Record]]:
    """Windows of ``length`` consecutive items (left-padded by repeating the first)."""
    if len(items) < length:
        return [[items[0]] * (length - len(items)) + list(items)]
    starts = list(range(len(items) - length + 1))
    if max_windows is not None and len(starts) > max_windows:
        pick = np.linspace(0, len(starts) - 1, max_windows).round().astype(int)
        starts = [starts[i] for i in sorted(set(pick.tolist()))]
    return [list(items[s : s + length]) for s in starts]


def _build(
    series: dict[str, list[Record]],
    *,
    name: str,
    length: int,
    size: int,
    label: str,
    max_windows: int | None,
    meta: dict[str, Any],
) -> SequenceSet:
    cache: dict[str, F64] = {}
    xs, ys, groups, keys = [], [], [], []
    padded = 0
    for group, items in series.items():
        for window in _windows(items, length, max_windows):
            padded += int(len({id(r) for r in window}) < length)
            frames = []
            for r in window:
                if r.key not in cache:
                    cache[r.key] = frame(r.image(), size)
                frames.append(cache[r.key])
            xs.append(np.stack(frames)[:, None])
            labels = [r.label for r in window]
            if any(v is None for v in labels):
                ys.append(-1)
            elif label == "any":
                ys.append(int(any(int(v) for v in labels if v is not None)))
            else:
                ys.append(int(labels[-1] or 0))
            groups.append(group)
            keys.append(tuple(r.key for r in window))
    if not xs:
        raise InputError(f"{name}: no sequences could be built from the records")
    info = {"length": length, "size": size, "label_rule": label, "padded": padded, **meta}
    return SequenceSet(
        x=np.stack(xs).astype(np.float64),
        y=np.asarray(ys, dtype=np.int64),
        groups=groups,
        keys=keys,
        name=name,
        meta=info,
    )


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
    return _build(
        series,
        name="nih-followup",
        length=length,
        size=size,
        label=label,
        max_windows=max_windows,
        meta={"min_images": min_images, "max_windows": max_windows, "patients": len(series)},
    )


def breakhis_magnification_sequences(records: Iterable[Record], *, size: int = 16) -> SequenceSet:
    """One sequence per BreaKHis slide: its images ordered 40X, 100X, 200X, 400X (``T = 4``).

    Slides with fewer magnifications (most of the 12-image sample) are
    left-padded with their lowest magnification.
    """
    series = breakhis_mod.magnification_series(records)
    chosen: dict[str, list[Record]] = {}
    for slide, items in series.items():
        by_mag: dict[int, Record] = {}
        for r in items:
            by_mag.setdefault(int(r.meta["magnification"]), r)
        chosen[slide] = [by_mag[m] for m in sorted(by_mag)]
    return _build(
        chosen, name="breakhis-magnification", length=4, size=size, label="last",
        max_windows=1, meta={"slides": len(chosen)},
    )  # fmt: skip


_MAGS = (40, 100, 200, 400)


def _stride_windows(items: list[Record], length: int) -> list[list[Record]]:
    """Non-overlapping windows of ``length`` covering every item once.

    The last window is the final ``length`` items (it overlaps its neighbour
    rather than being padded); a series shorter than ``length`` is left-padded
    by repeating its first item.
    """
    if len(items) < length:
        return [[items[0]] * (length - len(items)) + items]
    starts = list(range(0, len(items) - length + 1, length))
    if starts[-1] + length < len(items):
        starts.append(len(items) - length)
    return [items[s : s + length] for s in starts]


def breakhis_patient_sequences(
    records: Iterable[Record],
    *,
    length: int = 3,
    size: int = 16,
    colour: bool = True,
    kinds: tuple[str, ...] = ("fov", "magnification"),
    max_cross: int = 4,
) -> SequenceSet:
    """Per-patient BreaKHis sequences: fields of view at one magnification, and across magnifications.

    Parameters
    ----------
    records
        From :func:`medseal.ingest.datasets.breakhis.load` (the npz subset or the
        official tree; ``meta`` must carry ``magnification`` and ``seq``).
    length
        Frames per sequence ``T``. The seed states no window length; 3 is the
        project's default (as for the NIH follow-ups).
    size
        Frame side after resizing.
    colour
        RGB frames ``(3, S, S)`` (H&E stain colour carries the tissue contrast)
        or grey ``(1, S, S)``.
    kinds
        ``"fov"``: for every (patient, magnification), its images in image-number
        (``seq``) order cut into non-overlapping windows of ``T`` (every image in
        exactly one window; the last window overlaps when the count is not a
        multiple of ``T``; a series shorter than ``T`` is left-padded).
        ``"magnification"``: for every patient with >= 2 magnifications, the
        ``i``-th image of each magnification (40 -> 400X, ``i < min(count,
        max_cross)``), windows of ``T`` consecutive magnifications (left-padded
        with the lowest when fewer than ``T``).

    Duplicate-patient rule
    ----------------------
    The patient is the **slide id**, not the (subtype, slide) folder: slide
    14-13412 is filed under both ductal and lobular carcinoma in BreaKHis v1
    and is one patient (one group, so it never sits in two folds). Its label is
    the class all its images share (an id with benign and malignant images is
    an error). Images whose pixels are identical within a patient (15 DC/LC
    pairs of 14-13412 at 100X in the npz) are kept once: the first by file
    name; the dropped file names are listed in ``meta["dropped_duplicates"]``.

    ``keys`` are file names; ``meta["kind"]`` gives each sequence's kind and
    ``meta["magnification"]`` its magnification (0 for cross-magnification).
    """
    import hashlib

    for kind in kinds:
        if kind not in ("fov", "magnification"):
            raise InputError(f"unknown BreaKHis sequence kind {kind!r}; known: fov, magnification")
    if length < 1 or max_cross < 1:
        raise InputError("length and max_cross must be positive")
    by_patient: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if r.patient_id is None or r.label is None:
            continue
        by_patient[str(r.patient_id)].append(r)
    if not by_patient:
        raise InputError("breakhis: no labelled images with a patient id")
    cache: dict[str, F64] = {}
    dropped: list[str] = []
    labels: dict[str, int] = {}
    series: dict[str, dict[int, list[Record]]] = {}
    for patient in sorted(by_patient):
        items = sorted(by_patient[patient], key=lambda r: r.key)
        classes = {int(r.label or 0) for r in items}
        if len(classes) != 1:
            raise InputError(f"breakhis: patient {patient} has both benign and malignant images")
        labels[patient] = classes.pop()
        seen: set[str] = set()
        per_mag: dict[int, list[Record]] = defaultdict(list)
        for r in items:
            img = r.image()
            digest = hashlib.sha256(np.ascontiguousarray(img.pixels).tobytes()).hexdigest()
            if digest in seen:
                dropped.append(r.key)
                continue
            seen.add(digest)
            cache[r.key] = frame_rgb(img, size) if colour else frame(img, size)[None]
            per_mag[int(r.meta["magnification"])].append(r)
        series[patient] = {
            m: sorted(v, key=lambda r: (int(r.meta["seq"]), r.key))
            for m, v in sorted(per_mag.items())
        }
    xs: list[F64] = []
    ys: list[int] = []
    groups: list[str] = []
    keys: list[tuple[str, ...]] = []
    kind_of: list[str] = []
    mag_of: list[int] = []
    padded = 0
    for patient, mags in series.items():
        windows: list[tuple[str, int, list[Record]]] = []
        if "fov" in kinds:
            for m, items in mags.items():
                windows += [("fov", m, w) for w in _stride_windows(items, length)]
        if "magnification" in kinds and len(mags) >= 2:
            order = [mags[m] for m in sorted(mags)]
            n_cross = min(max_cross, min(len(v) for v in order))
            for i in range(n_cross):
                column = [v[i] for v in order]
                if len(column) <= length:
                    windows.append(
                        ("magnification", 0, [column[0]] * (length - len(column)) + column)
                    )
                else:
                    windows += [
                        ("magnification", 0, column[s : s + length])
                        for s in range(len(column) - length + 1)
                    ]
        for kind, m, w in windows:
            padded += int(len({r.key for r in w}) < length)
            xs.append(np.stack([cache[r.key] for r in w]))
            ys.append(labels[patient])
            groups.append(patient)
            keys.append(tuple(r.key for r in w))
            kind_of.append(kind)
            mag_of.append(m)
    mags_present = sorted({m for v in series.values() for m in v})
    return SequenceSet(
        x=np.stack(xs).astype(np.float64),
        y=np.asarray(ys, dtype=np.int64),
        groups=groups,
        keys=keys,
        name="breakhis-patients",
        meta={
            "length": length,
            "size": size,
            "channels": 3 if colour else 1,
            "label_rule": "patient class (benign 0 / malignant 1)",
            "padded": padded,
            "patients": len(series),
            "images": len(cache),
            "magnifications": mags_present,
            "patients_multi_magnification": sum(len(v) >= 2 for v in series.values()),
            "patients_per_magnification": {
                str(m): sum(m in v for v in series.values()) for m in mags_present
            },
            "dropped_duplicates": sorted(dropped),
            "duplicate_rule": "patient = slide id; pixel-identical images within a patient kept once",
            "kinds": list(kinds),
            "kind": kind_of,
            "magnification": mag_of,
        },
    )


def weighted_votes(
    logits: ArrayLike,
    keys: Sequence[tuple[str, ...]],
    groups: Sequence[str],
) -> tuple[dict[str, float], dict[str, float]]:
    """The weighted unit and sequence voting over windows: image-level and patient-level scores.

    Inside a window the network's voting layer already combines its per-frame
    (unit) votes and its sequence vote into one logit. Across a patient's
    windows:

    - **unit vote (image level)**: every window votes its logit for each
      *distinct* image it holds; an image's score is the mean of the votes it
      received (windows overlap only at a series' end).
    - **sequence vote (patient level)**: the patient's score is the mean of its
      window logits weighted by each window's number of distinct images (a
      left-padded window carries the evidence of fewer images and counts less).

    Returns ``(image_scores, patient_scores)``: dicts from image key / patient
    id to a logit-scale score (``> 0`` means malignant).
    """
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if not (len(z) == len(keys) == len(groups)):
        raise InputError("logits, keys and groups must have the same length")
    img_sum: dict[str, float] = defaultdict(float)
    img_n: dict[str, int] = defaultdict(int)
    pat_sum: dict[str, float] = defaultdict(float)
    pat_w: dict[str, float] = defaultdict(float)
    for v, window, g in zip(z.tolist(), keys, groups, strict=True):
        distinct = set(window)
        for k in distinct:
            img_sum[k] += v
            img_n[k] += 1
        pat_sum[g] += len(distinct) * v
        pat_w[g] += len(distinct)
    images = {k: img_sum[k] / img_n[k] for k in img_sum}
    patients = {g: pat_sum[g] / pat_w[g] for g in pat_sum}
    return images, patients


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
    return _build(
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
    return _build(
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


def load_sequences(
    name: str,
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

    key = name.strip().lower()
    if key == "synthetic":
        return synthetic_sequences(length=length, size=size)
    if key in ("nih", "nih-followup", "nih-chestxray14"):
        recs = nih_mod.load(datasets.find("nih", data_dir))
        return nih_followup_sequences(recs, length=length, size=size, max_windows=max_windows)
    if key in ("breakhis", "breakhis-patients"):
        return breakhis_patient_sequences(
            breakhis_mod.load(datasets.find("breakhis", data_dir)),
            length=length,
            size=size,
            colour=colour,
        )
    if key == "breakhis-magnification":
        return breakhis_magnification_sequences(
            breakhis_mod.load(datasets.find("breakhis", data_dir)), size=size
        )
    if key in ("chexpert", "chexpert-studies"):
        recs = chexpert_mod.load(datasets.find("chexpert", data_dir))
        return chexpert_study_sequences(recs, length=length, size=size, max_windows=max_windows)
    if key in ("covid19-ny-sbu", "covid", "tcia", "covid19-ny-sbu-ct-followup"):
        return covid_ct_pairs(tcia_mod.load(datasets.find("covid19-ny-sbu", data_dir)), size=size)
    raise InputError(
        f"unknown sequence data set {name!r}; known: nih, breakhis, chexpert, covid19-ny-sbu, synthetic"
    )
