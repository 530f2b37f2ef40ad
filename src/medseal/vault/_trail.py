"""The vault's audit trail: transactions that append to the chain and move the anchor."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from medseal.errors import StorageError
from medseal.vault import audit as _audit
from medseal.vault._catalog_repo import Catalog
from medseal.vault._db import Connection
from medseal.vault.anchor import AuditAnchor

__all__ = ["AuditTrail"]


class AuditTrail:
    """Appends audit entries (in the caller's transaction or alone) and keeps the anchor."""

    def __init__(self, catalog: Catalog, key: bytes, anchor: AuditAnchor) -> None:
        self.catalog = catalog
        self.anchor = anchor
        self._key = key
        self._tx_heads: dict[int, _audit.AuditHead] = {}

    def record(
        self, actor: str, action: str, outcome: str, *, dataset: str | None = None,
        target: str | None = None, detail: Mapping[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> None:  # fmt: skip
        """Append an audit entry: in ``conn``'s transaction (opened by :meth:`tx`), or alone."""
        entry = dict(
            actor=actor, action=action, outcome=outcome, dataset=dataset, target=target,
            detail=detail,
        )  # fmt: skip
        if conn is not None:
            self._tx_heads[id(conn)] = Catalog.append_audit(conn, self._key, **entry)
            return
        with self.tx("write the audit log") as c:
            self._tx_heads[id(c)] = Catalog.append_audit(c, self._key, **entry)

    def record_many(self, batch: Sequence[Mapping[str, Any]], *, conn: Connection) -> None:
        """Append chained entries (``record``'s keyword arguments each) in ``conn``'s transaction."""
        head = _audit.append_many(conn, self._key, batch)
        if head is not None:
            self._tx_heads[id(conn)] = head

    @contextmanager
    def tx(self, what: str) -> Iterator[Connection]:
        """A catalogue transaction; once it commits, the audit anchor moves to its last entry."""
        head: _audit.AuditHead | None = None
        with self.catalog.begin(what) as conn:
            try:
                yield conn
            finally:
                head = self._tx_heads.pop(id(conn), None)
        if head is not None:
            self.anchor.advance(head.seq, head.hash, self._hash_at)

    def _hash_at(self, seq: int) -> str | None:
        with self.catalog.connect("read the audit log") as conn:
            return _audit.hash_at(conn, seq)

    def check(self, conn: Connection) -> int:
        """Verify the chain, its head and the anchor; returns the number of entries."""
        count = _audit.verify_chain(conn, self._key)
        self.anchor.check(count, lambda seq: _audit.hash_at(conn, seq))
        return count

    def entries(self, actor: str, limit: int | None) -> list[_audit.AuditEntry]:
        """The newest ``limit`` entries (all: ``None``), the read itself audited with them."""
        with self.tx("read the audit log") as conn:
            result = _audit.entries(conn, limit=limit)
            self.record(actor, "audit-read", "ok", detail={"entries": len(result)}, conn=conn)
        return result

    def verify(self, actor: str) -> int:
        """:meth:`check` the chain in a read, then audit the check; returns its length."""
        with self.catalog.connect("read the audit log") as conn:
            count = self.check(conn)
        self.record(actor, "audit-verify", "ok", detail={"entries": count})
        return count

    def release(self, actor: str, action: str, dataset: str, target: str) -> None:
        """Commit the audit entry of a read; if that fails, the caller releases nothing."""
        try:
            self.record(actor, action, "ok", dataset=dataset, target=target)
        except StorageError as exc:
            raise StorageError(f"{exc}; nothing was released") from exc
