"""Loaders for the public data sets medseal reproduces results on, plus a registry.

Where it sits: part of ingest. Each loader lists a data set on disk as lazily
loaded :class:`~medseal.ingest.records.Record` s (no pixel is read until
``record.image()``); the models and evaluate stages, the CLI and the benchmarks
pick a loader by name here. Each module has ``load(root, **opts) -> list[Record]``,
``NAME``, ``FOLDERS`` (folder names looked for under the data dir) and
``LAYOUT`` (the expected layout, shown when the data cannot be found).

>>> from medseal.ingest import datasets
>>> sorted(datasets.names())
['breakhis', 'chexpert', 'covid19-ny-sbu', 'embedded', 'medmnist', 'nih', 'nih-chestxray14-more']

Every MedMNIST 2D set is known by its own name (``retinamnist``, ``bloodmnist``, ...):
:func:`find` locates its ``.npz`` with :func:`medmnist.locate`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from medseal import config
from medseal.errors import ConfigError
from medseal.ingest.datasets import breakhis, chexpert, embedded, medmnist, nih, nih_more, tcia
from medseal.ingest.datasets.breakhis import magnification_series
from medseal.ingest.datasets.embedded import demo_records, pydicom_sample_paths
from medseal.ingest.datasets.nih import patient_disjoint_split
from medseal.ingest.records import Record

__all__ = [
    "demo_records",
    "find",
    "get",
    "load",
    "magnification_series",
    "names",
    "patient_disjoint_split",
    "pydicom_sample_paths",
]

_MODULES: dict[str, ModuleType] = {
    m.NAME: m for m in (nih, nih_more, medmnist, breakhis, chexpert, tcia, embedded)
}
_ALIASES = {
    "nih-chestxray14": "nih",
    "chestx-ray14": "nih",
    "pneumoniamnist": "medmnist",
    "tcia": "covid19-ny-sbu",
    "lidc-idri": "covid19-ny-sbu",
    **{flag: "medmnist" for flag in medmnist.FLAGS_2D},
}


def names() -> list[str]:
    """The registered data set names."""
    return sorted(_MODULES)


def _canonical(name: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _MODULES:
        raise ConfigError(f"unknown data set {name!r}; known: {', '.join(names())}")
    return key


def get(name: str) -> Callable[..., list[Record]]:
    """The ``load(root, **opts)`` function of data set ``name`` (aliases accepted)."""
    load_fn: Callable[..., list[Record]] = _MODULES[_canonical(name)].load
    return load_fn


def find(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where data set ``name`` lies under the data dir (``--data-dir`` > env > cache dir).

    Raises
    ------
    ConfigError
        Not found; the message gives the expected layout and how to point medseal
        at the data (``MEDSEAL_DATA_DIR`` or ``--data-dir``).
    """
    module = _MODULES[_canonical(name)]
    flag = name.strip().lower()
    if flag in medmnist.FLAGS_2D:
        return medmnist.locate(flag, config.data_dir(data_dir))
    if module is embedded:
        return embedded.data_path()
    base = config.data_dir(data_dir)
    for folder in module.FOLDERS:
        candidate = base / folder
        if candidate.exists():
            return candidate
    tried = ", ".join(module.FOLDERS)
    raise ConfigError(
        f"data set {module.NAME!r} not found under {base} (looked for: {tried}).\n"
        f"Expected layout:\n{module.LAYOUT}\n"
        "Download it from its official site, then set MEDSEAL_DATA_DIR or pass --data-dir "
        "to the folder that contains it."
    )


def load(name: str, data_dir: str | os.PathLike[str] | None = None, **opts: Any) -> list[Record]:
    """``get(name)(find(name, data_dir), **opts)``."""
    return get(name)(find(name, data_dir), **opts)
