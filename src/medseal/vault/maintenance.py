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

from medseal.errors import MedsealError, NotFoundError
from medseal.vault import _objects
from medseal.vault import pseudonyms as _pseudonyms
from medseal.vault._catalog_repo import Catalog
from medseal.vault.manifest import PLAINTEXT_KINDS

if TYPE_CHECKING:  # pragma: no cover
    from medseal.vault.vault import Vault

# gc leaves blobs without a catalogue row alone for this long: a put may be between
# writing its blob and committing its row (the vault lock covers the back ends it knows).
GC_GRACE_S = 3600.0

if TYPE_CHECKING:  # pragma: no cover
    from medseal import codec
else:  # imported on first use (see medseal.vault._lazy)
    from medseal.vault._lazy import codec

__all__ = ["GC_GRACE_S", "RotationReport", "VerifyReport", "collect_garbage", "rotate_keys", "verify"]


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    orphan_blobs: list[str] = field(default_factory=list)
    temporary_files: list[str] = field(default_factory=list)
    audit_entries: int = 0
    # blobs without a row that are younger than the gc grace period (puts in flight)
    fresh_blobs: int = 0
    # wrapped keys (data keys and sealed records) not under the ring's current KEK
    retired_kek_keys: int = 0

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
    as_: str,
    deep: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    grace: float = GC_GRACE_S,
) -> VerifyReport:
    """Re-check every object's stored bytes and manifest against the catalogue."""
    report = VerifyReport()
    vault.keyring.refresh()
    with vault.catalog.connect() as conn:
        rows = Catalog.object_rows(conn)
        rows.sort(key=lambda r: r.id)
        wrapped = Catalog.data_keys(conn) + list(_pseudonyms.wrapped_keys(conn).values())
        report.retired_kek_keys = sum(wk.kek_id != vault.keyring.current_kek_id for wk in wrapped)
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
            info = _objects.info(vault, row)  # the row against its authenticated manifest
        except MedsealError as exc:
            report.problems.append(str(exc))
            continue
        if deep:
            try:
                payload = _objects.open_payload(vault, info, blob)
                if info.kind in PLAINTEXT_KINDS:  # a derived payload is opaque: decrypting is the check
                    enc, _ = codec.unpack(payload)
                    codec.decode(enc)
            except MedsealError as exc:
                report.problems.append(f"object {row.id}: {type(exc).__name__}: {exc}")
        if progress is not None:
            progress(i + 1, len(rows))
    for key in vault.blobs.keys("objects"):
        if key not in known:
            if _old_enough(vault, key, grace):
                report.orphan_blobs.append(key)
            else:
                report.fresh_blobs += 1
    report.temporary_files = [
        t for t in vault.blobs.temporary_files() if _old_enough(vault, t, grace)
    ]
    vault._record(
        as_, "verify", "ok" if report.ok else "problems",
        detail={
            "checked": report.checked, "problems": len(report.problems),
            "orphans": len(report.orphan_blobs),
        },
    )  # fmt: skip
    return report


def _old_enough(vault: Vault, key: str, grace: float) -> bool:
    age = vault.blobs.age(key)
    return age is not None and age >= grace


def collect_garbage(vault: Vault, *, as_: str, grace: float = GC_GRACE_S) -> int:
    """Remove blobs no catalogue row references that are older than ``grace`` seconds.

    Runs under the exclusive vault lock, so no put is between its blob and its
    commit; the grace period also protects puts on back ends without a lock.
    """
    removed = 0
    with vault.catalog.lock(vault.id, exclusive=True):
        with vault.catalog.connect() as conn:
            known = Catalog.blob_keys(conn)
        for key in list(vault.blobs.keys("objects")):
            if key not in known and _old_enough(vault, key, grace):
                vault.blobs.delete(key)
                removed += 1
        removed += vault.blobs.remove_temporary_files(older_than=grace)
    vault._record(as_, "gc", "ok", detail={"removed": removed})
    return removed


def rotate_keys(vault: Vault, *, as_: str, rotate_ring: bool = True) -> RotationReport:
    """Make a new KEK current and re-wrap every wrapped key the vault holds with it.

    Data keys and sealed records (the pseudonym map) move to the new KEK in
    one transaction, which also records it as the vault's active KEK (writers
    check it at commit). Runs under the exclusive vault lock: no put is between
    wrapping its data key and committing it. Blobs are not touched.
    """
    ring = vault.keyring
    with vault.catalog.lock(vault.id, exclusive=True):
        ring.refresh()  # another process may have rotated the file meanwhile
        old = ring.current_kek_id
        new = ring.rotate() if rotate_ring else old
        n = 0
        with vault._tx("re-wrap the data keys") as conn:
            for wk in Catalog.data_keys(conn):
                if wk.kek_id != new:
                    Catalog.replace_data_key(conn, ring.rewrap(wk))
                    n += 1
            records = _pseudonyms.rewrap(conn, ring)
            Catalog.set_setting(conn, "active_kek", new)
            vault._record(
                as_, "rotate", "ok",
                detail={"old_kek": old, "new_kek": new, "rewrapped": n, "records": records},
                conn=conn,
            )  # fmt: skip
    return RotationReport(old, new, n)
