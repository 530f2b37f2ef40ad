"""``SequenceSet`` and the frame and window helpers that every sequence loader shares.

Where it sits: models stage, under :mod:`medseal.models.sequences` (the
loaders) and :mod:`medseal.models.breakhis_sequences`. A set holds sequences
``x`` of shape ``(N, T, C, S, S)`` (frames resized to ``S x S``, values in
``[0, 1]``), one label and one patient group per sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage

from medseal.errors import InputError
from medseal.ingest.records import Record
from medseal.types import Image

__all__ = ["SequenceSet", "build_sequences", "frame", "frame_rgb", "windows"]

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


def windows(items: Sequence[Record], length: int, max_windows: int | None) -> list[list[Record]]:
    """Windows of ``length`` consecutive items (left-padded by repeating the first)."""
    if len(items) < length:
        return [[items[0]] * (length - len(items)) + list(items)]
    starts = list(range(len(items) - length + 1))
    if max_windows is not None and len(starts) > max_windows:
        pick = np.linspace(0, len(starts) - 1, max_windows).round().astype(int)
        starts = [starts[i] for i in sorted(set(pick.tolist()))]
    return [list(items[s : s + length]) for s in starts]


def build_sequences(
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
        for window in windows(items, length, max_windows):
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
