"""The audit anchor: the newest audit entry, MACed, kept outside the database.

The hash chain in the catalogue detects edited, removed or reordered entries,
and the head record (with its own, domain-separated MAC) detects a cut tail as
long as the attacker cannot forge a head. Neither can detect a whole catalogue
restored from an older copy: that copy's chain and head are genuine. The
anchor closes the gap: after every audited commit the vault writes the newest
(sequence number, entry hash) to a small file beside ``vault.json`` (or a path
the operator chooses, e.g. on another machine's mount), MACed with a key
derived from the key ring. ``vault audit --verify`` and ``vault verify`` then
require the log to reach the anchored entry with the anchored hash.

The file only ever moves forward: writers take a file lock, re-read it and
replace it only with a newer entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from medseal.errors import AuditChainError, StorageError

__all__ = ["ANCHOR_NAME", "Anchor", "AuditAnchor"]

ANCHOR_NAME = "audit-anchor.json"
log = logging.getLogger(__name__)

_FORMAT = "medseal-audit-anchor"
_DOMAIN = b"medseal-audit-anchor-v1\x00"


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str


class AuditAnchor:
    """Read, check and advance the anchor file of one vault."""

    def __init__(self, path: Path, key: bytes, vault_id: str) -> None:
        self.path = path
        self._key = key
        self._vault_id = vault_id

    def _mac(self, seq: int, digest: str) -> str:
        msg = _DOMAIN + f"{self._vault_id}\x00{seq}\x00{digest}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def read(self) -> Anchor | None:
        """The anchored entry, ``None`` when there is no anchor file; raises if it was forged."""
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            raise AuditChainError(f"audit anchor {self.path.name} is unreadable") from None
        try:
            seq, digest, mac = int(doc["seq"]), str(doc["hash"]), str(doc["mac"])
            ok = doc.get("format") == _FORMAT and doc.get("vault_id") == self._vault_id
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok or not hmac.compare_digest(self._mac(seq, digest), mac):
            raise AuditChainError(
                f"audit anchor {self.path.name} is not this vault's or was modified"
            )
        return Anchor(seq, digest)

    def advance(self, seq: int, digest: str, hash_at: Callable[[int], str | None]) -> None:
        """Record entry ``seq`` unless the anchor already holds a newer one.

        ``hash_at(n)`` reads entry ``n``'s hash from the log. The anchor is not
        moved off an entry the log no longer holds (a rolled-back database), so
        the evidence stays for :meth:`check`.
        """
        try:
            with self._locked():
                try:
                    current = self.read()
                except AuditChainError:
                    current = None  # a broken anchor is reported by verify; never block on it
                if current is not None and current.seq >= seq:
                    return
                if current is not None and hash_at(current.seq) != current.hash:
                    log.warning("audit log does not match its anchor; anchor left in place")
                    return
                doc = {
                    "format": _FORMAT,
                    "vault_id": self._vault_id,
                    "seq": seq,
                    "hash": digest,
                    "mac": self._mac(seq, digest),
                }
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(json.dumps(doc, sort_keys=True) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
        except OSError as exc:
            raise StorageError(
                f"could not update the audit anchor {self.path.name}: {exc.strerror}"
            ) from None

    def check(self, count: int, hash_at: Callable[[int], str | None]) -> None:
        """Raise unless the log (``count`` entries) reaches the anchored entry with its hash."""
        anchor = self.read()
        if anchor is None:
            if count:
                raise AuditChainError(
                    f"audit anchor {self.path} is missing: the log cannot be checked "
                    "against truncation or an older copy of the database"
                )
            return
        if anchor.seq > count:
            raise AuditChainError(
                f"audit log ends at entry {count} but the anchor records entry {anchor.seq}: "
                "entries were removed or the database was restored from an older copy"
            )
        if not hmac.compare_digest(hash_at(anchor.seq) or "", anchor.hash):
            raise AuditChainError(
                f"audit log entry {anchor.seq} differs from the anchored one: "
                "the database was replaced or rewritten"
            )
