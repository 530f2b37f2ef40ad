"""Vault maintenance: verify, collect garbage, rotate keys.

Called by the :class:`~medseal.vault.Vault` facade after its policy check;
these functions do the work and return a report, the facade records it in the
audit log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from medseal import codec
from medseal.errors import MedsealError, NotFoundError
from medseal.vault._catalog_repo import Catalog

if TYPE_CHECKING:  # pragma: no cover
    from medseal.vault.vault import Vault

__all__ = ["RotationReport", "VerifyReport", "collect_garbage", "rotate_keys", "verify"]


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    orphan_blobs: list[str] = field(default_factory=list)
    temporary_files: list[str] = field(default_factory=list)
    audit_entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class RotationReport:
    old_kek_id: str
    new_kek_id: str
    rewrapped: int


def verify(
    vault: Vault,
    *,
    deep: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
) -> VerifyReport:
    """Re-check every object's stored bytes and manifest against the catalogue."""
    report = VerifyReport()
    with vault.catalog.connect() as conn:
        rows = Catalog.object_rows(conn)
        rows.sort(key=lambda r: r.id)
        try:
            report.audit_entries = vault._check_audit(conn)
        except MedsealError as exc:
            report.problems.append(str(exc))
    known = set()
    for i, row in enumerate(rows):
        known.add(row.blob_key)
        report.checked += 1
        try:
            blob = vault.blobs.get(row.blob_key)
        except NotFoundError:
            report.problems.append(f"object {row.id}: blob missing")
            continue
        if len(blob) != int(row.blob_size) or hashlib.sha256(blob).hexdigest() != row.blob_sha256:
            report.problems.append(f"object {row.id}: stored bytes do not match their hash")
            continue
        try:
            info = vault._info(row)  # the row against its authenticated manifest
        except MedsealError as exc:
            report.problems.append(str(exc))
            continue
        if deep:
            try:
                enc, _ = codec.unpack(vault._open_payload(info, blob))
                codec.decode(enc)
            except MedsealError as exc:
                report.problems.append(f"object {row.id}: {type(exc).__name__}: {exc}")
        if progress is not None:
            progress(i + 1, len(rows))
    report.orphan_blobs = [k for k in vault.blobs.keys("objects") if k not in known]
    report.temporary_files = vault.blobs.temporary_files()
    return report


def collect_garbage(vault: Vault) -> int:
    """Remove blobs that no catalogue row references (left by interrupted puts)."""
    with vault.catalog.connect() as conn:
        known = Catalog.blob_keys(conn)
    removed = 0
    for key in list(vault.blobs.keys("objects")):
        if key not in known:
            vault.blobs.delete(key)
            removed += 1
    removed += vault.blobs.remove_temporary_files()
    return removed


def rotate_keys(vault: Vault, *, as_: str, rotate_ring: bool = True) -> RotationReport:
    """Make a new KEK current and re-wrap every data key with it (blobs untouched)."""
    ring = vault.keyring
    old = ring.current_kek_id
    new = ring.rotate() if rotate_ring else old
    n = 0
    with vault._tx("re-wrap the data keys") as conn:
        for wk in Catalog.data_keys(conn):
            if wk.kek_id == new:
                continue
            Catalog.replace_data_key(conn, ring.rewrap(wk))
            n += 1
        vault._record(
            as_,
            "rotate",
            "ok",
            detail={"old_kek": old, "new_kek": new, "rewrapped": n},
            conn=conn,
        )
    return RotationReport(old, new, n)
