"""Read MedMNIST-style ``.npz`` files (``<split>_images`` / ``<split>_labels``) as records.

Where it sits: the loader for the small benchmark sets (PneumoniaMNIST and the
other MedMNIST v2 sets, including the embedded demo set). Labels are read when
the file is listed; the image arrays are decompressed on the first
:meth:`~medseal.ingest.records.Record.image` call of a split and shared by all
records of that split. :func:`npz_records` lists them under a keyed, neutral
name instead of the archive's path (the vault keeps the path only sealed).
"""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medseal import config
from medseal.errors import ImageTooLargeError, InputError, MedsealError, UnsupportedImageError
from medseal.ingest.records import Record
from medseal.types import Image

if TYPE_CHECKING:  # pragma: no cover
    from medseal.ingest.deid import Deidentifier

__all__ = ["SPLITS", "npz_records", "read_npz"]

SPLITS = ("train", "val", "test")


class _NpzSource:
    """Opens the archive on demand and caches one decompressed image array per split."""

    def __init__(self, path: Path, max_pixels: int) -> None:
        self.path = path
        self.max_pixels = max_pixels
        self._arrays: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def images(self, split: str) -> np.ndarray:
        with self._lock:
            arr = self._arrays.get(split)
            if arr is None:
                try:
                    with np.load(self.path, allow_pickle=False) as data:
                        arr = np.asarray(data[f"{split}_images"])
                except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
                    raise InputError(
                        f"{self.path.name}: {split}_images could not be read ({type(exc).__name__})"
                    ) from None
                self._arrays[split] = arr
            return arr

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "max_pixels": self.max_pixels}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["max_pixels"])  # type: ignore[misc]

    def image(self, split: str, index: int) -> Image:
        arr = self.images(split)
        if index >= arr.shape[0]:
            raise InputError(f"{self.path.name}: {split}_images has fewer items than its labels")
        item = np.ascontiguousarray(arr[index])
        if item.size > self.max_pixels:
            raise ImageTooLargeError(
                f"{self.path.name}: item {split}/{index} has {item.size} samples, "
                f"over the limit of {self.max_pixels}"
            )
        return _to_image(item, self.path.name)


def _to_image(item: np.ndarray, name: str) -> Image:
    if item.dtype == np.uint8:
        bits = 8
    elif item.dtype == np.uint16:
        bits = 16
    else:
        raise UnsupportedImageError(f"{name}: images of dtype {item.dtype} are not supported")
    meta: dict[str, Any] = {"source_format": "npz"}
    if item.ndim == 2:
        return Image(item, "MONOCHROME2", bits, 1, "npz", meta=meta)
    if item.ndim == 3 and item.shape[-1] == 3:
        return Image(item, "RGB", bits, 1, "npz", meta=meta)
    if item.ndim == 3:  # a 3D volume (D, H, W): one frame per slice
        return Image(item, "MONOCHROME2", bits, int(item.shape[0]), "npz", meta=meta)
    if item.ndim == 4 and item.shape[-1] == 3:
        return Image(item, "RGB", bits, int(item.shape[0]), "npz", meta=meta)
    raise UnsupportedImageError(f"{name}: images of shape {item.shape} are not supported")


