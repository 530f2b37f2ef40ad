"""MedMNIST v2 ``.npz`` files (PneumoniaMNIST and the other 2D/3D sets).

Where it sits: a data set loader of ingest; delegates to
:func:`medseal.ingest.npz.read_npz`.

The project's shared folder ``pneumoniamnist/`` holds two *non-official* copies
(see its SOURCE.md). The default is ``pneumoniamnist__varun19424.npz``, whose val
and test splits match the official ones (135/389 and 234/390 normal/pneumonia);
its train split lacks 826 of the official normal images. The other copy,
``pneumoniamnist_balanced__aksufatih.npz``, is a class-balanced undersample.
"""

from __future__ import annotations

from pathlib import Path

from medseal.errors import ConfigError
from medseal.ingest.npz import read_npz
from medseal.ingest.records import Record

__all__ = ["CLASS_NAMES", "DEFAULT_FILES", "FOLDERS", "LAYOUT", "NAME", "load"]

NAME = "medmnist"
FOLDERS = ("pneumoniamnist", "medmnist", "MedMNIST")
LAYOUT = """\
  <data dir>/pneumoniamnist/pneumoniamnist.npz   (official Zenodo file, or any MedMNIST .npz:
      train_images, train_labels, val_images, val_labels, test_images, test_labels)"""
#: tried in this order when ``root`` is a folder and no ``file`` is given
DEFAULT_FILES = (
    "pneumoniamnist.npz",
    "pneumoniamnist__varun19424.npz",
)
#: label names from medmnist/info.py
CLASS_NAMES = {"pneumoniamnist": {0: "normal", 1: "pneumonia"}}


def load(
    root: str | Path, *, file: str | None = None, max_pixels: int | None = None
) -> list[Record]:
    """List the items of a MedMNIST ``.npz``.

    Parameters
    ----------
    root
        An ``.npz`` file, or a folder holding one.
    file
        The file name inside ``root`` (default: the official ``pneumoniamnist.npz``,
        else ``pneumoniamnist__varun19424.npz``, else the folder's only ``.npz``).
    max_pixels
        Per-item pixel-count limit.

    Returns
    -------
    list[Record]
        See :func:`~medseal.ingest.npz.read_npz`.
    """
    root = Path(root)
    if root.is_file():
        return read_npz(root, max_pixels=max_pixels)
    if file is not None:
        return read_npz(root / file, max_pixels=max_pixels)
    for name in DEFAULT_FILES:
        if (root / name).is_file():
            return read_npz(root / name, max_pixels=max_pixels)
    found = sorted(root.glob("*.npz"))
    if len(found) == 1:
        return read_npz(found[0], max_pixels=max_pixels)
    if not found:
        raise ConfigError(f"{root.name}: no .npz file. Expected:\n{LAYOUT}")
    raise ConfigError(
        f"{root.name} holds {len(found)} .npz files; choose one with file=... "
        f"({', '.join(p.name for p in found)})"
    )
