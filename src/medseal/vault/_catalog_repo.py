"""The catalogue repository: every SQL statement the vault runs, in one class.

:class:`Catalog` wraps the SQLAlchemy engine of :mod:`medseal.vault.catalog`'s
tables. The rest of the vault (the :class:`~medseal.vault.Vault` facade, the
pseudonym and maintenance modules) talks to the database only through it; the
audit chain's own statements live in :mod:`medseal.vault.audit`, which this
class calls. Database failures leave here as :class:`~medseal.errors.StorageError`
with a one-line message (the driver's text can quote SQL and values).
"""

from __future__ import annotations

import fcntl
import os
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from medseal.crypto import WrappedKey
from medseal.errors import ConfigError, StorageError
from medseal.types import ObjectRef
from medseal.vault import audit as _audit
from medseal.vault.catalog import (
    data_keys,
    grants,
    make_engine,
    metadata,
    objects,
    sealed_records,
    settings,
)
from medseal.vault.policy import Grant, Role

__all__ = ["Catalog", "ObjectInfo"]

# An object row as a plain named tuple: listing reads ~20 attributes of every row,
# and a SQLAlchemy ``Row`` answers each through its key map (~1-2 us apiece).
ObjectRow = namedtuple("ObjectRow", [c.name for c in objects.columns])  # type: ignore[misc]  # noqa: PYI024


@dataclass(frozen=True)
class ObjectInfo:
    """Catalogue facts about one object (no pixels, no PHI)."""

    id: str
    dataset: str
    kind: str
    name: str | None
    label: int | None
    patient: str | None
    split: str | None
    parent_id: str | None
    created_at: datetime
    created_by: str
    blob_size: int
    payload_size: int
    algorithm: str
    manifest: Mapping[str, Any] = field(repr=False)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.id, self.dataset, self.kind)


@contextmanager
def _guarded(open_: Callable[[], AbstractContextManager[Connection]], what: str) -> Iterator[Connection]:
    """``open_()``'s connection; a database failure leaves as one line (the driver's
    text can quote SQL and values)."""
    try:
        with open_() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StorageError(f"could not {what}: {type(exc).__name__}") from exc


