"""The sealed pseudonym map: original identifiers -> pseudonyms (PHI, sealed at rest).

De-identification hands each image's ``deid.pseudonyms`` to the vault; the
vault merges them into one map, sealed under a fresh data key with associated
data naming the vault, and kept in the catalogue's ``sealed_records`` table.
Anything the ingest side adds to ``Image.deid.pseudonyms`` (original patient
ids and names, original file paths ...) is sealed the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from medseal.crypto import KeyRing, WrappedKey, seal, unseal
from medseal.vault._catalog_repo import Catalog
from medseal.vault._db import Connection
from medseal.vault.manifest import canonical

__all__ = ["RECORD_NAME", "merge", "read", "rewrap"]

RECORD_NAME = "pseudonyms"


def _aad(vault_id: str) -> bytes:
    return b"medseal-pseudonyms-v1\x00" + vault_id.encode()


def read(conn: Connection, keyring: KeyRing, vault_id: str) -> dict[str, str]:
    """The whole map (empty when nothing was sealed yet)."""
    stored = Catalog.sealed_record(conn, RECORD_NAME)
    if stored is None:
        return {}
    data, wrapped = stored
    wk = WrappedKey.from_json(json.loads(wrapped))
    return dict(json.loads(unseal(data, wk, keyring=keyring, associated_data=_aad(vault_id))))


def merge(conn: Connection, keyring: KeyRing, vault_id: str, new: Mapping[str, str]) -> None:
    """Add ``new`` to the map inside the caller's transaction (re-sealed only if it changed)."""
    current = read(conn, keyring, vault_id)
    if all(current.get(k) == v for k, v in new.items()):
        return
    current.update(new)
    sealed = seal(canonical(current), keyring=keyring, associated_data=_aad(vault_id))
    Catalog.put_sealed_record(
        conn, RECORD_NAME, bytes(sealed.data), json.dumps(sealed.wrapped_key.to_json())
    )


def wrapped_keys(conn: Connection) -> dict[str, WrappedKey]:
    """The wrapped data key of every sealed record, by record name."""
    out = {}
    for name in Catalog.sealed_record_names(conn):
        stored = Catalog.sealed_record(conn, name)
        if stored is not None:
            out[name] = WrappedKey.from_json(json.loads(stored[1]))
    return out


def rewrap(conn: Connection, keyring: KeyRing) -> int:
    """Re-wrap every sealed record's data key under the ring's current KEK; returns how many."""
    n = 0
    for name, wk in wrapped_keys(conn).items():
        if wk.kek_id == keyring.current_kek_id:
            continue
        Catalog.set_sealed_record_key(conn, name, json.dumps(keyring.rewrap(wk).to_json()))
        n += 1
    return n