def read_npz(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> list[Record]:
    """List the items of a MedMNIST ``.npz`` file as lazily loaded records.

    Parameters
    ----------
    path
        A file with ``{train,val,test}_images`` and matching ``*_labels`` arrays
        (any subset of the three splits; at least one).
    max_pixels
        Per-item pixel-count limit (default :func:`medseal.config.max_pixels`).

    Returns
    -------
    list[Record]
        In split order train, val, test. ``key`` is ``f"{split}/{index:05d}"``,
        ``label`` the first label column as ``int``, ``split`` the split,
        ``patient_id`` ``None`` (MedMNIST publishes no patient ids). ``meta`` has
        ``dataset`` (the file stem), ``index`` and, for multi-label sets,
        ``labels`` (all columns). Images: ``(N, H, W)`` grey, ``(N, H, W, 3)`` RGB,
        ``(N, D, H, W)`` volumes (``frames = D``).

    Raises
    ------
    InputError
        Not a readable npz, or no ``*_images``/``*_labels`` pair (a length mismatch
        is reported by the loader of the missing item).
    """
    p = Path(path)
    limit = config.max_pixels() if max_pixels is None else int(max_pixels)
    try:
        with np.load(p, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise InputError(f"{p.name} is a .npy array, not an .npz archive")
            files = set(data.files)
            labels = {s: np.asarray(data[f"{s}_labels"]) for s in SPLITS if f"{s}_labels" in files}
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{p.name}: no such file") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{p.name} is not a readable .npz file ({type(exc).__name__})") from None
    splits = [s for s in SPLITS if s in labels and f"{s}_images" in files]
    if not splits:
        raise InputError(
            f"{p.name} has no <split>_images/<split>_labels pair (expected MedMNIST layout)"
        )
    source = _NpzSource(p, limit)
    records: list[Record] = []
    for split in splits:
        lab = labels[split]
        if lab.ndim == 1:
            lab = lab[:, None]
        multi = lab.ndim == 2 and lab.shape[1] > 1
        for i in range(lab.shape[0]):
            meta: dict[str, Any] = {"dataset": p.stem, "index": i, "source_file": p.name}
            if multi:
                meta["labels"] = tuple(int(v) for v in lab[i])
            records.append(
                Record(
                    key=f"{split}/{i:05d}",
                    label=int(lab[i, 0]),
                    patient_id=None,
                    split=split,
                    meta=meta,
                    loader=_Loader(source, split, i),
                )
            )
    return records


class _Loader:
    """A picklable callable (records can be sent to worker processes)."""

    __slots__ = ("index", "source", "split")

    def __init__(self, source: _NpzSource, split: str, index: int) -> None:
        self.source, self.split, self.index = source, split, index

    def __call__(self) -> Image:
        return self.source.image(self.split, self.index)

    def __repr__(self) -> str:
        return f"<npz item {self.split}/{self.index}>"


class _Pseudonymised:
    """Wraps a loader: the image carries ``{original: name}`` for the sealed pseudonym map."""

    __slots__ = ("filename", "loader", "name", "original")

    def __init__(self, loader: Any, original: str, name: str, filename: str) -> None:
        self.loader, self.original, self.name = loader, original, name
        self.filename = filename

    def __call__(self) -> Image:
        from medseal.ingest.png import with_pseudonym

        try:
            image = self.loader()
        except MedsealError as exc:  # its message names the archive: name the record instead
            raise type(exc)(str(exc).replace(self.filename, self.name)) from None
        return with_pseudonym(image, self.original, self.name)

    def __repr__(self) -> str:
        return f"<npz item of {self.name}>"


def npz_records(
    path: str | os.PathLike[str],
    original: str,
    *,
    deidentifier: Deidentifier | None = None,
    max_pixels: int | None = None,
) -> list[Record]:
    """:func:`read_npz`'s records, named ``<keyed name>/<split>/<index>``, never by path.

    Parameters
    ----------
    path
        The archive.
    original
        What identified it so far (the path relative to the ingest root); it reaches
        the vault only as the key of the sealed pseudonym map.
    deidentifier
        Keys the name (:meth:`~medseal.ingest.deid.Deidentifier.name_for`); ``None``
        uses a random secret.

    Raises
    ------
    InputError
        As :func:`read_npz`; the message names the neutral name, not the file.
    """
    if deidentifier is None:
        from medseal.ingest.deid import Deidentifier

        deidentifier = Deidentifier.random()
    name = deidentifier.name_for(original)
    try:
        items = read_npz(path, max_pixels=max_pixels)
    except InputError as exc:
        message = str(exc).replace(Path(path).name, name)
        raise InputError(message) from None
    return [
        Record(
            f"{name}/{r.key}",
            r.label,
            r.patient_id,
            r.split,
            {k: v for k, v in r.meta.items() if k not in ("dataset", "source_file")},
            _Pseudonymised(r.loader, original, name, Path(path).name),
        )
        for r in items
    ]