class Catalog:
    """Typed access to the catalogue tables (objects, keys, grants, settings, sealed records)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)

    @property
    def dialect(self) -> str:
        return str(self.engine.dialect.name)

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ transactions
    def begin(self, what: str = "update the catalogue") -> AbstractContextManager[Connection]:
        """A write transaction; a database failure becomes one-line :class:`StorageError`."""
        return _guarded(self.engine.begin, what)

    def connect(self, what: str = "read the catalogue") -> AbstractContextManager[Connection]:
        """A connection for reads (same error handling as :meth:`begin`)."""
        return _guarded(self.engine.connect, what)

    @contextmanager
    def lock(self, vault_id: str, *, exclusive: bool) -> Iterator[None]:
        """The vault lock: writers hold it shared from blob write to commit, gc and
        key rotation exclusively, so neither can run between a writer's blob and its row.

        SQLite: ``flock`` on ``<catalogue>.lock`` beside the database file.
        PostgreSQL: a session-level advisory lock (``pg_advisory_lock[_shared]``)
        keyed by the vault id, so processes on different machines serialise too.
        Other back ends: no lock (gc then relies on its grace period alone).
        """
        if self.dialect == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            path = f"{self.engine.url.database}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the lock
        elif self.dialect == "postgresql":
            key = int(vault_id[:15], 16)
            suffix = "" if exclusive else "_shared"
            with self.connect("lock the vault") as conn:
                conn.execute(text(f"SELECT pg_advisory_lock{suffix}(:k)"), {"k": key})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text(f"SELECT pg_advisory_unlock{suffix}(:k)"), {"k": key})
                    conn.commit()
        else:  # pragma: no cover - no lock primitive known for this back end
            yield

    def create_schema(self) -> None:
        """Create the tables; a new SQLite file is made readable by its owner only (0600)."""
        database = self.engine.url.database
        if self.dialect == "sqlite" and database not in (None, "", ":memory:"):
            with suppress(FileExistsError):
                os.close(os.open(str(database), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        metadata.create_all(self.engine)

    # ------------------------------------------------------------------ settings
    @staticmethod
    def setting(conn: Connection, key: str) -> str | None:
        row = conn.execute(select(settings.c.value).where(settings.c.key == key)).first()
        return None if row is None else str(row.value)

    @staticmethod
    def set_setting(conn: Connection, key: str, value: str) -> None:
        if Catalog.setting(conn, key) is None:
            conn.execute(insert(settings).values(key=key, value=value))
        else:
            conn.execute(update(settings).where(settings.c.key == key).values(value=value))

    @staticmethod
    def claim(conn: Connection, vault_id: str, schema: int, kek_id: str) -> None:
        """Record a new vault's id, schema and active KEK (refused if the database has one)."""
        if Catalog.setting(conn, "vault_id") is not None:
            raise ConfigError("the catalogue database already belongs to another vault")
        Catalog.set_setting(conn, "vault_id", vault_id)
        Catalog.set_setting(conn, "schema_version", str(schema))
        Catalog.set_setting(conn, "active_kek", kek_id)

    @staticmethod
    def check_owner(conn: Connection, vault_id: str, schema: int) -> None:
        """Refuse a catalogue of another vault, or one of another schema version."""
        if Catalog.setting(conn, "vault_id") != vault_id:
            raise ConfigError("the catalogue database does not belong to this vault")
        found = Catalog.setting(conn, "schema_version")
        if found != str(schema):
            raise ConfigError(
                f"this catalogue has schema {found}, written by an older medseal; this version "
                f"reads schema {schema} only: create a new vault and ingest again"
            )

    # ------------------------------------------------------------------ audit
    @staticmethod
    def append_audit(conn: Connection, key: bytes, **entry: Any) -> _audit.AuditHead:
        return _audit.append(conn, key, **entry)

    # ------------------------------------------------------------------ grants
    @staticmethod
    def grants(conn: Connection) -> list[Grant]:
        return [
            Grant(r.principal, Role(r.role), r.dataset)
            for r in conn.execute(select(grants.c.principal, grants.c.role, grants.c.dataset))
        ]

    @staticmethod
    def add_grant(conn: Connection, principal: str, role: Role, dataset: str, by: str) -> None:
        exists = conn.execute(
            select(grants.c.id).where(
                (grants.c.principal == principal)
                & (grants.c.role == role.value)
                & (grants.c.dataset == dataset)
            )
        ).first()
        if not exists:
            conn.execute(
                insert(grants).values(
                    principal=principal,
                    role=role.value,
                    dataset=dataset,
                    created_at=datetime.now(UTC),
                    created_by=by,
                )
            )

    @staticmethod
    def remove_grants(
        conn: Connection, principal: str, role: Role | None, dataset: str | None
    ) -> int:
        cond = grants.c.principal == principal
        if role is not None:
            cond = cond & (grants.c.role == role.value)
        if dataset is not None:
            cond = cond & (grants.c.dataset == dataset)
        return int(conn.execute(delete(grants).where(cond)).rowcount)

    # ------------------------------------------------------------------ objects
    @staticmethod
    def object_row(conn: Connection, object_id: str) -> Row[Any] | None:
        return conn.execute(select(objects).where(objects.c.id == object_id)).first()

    @staticmethod
    def object_rows_with_keys(
        conn: Connection, object_ids: Sequence[str]
    ) -> dict[str, tuple[Row[Any], WrappedKey | None]]:
        """Rows of ``object_ids`` with their wrapped data keys, by id (one joined query
        per 500 ids); ids without a row are absent."""
        out: dict[str, tuple[Row[Any], WrappedKey | None]] = {}
        unique = list(dict.fromkeys(object_ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            query = (
                select(
                    objects,
                    data_keys.c.kek_id.label("dk_kek_id"),
                    data_keys.c.wrapped.label("dk_wrapped"),
                )
                .select_from(objects.outerjoin(data_keys, objects.c.key_id == data_keys.c.key_id))
                .where(objects.c.id.in_(chunk))
            )
            for r in conn.execute(query):
                wk = (
                    None
                    if r.dk_wrapped is None
                    else WrappedKey(key_id=r.key_id, kek_id=r.dk_kek_id, wrapped=bytes(r.dk_wrapped))
                )
                out[str(r.id)] = (r, wk)
        return out

    @staticmethod
    def datasets(conn: Connection) -> list[str]:
        return [str(r[0]) for r in conn.execute(select(objects.c.dataset).distinct())]

    @staticmethod
    def count_objects(conn: Connection, datasets: Sequence[str]) -> int:
        query = select(func.count()).select_from(objects).where(objects.c.dataset.in_(datasets))
        return int(conn.execute(query).scalar_one())

    @staticmethod
    def object_page(
        conn: Connection, datasets: Sequence[str], after: tuple[Any, str] | None, limit: int
    ) -> list[Any]:
        """Up to ``limit`` rows of ``datasets`` after ``after`` = (created_at, id), in that order
        (:data:`ObjectRow` tuples)."""
        query = (
            select(objects)
            .where(objects.c.dataset.in_(datasets))
            .order_by(objects.c.created_at, objects.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(
                (objects.c.created_at > after[0])
                | ((objects.c.created_at == after[0]) & (objects.c.id > after[1]))
            )
        return list(map(ObjectRow._make, conn.execute(query)))

    @staticmethod
    def object_rows(conn: Connection, dataset: str | None = None) -> list[Any]:
        """Every object row (of ``dataset``), oldest first, as :data:`ObjectRow` tuples."""
        query = select(objects).order_by(objects.c.created_at, objects.c.id)
        if dataset is not None:
            query = query.where(objects.c.dataset == dataset)
        return list(map(ObjectRow._make, conn.execute(query)))

    @staticmethod
    def blob_keys(conn: Connection) -> set[str]:
        return {str(r.blob_key) for r in conn.execute(select(objects.c.blob_key))}

    @staticmethod
    def insert_object(conn: Connection, values: Mapping[str, Any]) -> None:
        conn.execute(insert(objects).values(**dict(values)))

    @staticmethod
    def insert_objects(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        conn.execute(insert(objects), [dict(r) for r in rows])

    @staticmethod
    def find_source(conn: Connection, dataset: str, fingerprint: str) -> str | None:
        """The id of an image already stored in ``dataset`` from the same source, if any."""
        row = conn.execute(
            select(objects.c.id)
            .where(
                (objects.c.dataset == dataset)
                & (objects.c.source_fp == fingerprint)
                & (objects.c.kind == "image")
            )
            .limit(1)
        ).first()
        return None if row is None else str(row.id)

    @staticmethod
    def sizes(conn: Connection) -> dict[str, int]:
        row = conn.execute(
            select(
                func.count(), func.sum(objects.c.blob_size), func.sum(objects.c.payload_size)
            ).select_from(objects)
        ).one()
        return {
            "objects": int(row[0] or 0),
            "blob_bytes": int(row[1] or 0),
            "payload_bytes": int(row[2] or 0),
        }

    # ------------------------------------------------------------------ data keys
    @staticmethod
    def insert_data_key(conn: Connection, wk: WrappedKey) -> None:
        conn.execute(insert(data_keys).values(key_id=wk.key_id, kek_id=wk.kek_id, wrapped=wk.wrapped))

    @staticmethod
    def insert_data_keys(conn: Connection, keys: Sequence[WrappedKey]) -> None:
        conn.execute(
            insert(data_keys),
            [{"key_id": k.key_id, "kek_id": k.kek_id, "wrapped": k.wrapped} for k in keys],
        )

    @staticmethod
    def data_key(conn: Connection, key_id: str) -> WrappedKey | None:
        row = conn.execute(select(data_keys).where(data_keys.c.key_id == key_id)).first()
        if row is None:
            return None
        return WrappedKey(key_id=row.key_id, kek_id=row.kek_id, wrapped=bytes(row.wrapped))

    @staticmethod
    def data_keys(conn: Connection) -> list[WrappedKey]:
        return [
            WrappedKey(key_id=r.key_id, kek_id=r.kek_id, wrapped=bytes(r.wrapped))
            for r in conn.execute(select(data_keys).order_by(data_keys.c.key_id))
        ]

    @staticmethod
    def replace_data_key(conn: Connection, wk: WrappedKey) -> None:
        conn.execute(
            update(data_keys)
            .where(data_keys.c.key_id == wk.key_id)
            .values(kek_id=wk.kek_id, wrapped=wk.wrapped)
        )

    # ------------------------------------------------------------------ sealed records
    @staticmethod
    def sealed_record(conn: Connection, name: str) -> tuple[bytes, str] | None:
        row = conn.execute(select(sealed_records).where(sealed_records.c.name == name)).first()
        return None if row is None else (bytes(row.data), str(row.wrapped_key))

    @staticmethod
    def sealed_record_names(conn: Connection) -> list[str]:
        return [str(r.name) for r in conn.execute(select(sealed_records.c.name))]

    @staticmethod
    def put_sealed_record(conn: Connection, name: str, data: bytes, wrapped_key: str) -> None:
        values = {"data": data, "wrapped_key": wrapped_key}
        exists = conn.execute(
            select(sealed_records.c.name).where(sealed_records.c.name == name)
        ).first()
        if exists:
            conn.execute(update(sealed_records).where(sealed_records.c.name == name).values(**values))
        else:
            conn.execute(insert(sealed_records).values(name=name, **values))

    @staticmethod
    def set_sealed_record_key(conn: Connection, name: str, wrapped_key: str) -> None:
        conn.execute(
            update(sealed_records).where(sealed_records.c.name == name).values(wrapped_key=wrapped_key)
        )
