"""The append-only, hash-chained audit log.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the
canonical JSON of the entry's fields; ``mac`` is HMAC-SHA256 of that hash with
a key derived from the key ring (``audit/<vault id>``). The newest (seq, hash,
head MAC) is also kept in a one-row ``audit_head`` table, written in the same
transaction; the head's MAC is domain-separated (``medseal-audit-head-v1``), so
a stored entry's MAC cannot pass for a head's. The newest (seq, hash) is
also anchored outside the database (:mod:`medseal.vault.anchor`). :func:`verify_chain` therefore detects an edited entry (its hash
no longer matches), a removed or reordered entry (seq gap, or the next entry's
``prev_hash`` no longer matches), a truncated tail (the head points past the
last row), and a chain recomputed by someone without the key (MACs fail).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from medseal.errors import AuditChainError
from medseal.vault._db import Connection
from medseal.vault.catalog import TABLES

__all__ = [
    "GENESIS", "AuditEntry", "AuditHead", "append", "append_many", "entries", "hash_at",
    "verify_chain",
]  # fmt: skip

GENESIS = "0" * 64


class AuditHead(NamedTuple):
    """The newest entry's sequence number and hash."""

    seq: int
    hash: str


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: str
    actor: str
    action: str
    dataset: str | None
    target: str | None
    outcome: str
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str
    mac: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "actor": self.actor,
            "action": self.action,
            "dataset": self.dataset,
            "target": self.target,
            "outcome": self.outcome,
            "detail": dict(self.detail),
            "hash": self.hash,
        }


def _entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(prev_hash.encode() + b"\n" + body.encode()).hexdigest()


def _mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


def _head_mac(key: bytes, seq: int, digest: str) -> str:
    """The head record's MAC, domain-separated from the entries' (an entry's MAC is no head's)."""
    msg = b"medseal-audit-head-v1\x00" + f"{seq}\x00{digest}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


_AUDIT_COLUMNS = TABLES["audit"].column_names
_AUDIT_LIST = ", ".join(_AUDIT_COLUMNS)
_INSERT = f"INSERT INTO audit ({_AUDIT_LIST}) VALUES ({', '.join(':' + c for c in _AUDIT_COLUMNS)})"
_HASHED = ("seq", "ts", "actor", "action", "dataset", "target", "outcome", "detail")


def _fields(*values: Any) -> dict[str, Any]:
    """The hashed fields of an entry, given in :data:`_HASHED` order."""
    return dict(zip(_HASHED, values, strict=True))


def append(conn: Connection, key: bytes, **entry: Any) -> AuditHead:
    """Append one entry inside the caller's transaction; returns the new head.

    ``entry`` holds ``actor``, ``action``, ``outcome`` and optionally
    ``dataset``, ``target``, ``detail``: one item of :func:`append_many`.
    """
    head = append_many(conn, key, [entry])
    assert head is not None  # a batch of one always moves the head
    return head


def append_many(
    conn: Connection, key: bytes, batch: Sequence[Mapping[str, Any]]
) -> AuditHead | None:
    """Append several chained entries in one statement inside the caller's transaction.

    Each item holds ``append``'s keyword arguments (``actor``, ``action``,
    ``outcome`` and optionally ``dataset``, ``target``, ``detail``). The chain
    is exactly what as many :func:`append` calls would write; the head moves once.
    """
    if not batch:
        return None
    # PostgreSQL: hold the head row until commit, so concurrent writers chain one after another
    # (SQLite's write transaction holds the database already).
    lock = " FOR UPDATE" if conn.dialect == "postgresql" else ""
    head = conn.execute(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}").first()
    seq, prev = (int(head.seq), head.hash) if head else (0, GENESIS)
    ts = datetime.now(UTC).isoformat(timespec="microseconds")
    rows = []
    for item in batch:
        seq += 1
        detail_json = json.dumps(
            dict(item.get("detail") or {}), sort_keys=True, separators=(",", ":")
        )
        dataset, target = item.get("dataset"), item.get("target")
        digest = _entry_hash(
            prev,
            _fields(
                seq,
                ts,
                item["actor"],
                item["action"],
                dataset,
                target,
                item["outcome"],
                detail_json,
            ),
        )
        rows.append(
            {
                "seq": seq, "ts": ts, "actor": item["actor"], "action": item["action"],
                "dataset": dataset, "target": target, "outcome": item["outcome"],
                "detail": detail_json, "prev_hash": prev, "hash": digest, "mac": _mac(key, digest),
            }
        )  # fmt: skip
        prev = digest
    conn.executemany(_INSERT, rows)
    values = {"seq": seq, "hash": prev, "mac": _head_mac(key, seq, prev)}
    if head:
        conn.execute(
            "UPDATE audit_head SET seq = :seq, hash = :hash, mac = :mac WHERE id = 1", values
        )
    else:
        conn.execute(
            "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, :seq, :hash, :mac)", values
        )
    return AuditHead(seq, prev)


def hash_at(conn: Connection, seq: int) -> str | None:
    """The stored hash of entry ``seq`` (``None`` when there is no such entry)."""
    row = conn.execute("SELECT hash FROM audit WHERE seq = :seq", {"seq": seq}).first()
    return None if row is None else str(row.hash)


def entries(conn: Connection, *, limit: int | None = None) -> list[AuditEntry]:
    query = f"SELECT {_AUDIT_LIST} FROM audit ORDER BY seq"
    if limit is not None:
        total = int(conn.execute("SELECT count(*) FROM audit").scalar())
        query += f" LIMIT {max(0, min(int(limit), total))} OFFSET {max(0, total - int(limit))}"
    return [
        AuditEntry(
            seq=int(r.seq),
            ts=r.ts,
            actor=r.actor,
            action=r.action,
            dataset=r.dataset,
            target=r.target,
            outcome=r.outcome,
            detail=json.loads(r.detail),
            prev_hash=r.prev_hash,
            hash=r.hash,
            mac=r.mac,
        )
        for r in conn.execute(query)
    ]


def verify_chain(conn: Connection, key: bytes) -> int:
    """Check the whole chain; returns the number of entries or raises AuditChainError."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    for r in conn.execute(f"SELECT {_AUDIT_LIST} FROM audit ORDER BY seq"):
        if int(r.seq) != expected_seq:
            raise AuditChainError(
                f"audit log broken at entry {expected_seq}: entry missing or reordered"
            )
        if r.prev_hash != prev:
            raise AuditChainError(
                f"audit log broken at entry {r.seq}: previous-hash link does not match"
            )
        digest = _entry_hash(
            prev,
            _fields(int(r.seq), r.ts, r.actor, r.action, r.dataset, r.target, r.outcome, r.detail),
        )
        if not hmac.compare_digest(digest, r.hash):
            raise AuditChainError(f"audit log broken at entry {r.seq}: entry was modified")
        if not hmac.compare_digest(_mac(key, digest), r.mac):
            raise AuditChainError(f"audit log broken at entry {r.seq}: authentication code invalid")
        prev = digest
        expected_seq += 1
        count += 1
    head = conn.execute("SELECT id, seq, hash, mac FROM audit_head").first()
    if head is None:
        if count:
            raise AuditChainError("audit log head record is missing")
        return 0
    if int(head.seq) != count or not hmac.compare_digest(head.hash, prev):
        raise AuditChainError(
            f"audit log truncated or reordered: head records entry {head.seq}, log ends at {count}"
        )
    if not hmac.compare_digest(_head_mac(key, int(head.seq), head.hash), head.mac):
        raise AuditChainError("audit log head authentication code invalid")
    return count
