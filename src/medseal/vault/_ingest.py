"""The vault's ingest loop: records in, de-identified sealed objects out, failures reported.

Re-runnable: every stored image carries a keyed fingerprint of its source (the
de-identified SOP Instance UID for DICOM, which the vault's keyed
de-identifier maps the same way every time; otherwise the record key and a
hash of the pixels). Running the same ingest again skips what is already in
the dataset (``force`` adds it again). One record's failure never stops the
rest: it is reported once, in :attr:`IngestReport.failures`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from medseal.errors import AccessDenied, MedsealError
from medseal.types import Image, ObjectRef
from medseal.vault import _objects
from medseal.vault._catalog_repo import Catalog

if TYPE_CHECKING:  # pragma: no cover
    from medseal.ingest import Record
    from medseal.vault.vault import Vault

__all__ = ["DEFAULT_BATCH", "IngestReport", "ingest_records", "records_from", "source_fingerprint"]

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    refs: list[ObjectRef] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # the source record key of each ref, in order
    failures: list[tuple[str, str]] = field(default_factory=list)  # (file name, error message)
    bytes_in: int = 0
    skipped: int = 0  # already stored in the dataset (re-run); ``force`` stores them again
    skipped_keys: list[str] = field(default_factory=list)


def _printable(key: str) -> str:
    """A record key fit for a report (undecodable file-name bytes shown as U+FFFD)."""
    return key.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def source_fingerprint(key: bytes, record: Record, image: Image) -> str:
    """Keyed fingerprint of a record's source, the same on every run with the same key ring."""
    uid = str(getattr(image.header, "SOPInstanceUID", "") or "") if image.header else ""
    if uid:
        body = b"dicom\x00" + uid.encode()
    else:
        pixels = hashlib.sha256(image.pixels.tobytes()).hexdigest()
        body = (
            b"record\x00"
            + str(record.key).encode("utf-8", "surrogateescape")
            + f"\x00{image.pixels.shape}\x00{image.pixels.dtype}\x00{pixels}".encode()
        )
    return hmac.new(key, body, hashlib.sha256).hexdigest()


class _Skipped(Exception):
    """This record is already stored (a re-run): counted, not stored again."""


DEFAULT_BATCH = 256  # objects per group commit (at most)
BATCH_BYTES = 64 << 20  # sealed bytes per group commit (at most)


def records_from(
    vault: Vault,
    source: str | os.PathLike[str] | Iterable[Record],
    *,
    deidentify: bool,
    allow_burned_in: bool,
) -> Iterable[Record]:
    """The records of files/folders (read lazily, de-identified with the vault's
    de-identifier unless ``deidentify`` is off), or ``source`` itself."""
    if not isinstance(source, (str, os.PathLike)):
        return source
    from medseal.ingest import load_path

    if not deidentify:
        log.warning("ingesting without de-identification")
    return load_path(
        source,
        deidentifier=vault.deidentifier if deidentify else None,
        allow_burned_in=allow_burned_in,
    )


def ingest_records(
    vault: Vault,
    records: Iterable[Record],
    *,
    dataset: str,
    as_: str,
    encoding: _objects.Encoding,
    progress: Callable[[int, int | None], None] | None,
    force: bool = False,
    batch_size: int = DEFAULT_BATCH,
) -> IngestReport:
    """Store ``records`` in groups: the first group of one, each next twice as large."""
    report = IngestReport()
    seq: list[Record] = list(records) if not isinstance(records, list) else records
    total = len(seq)
    fp_key = vault.keyring.derive(f"source/{vault.id}")
    batch: list[tuple[_objects.Prepared, str, str, int]] = []  # (object, key, shown, nbytes)
    pending_fps: set[str] = set()
    limit = 1
    pending_bytes = 0

    def flush() -> None:
        nonlocal batch, pending_bytes, limit
        if not batch:
            return
        try:
            _objects.commit(vault, [b[0] for b in batch], as_)
        except MedsealError as exc:
            report.failures.extend((shown, str(exc)) for _, _, shown, _ in batch)
        else:
            for prepared, key, _, nbytes in batch:
                report.refs.append(prepared.ref)
                report.keys.append(key)
                report.bytes_in += nbytes
        batch, pending_bytes = [], 0
        pending_fps.clear()
        limit = min(2 * limit, max(1, batch_size))

    for i, record in enumerate(seq):
        shown = _printable(PurePosixPath(str(record.key)).name or str(record.key))
        try:
            if _printable(str(record.key)) != str(record.key):
                raise MedsealError("the file name is not valid UTF-8; rename the file")
            image = record.image()
            fp = source_fingerprint(fp_key, record, image)
            if not force:
                if fp in pending_fps:
                    existing: str | None = fp
                else:
                    with vault.catalog.connect() as conn:
                        existing = Catalog.find_source(conn, dataset, fp)
                if existing is not None:
                    report.skipped += 1
                    report.skipped_keys.append(str(record.key))
                    raise _Skipped
            patient = record.patient_id
            name: str | None = record.key
            if image.header is not None:
                # Folder and file names of DICOM trees often carry patient ids: name
                # DICOM objects by their (de-identified) SOP Instance UID instead.
                patient = str(getattr(image.header, "PatientID", "") or "") or None
                name = str(getattr(image.header, "SOPInstanceUID", "") or "") or None
            item = _objects.PutItem(image, name, record.label, patient, record.split)
            prepared = _objects.prepare(
                vault, item, dataset=dataset, as_=as_, encoding=encoding, source_fp=fp
            )
            batch.append((prepared, str(record.key), shown, int(image.pixels.nbytes)))
            pending_fps.add(fp)
            pending_bytes += len(prepared.data)
        except _Skipped:
            pass
        except AccessDenied:
            raise
        except MedsealError as exc:
            report.failures.append((shown, str(exc)))
            log.debug("failed: %s: %s", shown, exc)
        except Exception as exc:  # one file never stops the rest; its text may hold PHI
            report.failures.append((shown, f"unexpected {type(exc).__name__}"))
            log.debug("failed: %s: %s", shown, type(exc).__name__)
        # reached only when the record was handled: an interrupt never commits a partial group
        if len(batch) >= limit or pending_bytes >= BATCH_BYTES:
            flush()
        if progress is not None:
            progress(i + 1, total)
    flush()
    return report
