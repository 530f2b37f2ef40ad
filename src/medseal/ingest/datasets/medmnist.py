"""MedMNIST v2 ``.npz`` files (PneumoniaMNIST and the other 2D/3D sets).

Where it sits: a data set loader of ingest; delegates to
:func:`medseal.ingest.npz.read_npz`. :data:`FLAGS_2D` names every 2D MedMNIST
set; :func:`locate` finds a set's file under a data dir by its real name
(``<dir>/<flag>/<flag>.npz``, the official file, else ``<dir>/<flag>/<flag>__*.npz``,
a named copy, else ``<dir>/<flag>.npz``).

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

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_FILES",
    "FLAGS_2D",
    "FOLDERS",
    "LAYOUT",
    "MULTI_LABEL",
    "NAME",
    "load",
    "locate",
]

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
#: the 2D MedMNIST v2 data sets and their number of classes (medmnist/info.py)
FLAGS_2D: dict[str, int] = {
    "pathmnist": 9,
    "chestmnist": 14,
    "dermamnist": 7,
    "octmnist": 4,
    "pneumoniamnist": 2,
    "retinamnist": 5,
    "breastmnist": 2,
    "bloodmnist": 8,
    "tissuemnist": 8,
    "organamnist": 11,
    "organcmnist": 11,
    "organsmnist": 11,
}
#: multi-label sets (one binary label per finding), not single-label classification
MULTI_LABEL = frozenset({"chestmnist"})


def locate(flag: str, data_dir: Path) -> Path:
    """The ``.npz`` of MedMNIST set ``flag`` under ``data_dir`` (see the module docstring).

    Raises
    ------
    ConfigError
        Unknown flag, or no file found (the message lists where it looked).
    """
    flag = flag.strip().lower()
    if flag not in FLAGS_2D:
        raise ConfigError(f"unknown MedMNIST 2D set {flag!r}; known: {', '.join(sorted(FLAGS_2D))}")
    base = Path(data_dir)
    folder = base / flag
    tried = [folder / f"{flag}.npz", folder / f"{flag}__*.npz", base / f"{flag}.npz"]
    if (folder / f"{flag}.npz").is_file():
        return folder / f"{flag}.npz"
    named = sorted(folder.glob(f"{flag}__*.npz")) if folder.is_dir() else []
    if named:
        return named[0]
    if (base / f"{flag}.npz").is_file():
        return base / f"{flag}.npz"
    raise ConfigError(
        f"MedMNIST set {flag!r} not found under {base} (looked for: "
        + ", ".join(str(t.relative_to(base)) for t in tried)
        + "). Download it from https://zenodo.org/records/10519652 and pass --data-dir."
    )


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
