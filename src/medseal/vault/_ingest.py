"""The vault's ingest loop: records in, de-identified sealed objects out, failures reported."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from medseal.crypto import Algorithm
from medseal.errors import AccessDenied, MedsealError, StorageError
from medseal.ingest import Record
from medseal.types import ObjectRef

if TYPE_CHECKING:  # pragma: no cover
    from medseal.vault.vault import Vault

__all__ = ["IngestReport", "ingest_records"]

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    refs: list[ObjectRef] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # the source record key of each ref, in order
    failures: list[tuple[str, str]] = field(default_factory=list)  # (file name, error message)
    bytes_in: int = 0


def ingest_records(
    vault: Vault,
    records: Iterable[Record],
    *,
    dataset: str,
    as_: str,
    lossless: bool,
    ratio: float | None,
    algorithm: Algorithm | str,
    progress: Callable[[int, int | None], None] | None,
) -> IngestReport:
    report = IngestReport()
    seq: list[Record] = list(records) if not isinstance(records, list) else records
    total = len(seq)
    for i, record in enumerate(seq):
        try:
            image = record.image()
            patient = record.patient_id
            name: str | None = record.key
            if image.header is not None:
                # Folder and file names of DICOM trees often carry patient ids: name
                # DICOM objects by their (de-identified) SOP Instance UID instead.
                patient = str(getattr(image.header, "PatientID", "") or "") or None
                name = str(getattr(image.header, "SOPInstanceUID", "") or "") or None
            ref = vault.put(
                image,
                dataset=dataset,
                as_=as_,
                name=name,
                label=record.label,
                patient=patient,
                split=record.split,
                lossless=lossless,
                ratio=ratio,
                algorithm=algorithm,
            )
            report.refs.append(ref)
            report.keys.append(str(record.key))
            report.bytes_in += int(image.pixels.nbytes)
        except (StorageError, AccessDenied):
            raise
        except MedsealError as exc:
            report.failures.append((Path(str(record.key)).name, str(exc)))
            log.warning("skipped %s: %s", Path(str(record.key)).name, exc)
        if progress is not None:
            progress(i + 1, total)
    return report
