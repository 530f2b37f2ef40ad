"""The vault's metadata catalogue: SQLAlchemy tables on SQLite (default) or PostgreSQL.

Rows hold no pixels and no PHI: object manifests (shape, codec, which header
tags de-identification removed), wrapped data keys, principals and grants, and
the hash-chained audit log. The pseudonym map (which *is* PHI) is stored here
only as a sealed blob.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.schema import SchemaItem

__all__ = ["SCHEMA_VERSION", "make_engine", "metadata", "tables"]

SCHEMA_VERSION = 2  # 2: manifest_mac (authenticated rows), source_fp (re-runnable ingest)

metadata = MetaData()


def _table(name: str, *items: SchemaItem) -> Table:
    """A table of the catalogue's :data:`metadata`."""
    return Table(name, metadata, *items)


def _col(
    name: str, type_: Any, *items: SchemaItem, null: bool = False, **options: Any
) -> Column[Any]:
    """A column, ``NOT NULL`` unless ``null`` (primary keys are never null)."""
    return Column(name, type_, *items, nullable=null, **options)


settings = _table(
    "settings",
    _col("key", String(64), primary_key=True),
    _col("value", Text),
)

data_keys = _table(
    "data_keys",
    _col("key_id", String(64), primary_key=True),
    _col("kek_id", String(64), index=True),
    _col("wrapped", LargeBinary),
)

objects = _table(
    "objects",
    _col("id", String(32), primary_key=True),
    _col("dataset", String(64), index=True),
    _col("kind", String(32)),
    _col("name", String(255), null=True),
    _col("label", Integer, null=True),
    _col("patient", String(128), null=True),
    _col("split", String(16), null=True),
    _col("parent_id", String(32), null=True, index=True),
    _col("manifest", Text),
    _col("manifest_sha256", String(64)),
    # HMAC over the manifest hash and every other column the vault relies on
    _col("manifest_mac", String(64)),
    # keyed fingerprint of the source (re-running an ingest skips what is stored)
    _col("source_fp", String(64), null=True, index=True),
    _col("blob_key", String(255), unique=True),
    _col("blob_sha256", String(64)),
    _col("blob_size", BigInteger),
    _col("payload_size", BigInteger),
    _col("algorithm", String(32)),
    _col("key_id", String(64), ForeignKey("data_keys.key_id")),
    _col("created_at", DateTime(timezone=True)),
    _col("created_by", String(64)),
)

grants = _table(
    "grants",
    _col("id", Integer, primary_key=True, autoincrement=True),
    _col("principal", String(64), index=True),
    _col("role", String(16)),
    _col("dataset", String(64)),
    _col("created_at", DateTime(timezone=True)),
    _col("created_by", String(64)),
    UniqueConstraint("principal", "role", "dataset", name="uq_grant"),
)

sealed_records = _table(
    "sealed_records",
    _col("name", String(128), primary_key=True),
    _col("data", LargeBinary),
    _col("wrapped_key", Text),
)

audit = _table(
    "audit",
    _col("seq", BigInteger, primary_key=True, autoincrement=False),
    _col("ts", String(40)),
    _col("actor", String(64)),
    _col("action", String(32)),
    _col("dataset", String(64), null=True),
    _col("target", String(64), null=True),
    _col("outcome", String(16)),
    _col("detail", Text),
    _col("prev_hash", String(64)),
    _col("hash", String(64)),
    _col("mac", String(64)),
)

audit_head = _table(
    "audit_head",
    _col("id", Integer, primary_key=True, autoincrement=False),
    _col("seq", BigInteger),
    _col("hash", String(64)),
    _col("mac", String(64)),
)

tables = {t.name: t for t in metadata.sorted_tables}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with durable settings (SQLite: foreign keys on, full sync)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url, future=True, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            # WAL with FULL sync: every commit is durable with one fsync of the log
            # (the rollback journal needs several), and readers never block the writer.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

    return engine
