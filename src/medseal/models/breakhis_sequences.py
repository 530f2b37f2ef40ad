"""BreaKHis sequences: per-patient fields of view and magnification series, and the voting.

Where it sits: models stage, on top of :mod:`medseal.ingest.datasets.breakhis`;
re-exported by :mod:`medseal.models.sequences`.

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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medseal.errors import InputError
from medseal.ingest.datasets import breakhis as breakhis_mod
from medseal.ingest.records import Record
from medseal.models.sequence_set import SequenceSet, build_sequences, frame, frame_rgb

__all__ = ["breakhis_magnification_sequences", "breakhis_patient_sequences", "weighted_votes"]

F64 = NDArray[np.float64]


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
    return build_sequences(
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
