"""The vault's metadata catalogue: its tables on SQLite (default) or PostgreSQL.

Rows hold no pixels and no PHI: object manifests (shape, codec, which header
tags de-identification removed), wrapped data keys, principals and grants, and
the hash-chained audit log. The pseudonym map (which *is* PHI) is stored here
only as a sealed blob.

The tables are written as DDL for each back end, with the names and types
SQLAlchemy gave them when it created the catalogue (a catalogue made by an
earlier medseal opens unchanged). :func:`ddl` is what ``Vault.init`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OBJECT_COLUMNS", "SCHEMA_VERSION", "TABLES", "Table", "ddl"]

SCHEMA_VERSION = 2  # 2: manifest_mac (authenticated rows), source_fp (re-runnable ingest)


@dataclass(frozen=True)
class Table:
    """A table's name, its column definitions (``name TYPE [NOT NULL]``, with ``{blob}``,
    ``{time}`` and ``{serial}`` standing for the back end's types), its constraints and
    the columns of each index (``"a, b"``: one index on two columns)."""

    name: str
    columns: tuple[str, ...]
    constraints: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.split()[0].strip('"') for c in self.columns)


_TYPES = {
    "sqlite": {"blob": "BLOB", "time": "DATETIME", "serial": "INTEGER"},
    "postgresql": {"blob": "BYTEA", "time": "TIMESTAMP WITH TIME ZONE", "serial": "SERIAL"},
}

settings = Table(
    "settings", ('"key" VARCHAR(64) NOT NULL', "value TEXT NOT NULL"), ('PRIMARY KEY ("key")',)
)

data_keys = Table(
    "data_keys",
    ("key_id VARCHAR(64) NOT NULL", "kek_id VARCHAR(64) NOT NULL", "wrapped {blob} NOT NULL"),
    ("PRIMARY KEY (key_id)",),
    ("kek_id",),
)

objects = Table(
    "objects",
    (
        "id VARCHAR(32) NOT NULL",
        "dataset VARCHAR(64) NOT NULL",
        "kind VARCHAR(32) NOT NULL",
        "name VARCHAR(255)",
        "label INTEGER",
        "patient VARCHAR(128)",
        "split VARCHAR(16)",
        "parent_id VARCHAR(32)",
        "manifest TEXT NOT NULL",
        "manifest_sha256 VARCHAR(64) NOT NULL",
        # HMAC over the manifest hash and every other column the vault relies on
        "manifest_mac VARCHAR(64) NOT NULL",
        # keyed fingerprint of the source (re-running an ingest skips what is stored)
        "source_fp VARCHAR(64)",
        "blob_key VARCHAR(255) NOT NULL",
        "blob_sha256 VARCHAR(64) NOT NULL",
        "blob_size BIGINT NOT NULL",
        "payload_size BIGINT NOT NULL",
        "algorithm VARCHAR(32) NOT NULL",
        "key_id VARCHAR(64) NOT NULL",
        "created_at {time} NOT NULL",
        "created_by VARCHAR(64) NOT NULL",
    ),
    ("PRIMARY KEY (id)", "UNIQUE (blob_key)", "FOREIGN KEY(key_id) REFERENCES data_keys (key_id)"),
    # a listing pages through one dataset by (created_at, id): read in index order, not sorted
    ("dataset", "parent_id", "source_fp", "dataset, created_at, id"),
)

grants = Table(
    "grants",
    (
        "id {serial} NOT NULL",
        "principal VARCHAR(64) NOT NULL",
        "role VARCHAR(16) NOT NULL",
        "dataset VARCHAR(64) NOT NULL",
        "created_at {time} NOT NULL",
        "created_by VARCHAR(64) NOT NULL",
    ),
    ("PRIMARY KEY (id)", "CONSTRAINT uq_grant UNIQUE (principal, role, dataset)"),
    ("principal",),
)

sealed_records = Table(
    "sealed_records",
    ("name VARCHAR(128) NOT NULL", "data {blob} NOT NULL", "wrapped_key TEXT NOT NULL"),
    ("PRIMARY KEY (name)",),
)

audit = Table(
    "audit",
    (
        "seq BIGINT NOT NULL",
        "ts VARCHAR(40) NOT NULL",
        "actor VARCHAR(64) NOT NULL",
        "action VARCHAR(32) NOT NULL",
        "dataset VARCHAR(64)",
        "target VARCHAR(64)",
        "outcome VARCHAR(16) NOT NULL",
        "detail TEXT NOT NULL",
        "prev_hash VARCHAR(64) NOT NULL",
        "hash VARCHAR(64) NOT NULL",
        "mac VARCHAR(64) NOT NULL",
    ),
    ("PRIMARY KEY (seq)",),
)

audit_head = Table(
    "audit_head",
    (
        "id INTEGER NOT NULL",
        "seq BIGINT NOT NULL",
        "hash VARCHAR(64) NOT NULL",
        "mac VARCHAR(64) NOT NULL",
    ),
    ("PRIMARY KEY (id)",),
)

# In creation order (a table after those its foreign keys name).
TABLES = {
    t.name: t for t in (settings, data_keys, grants, sealed_records, audit, audit_head, objects)
}
OBJECT_COLUMNS = objects.column_names


def ddl(dialect: str) -> list[str]:
    """The statements that create every table and index that is missing, for ``dialect``."""
    types = _TYPES[dialect]
    out = []
    for t in TABLES.values():
        body = ",\n\t".join([c.format(**types) for c in t.columns] + list(t.constraints))
        out.append(f"CREATE TABLE IF NOT EXISTS {t.name} (\n\t{body}\n)")
        out += [
            f"CREATE INDEX IF NOT EXISTS ix_{t.name}_{c.replace(', ', '_')} ON {t.name} ({c})"
            for c in t.indexes
        ]
    return out
