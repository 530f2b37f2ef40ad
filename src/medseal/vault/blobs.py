"""Blob storage for sealed objects, through fsspec.

Local directories (the default) get atomic writes: a temporary file in the
same directory, ``fsync``, ``os.replace`` and an ``fsync`` of the directory, so
a crash leaves either the whole blob or none. Object stores such as S3 (via
s3fs) have atomic PUTs of their own. Blobs are only ever *added*; the vault's
catalogue decides which of them exist as objects.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from medseal.errors import NotFoundError, StorageError
from medseal.vault._faults import crashpoint

__all__ = ["BlobStore"]

_TMP_PREFIX = ".tmp-"


class BlobStore:
    """Content store addressed by relative keys such as ``objects/ab/ab12…``.

    Parameters
    ----------
    url
        A local directory path, ``file://…`` or any fsspec URL (``s3://bucket/prefix``).
    storage_options
        Passed to fsspec (for S3: ``client_kwargs={"endpoint_url": …}``, credentials from the
        usual AWS environment variables).
    """

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.url = url
        protocol = url.split("://", 1)[0] if "://" in url else "file"
        self.local = protocol in ("file", "local")
        if self.local:
            self._root = Path(url.split("://", 1)[1] if "://" in url else url)
            self._root.mkdir(parents=True, exist_ok=True)
            self._fs = None
            self._dirs: set[Path] = set()  # parents known to exist (one mkdir each per process)
        else:
            import fsspec  # remote stores only: a local vault never pays for the import

            try:
                self._fs, self._base = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
            except ImportError as exc:
                raise StorageError(
                    f"blob store {protocol}:// needs an extra package: {exc}. "
                    "For S3 run: pip install 'medseal[s3]'"
                ) from None
            self._base = self._base.rstrip("/")

    def __repr__(self) -> str:
        return f"BlobStore({self.url!r})"

    # -- paths -------------------------------------------------------------------------------------
    def _local_path(self, key: str) -> Path:
        return self._root / key

    def _remote_path(self, key: str) -> str:
        return f"{self._base}/{key}"

    def _parent(self, path: Path) -> Path:
        """``path``'s directory, created if this process has not seen it yet."""
        parent = path.parent
        if parent not in self._dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(parent)
        return parent

    def make_dirs(self, prefixes: Iterable[str]) -> None:
        """Create the directories ``prefixes`` of a local store up front (a new vault's
        fan-out, so a first ingest does not pay one ``mkdir`` per directory); remote: no-op."""
        if self.local:
            for prefix in prefixes:
                self._parent(self._local_path(prefix) / "x")

    # -- operations --------------------------------------------------------------------------------
    def put(self, key: str, data: bytes | bytearray) -> None:
        """Store ``data`` under ``key`` atomically (all or nothing)."""
        try:
            if self.local:
                self._put_local(key, data)
            else:
                assert self._fs is not None
                self._fs.pipe_file(self._remote_path(key), bytes(data))
                crashpoint("put:blob-renamed")
        except OSError as exc:
            reason = "the disk is full" if exc.errno == errno.ENOSPC else type(exc).__name__
            raise StorageError(f"could not store blob: {reason}; nothing was written") from exc

    def _put_local(self, key: str, data: bytes | bytearray) -> None:
        final = self._local_path(key)
        tmp = self._parent(final) / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                half = len(data) // 2
                _write_all(fd, data[:half])
                crashpoint("put:blob-partial")
                _write_all(fd, data[half:])
                os.fsync(fd)
            finally:
                os.close(fd)
            crashpoint("put:blob-written")
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(final.parent)
        crashpoint("put:blob-renamed")

    def put_many(self, items: Sequence[tuple[str, bytes | bytearray]]) -> None:
        """Store a batch of blobs, all durable when this returns, with one sync per step.

        Local stores write every temporary file, make their contents durable,
        rename them all into place and make the renames durable. On Linux each
        of the two steps is one ``syncfs`` of the store's file system (which
        reports write-back errors since Linux 5.8); elsewhere each file and
        then each touched directory is ``fsync``-ed. A crash part-way leaves
        only unreferenced blobs or temporary files (the caller commits the
        rows after this returns), which ``verify`` reports and ``gc`` removes.
        On failure every blob of the batch is removed again.
        """
        if len(items) == 1:
            self.put(*items[0])
            return
        try:
            if self.local:
                self._put_many_local(items)
            else:
                assert self._fs is not None
                for key, data in items:
                    self._fs.pipe_file(self._remote_path(key), bytes(data))
                crashpoint("put:blob-renamed")
        except OSError as exc:
            for key, _ in items:
                self.delete(key)
            reason = "the disk is full" if exc.errno == errno.ENOSPC else type(exc).__name__
            raise StorageError(f"could not store blob: {reason}; nothing was written") from exc
        except BaseException:
            for key, _ in items:
                self.delete(key)
            raise

    def _put_many_local(self, items: Sequence[tuple[str, bytes | bytearray]]) -> None:
        moves: list[tuple[Path, Path]] = []
        try:
            for key, data in items:
                final = self._local_path(key)
                tmp = self._parent(final) / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                moves.append((tmp, final))
                try:
                    half = len(data) // 2
                    _write_all(fd, data[:half])
                    crashpoint("put:blob-partial")
                    _write_all(fd, data[half:])
                    if not _HAVE_SYNCFS:
                        os.fsync(fd)
                finally:
                    os.close(fd)
            if _HAVE_SYNCFS:
                _syncfs(self._root)
            crashpoint("put:blob-written")
            for tmp, final in moves:
                os.replace(tmp, final)
        except BaseException:
            for tmp, _ in moves:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            raise
        if _HAVE_SYNCFS:
            _syncfs(self._root)
        else:
            for parent in sorted({final.parent for _, final in moves}):
                _fsync_dir(parent)
        crashpoint("put:blob-renamed")

    def get(self, key: str) -> bytes:
        try:
            if self.local:
                return self._local_path(key).read_bytes()
            assert self._fs is not None
            return bytes(self._fs.cat_file(self._remote_path(key)))
        except FileNotFoundError:
            raise NotFoundError("blob missing from the store") from None
        except OSError as exc:
            raise StorageError(f"could not read blob: {type(exc).__name__}") from exc

    def exists(self, key: str) -> bool:
        if self.local:
            return self._local_path(key).is_file()
        assert self._fs is not None
        return bool(self._fs.exists(self._remote_path(key)))

    def age(self, key: str) -> float | None:
        """Seconds since ``key`` was written; ``None`` when missing or the store cannot tell."""
        try:
            if self.local:
                mtime = self._local_path(key).stat().st_mtime
            else:
                assert self._fs is not None
                info = self._fs.info(self._remote_path(key))
                stamp = info.get("LastModified") or info.get("mtime") or info.get("created")
                if isinstance(stamp, datetime):
                    mtime = stamp.timestamp()
                elif isinstance(stamp, int | float):
                    mtime = float(stamp)
                else:
                    return None
        except (FileNotFoundError, OSError):
            return None
        return max(0.0, time.time() - mtime)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.local:
                self._local_path(key).unlink()
            else:
                assert self._fs is not None
                self._fs.rm_file(self._remote_path(key))

    def keys(self, prefix: str = "objects") -> Iterator[str]:
        """Every stored key under ``prefix`` (temporary files excluded)."""
        if self.local:
            base = self._root / prefix
            if not base.exists():
                return
            for path in sorted(base.rglob("*")):
                if path.is_file() and not path.name.startswith(_TMP_PREFIX):
                    yield path.relative_to(self._root).as_posix()
        else:
            assert self._fs is not None
            root = self._remote_path(prefix)
            if not self._fs.exists(root):
                return
            for path in sorted(self._fs.find(root)):
                rel = path[len(self._base) + 1 :] if path.startswith(self._base) else path
                if not rel.rsplit("/", 1)[-1].startswith(_TMP_PREFIX):
                    yield rel

    def temporary_files(self) -> list[str]:
        """Leftover temporary files from interrupted writes (local stores only)."""
        if not self.local:
            return []
        return [
            p.relative_to(self._root).as_posix()
            for p in self._root.rglob(f"{_TMP_PREFIX}*")
            if p.is_file()
        ]

    def remove_temporary_files(self, older_than: float = 0.0) -> int:
        """Remove leftover temporary files at least ``older_than`` seconds old."""
        n = 0
        for rel in self.temporary_files():
            age = self.age(rel)
            if age is None or age < older_than:
                continue  # possibly a write in flight
            with contextlib.suppress(FileNotFoundError):
                (self._root / rel).unlink()
                n += 1
        return n


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _load_syncfs() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):  # pragma: no cover - libc without syncfs
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_SYNCFS = _load_syncfs()
_HAVE_SYNCFS = _SYNCFS is not None


def _syncfs(path: Path) -> None:
    """Flush the file system holding ``path`` (Linux ``syncfs``); raises OSError on failure."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
