"""Find the files ingest understands under a path, and turn them into records.

Where it sits: the front door used by ``medseal ingest PATH`` and
:meth:`medseal.vault.Vault.ingest`. :func:`discover` lists files (DICOM with or
without extension, PNG/JPEG/TIFF, MedMNIST ``.npz``); :func:`load_path` wraps each
in a lazily loaded :class:`~medseal.ingest.records.Record`, so a bad file fails
only when its image is read and the caller can skip it and go on.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from medseal.errors import InputError, MedsealError, UnsupportedImageError
from medseal.ingest.dicom import read_dicom
from medseal.ingest.npz import npz_records
from medseal.ingest.png import IMAGE_SUFFIXES, image_record
from medseal.ingest.records import Record
from medseal.types import Image

if TYPE_CHECKING:  # pragma: no cover
    from medseal.ingest.deid import Deidentifier

__all__ = ["DICOM_SUFFIXES", "discover", "is_dicom_file", "load_path"]

DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})
_SKIP_NAMES = frozenset({"thumbs.db", "desktop.ini"})


def is_dicom_file(path: str | os.PathLike[str]) -> bool:
    """``True`` when the file has the DICOM Part 10 preamble (``DICM`` at offset 128)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _is_dicomdir(path: Path) -> bool:
    return path.name.upper().startswith("DICOMDIR")


def _kind(path: Path) -> str | None:
    """``"dicom"``, ``"image"``, ``"npz"`` or ``None`` for a file ingest does not read.

    Raises :class:`OSError` when a file without a known suffix cannot be opened
    to look for the DICOM preamble (the caller reports it instead of skipping).
    """
    name = path.name
    if name.startswith(".") or name.lower() in _SKIP_NAMES or _is_dicomdir(path):
        return None
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix == ".npz":
        return "npz"
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    with open(path, "rb") as fh:
        head = fh.read(132)
    return "dicom" if len(head) == 132 and head[128:132] == b"DICM" else None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return True


def discover(
    path: str | os.PathLike[str], *, errors: list[tuple[Path, str]] | None = None
) -> list[Path]:
    """Files under ``path`` that ingest can read, sorted.

    Parameters
    ----------
    path
        A file or a folder (searched recursively).
    errors
        When given, every folder that cannot be listed and every file that
        cannot be opened is appended as ``(path, reason)`` instead of being
        skipped silently (:func:`load_path` turns them into failing records).

    Returns
    -------
    list[Path]
        ``.dcm``/``.dicom`` files and extension-less (or oddly named) files with
        the ``DICM`` preamble, ``.png``/``.jpg``/``.jpeg``/``.tif``/``.tiff``
        and ``.npz``. DICOMDIR files, hidden files and anything else are skipped.
        Symbolic links are followed only when their target lies inside ``path``;
        linked folders are not entered; a link to nothing is an error.

    Raises
    ------
    InputError
        ``path`` does not exist.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p.name or p}: no such file or folder")
    found: list[Path] = []

    def consider(f: Path) -> None:
        try:
            if f.is_symlink() and not f.exists():
                raise FileNotFoundError(2, "broken symbolic link")
            if f.is_file() and _kind(f) is not None:
                found.append(f)
        except OSError as exc:
            if errors is not None:
                errors.append((f, _reason(exc)))

    if not p.is_dir():
        consider(p)
        return found
    root = p.resolve()

    def walk_error(exc: OSError) -> None:
        if errors is not None:
            errors.append((Path(exc.filename or p), _reason(exc)))

    for dirpath, dirnames, filenames in os.walk(p, onerror=walk_error, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in filenames:
            f = Path(dirpath) / fname
            if f.is_symlink() and f.exists() and not _inside(f, root):
                continue
            consider(f)
    return sorted(found)


def _fail(message: str) -> Image:
    raise UnsupportedImageError(message)


def load_path(
    path: str | os.PathLike[str],
    *,
    deidentifier: Deidentifier | None = None,
    allow_burned_in: bool = False,
    max_pixels: int | None = None,
) -> Iterator[Record]:
    """Records for everything :func:`discover` finds under ``path``.

    Parameters
    ----------
    path
        A file or folder.
    deidentifier
        Applied to every DICOM header. ``None`` means DICOM headers are **not**
        de-identified (the vault passes its own de-identifier; ``--no-deidentify``
        passes ``None``).
    allow_burned_in
        Passed to :func:`~medseal.ingest.dicom.read_dicom`.
    max_pixels
        Pixel-count limit for every image.

    Yields
    ------
    Record
        One per image file (``key`` = path relative to a folder ``path``, POSIX
        style, or the file name for a file ``path``; ``label``/``patient_id``/
        ``split`` ``None``; ``meta["format"]``), and one per item of each ``.npz``
        (keys ``"<relative path>/<split>/<index>"`` inside a folder). A file that
        cannot be read yields a record whose :meth:`~Record.image` raises, so the
        caller can report it and continue; so does every file or folder that
        cannot be read (never skipped silently).

    Notes
    -----
    Keys are relative paths and end up in the vault catalogue as object names:
    do not point this at a folder *above* one named after a patient.
    """
    p = Path(path)
    errors: list[tuple[Path, str]] = []
    files = discover(p, errors=errors)
    is_dir = p.is_dir()
    for bad, reason in errors:
        try:
            rel = bad.relative_to(p).as_posix() if is_dir else bad.name
        except ValueError:
            rel = bad.name
        msg = f"cannot be read: {reason}"
        yield Record(rel, None, None, None, {"format": "unreadable"}, functools.partial(_fail, msg))
    if not is_dir and not files and not errors:
        msg = f"{p.name}: not a file type ingest reads (DICOM, PNG/JPEG/TIFF, .npz)"
        yield Record(p.name, None, None, None, {"format": "unknown"}, functools.partial(_fail, msg))
        return
    for f in files:
        rel = f.relative_to(p).as_posix() if is_dir else f.name
        kind = _kind(f)
        if kind == "npz":
            try:
                items = npz_records(f, rel, deidentifier=deidentifier, max_pixels=max_pixels)
            except MedsealError as exc:
                yield Record(
                    rel, None, None, None, {"format": "npz"}, functools.partial(_fail, str(exc))
                )
                continue
            yield from items
        elif kind == "image":
            yield image_record(f, rel, deidentifier=deidentifier, max_pixels=max_pixels)
        else:
            loader = functools.partial(
                read_dicom,
                f,
                deidentify=deidentifier is not None,
                deidentifier=deidentifier,
                allow_burned_in=allow_burned_in,
                max_pixels=max_pixels,
            )
            yield Record(rel, None, None, None, {"format": "dicom"}, loader)
