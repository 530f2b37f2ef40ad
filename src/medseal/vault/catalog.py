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

__all__ = ["SCHEMA_VERSION", "make_engine", "metadata", "tables"]

SCHEMA_VERSION = 2  # 2: manifest_mac (authenticated rows), source_fp (re-runnable ingest)

metadata = MetaData()

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

data_keys = Table(
    "data_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("kek_id", String(64), nullable=False, index=True),
    Column("wrapped", LargeBinary, nullable=False),
)

objects = Table(
    "objects",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("name", String(255), nullable=True),
    Column("label", Integer, nullable=True),
    Column("patient", String(128), nullable=True),
    Column("split", String(16), nullable=True),
    Column("parent_id", String(32), nullable=True, index=True),
    Column("manifest", Text, nullable=False),
    Column("manifest_sha256", String(64), nullable=False),
    # HMAC over the manifest hash and every other column the vault relies on
    Column("manifest_mac", String(64), nullable=False),
    # keyed fingerprint of the source (re-running an ingest skips what is stored)
    Column("source_fp", String(64), nullable=True, index=True),
    Column("blob_key", String(255), nullable=False, unique=True),
    Column("blob_sha256", String(64), nullable=False),
    Column("blob_size", BigInteger, nullable=False),
    Column("payload_size", BigInteger, nullable=False),
    Column("algorithm", String(32), nullable=False),
    Column("key_id", String(64), ForeignKey("data_keys.key_id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64), nullable=False),
)

grants = Table(
    "grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("principal", String(64), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("dataset", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64), nullable=False),
    UniqueConstraint("principal", "role", "dataset", name="uq_grant"),
)

sealed_records = Table(
    "sealed_records",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("wrapped_key", Text, nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", String(40), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("dataset", String(64), nullable=True),
    Column("target", String(64), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
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
