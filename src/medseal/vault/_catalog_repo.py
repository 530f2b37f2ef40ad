"""The catalogue repository: every SQL statement the vault runs, in one class.

:class:`Catalog` holds the :class:`~medseal.vault._db.Database` of
:mod:`medseal.vault.catalog`'s tables. The rest of the vault (the
:class:`~medseal.vault.Vault` facade, the pseudonym and maintenance modules)
talks to the database only through it; the audit chain's own statements live
in :mod:`medseal.vault.audit`, which this class calls. Statements are SQL text
with ``:name`` parameters, the same on SQLite and PostgreSQL. Database
failures leave as :class:`~medseal.errors.StorageError` with a one-line
message (the driver's text can quote SQL and values).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from medseal.crypto import WrappedKey
from medseal.errors import ConfigError
from medseal.types import ObjectRef
from medseal.vault import audit as _audit
from medseal.vault._db import Connection, Database, in_list, row_type
from medseal.vault.catalog import OBJECT_COLUMNS, ddl
from medseal.vault.policy import Grant, Role

__all__ = ["Catalog", "ObjectInfo", "ObjectRow"]

# An object row: the named tuple every ``SELECT`` of the table's columns (in order) returns.
ObjectRow = row_type(OBJECT_COLUMNS)
_OBJECT_LIST = ", ".join(OBJECT_COLUMNS)
_KEY_INSERT = "INSERT INTO data_keys (key_id, kek_id, wrapped) VALUES (:key_id, :kek_id, :wrapped)"
_OBJECT_INSERT = (
    f"INSERT INTO objects ({_OBJECT_LIST}) VALUES ({', '.join(':' + c for c in OBJECT_COLUMNS)})"
)


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


class Catalog:
    """Typed access to the catalogue tables (objects, keys, grants, settings, sealed records)."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def dispose(self) -> None:
        self.db.dispose()

    # ------------------------------------------------------------------ transactions
    def begin(self, what: str = "update the catalogue") -> AbstractContextManager[Connection]:
        """A write transaction; a database failure becomes one-line :class:`StorageError`."""
        return self.db.begin(what)  # type: ignore[no-any-return]

    def connect(self, what: str = "read the catalogue") -> AbstractContextManager[Connection]:
        """A connection for reads (same error handling as :meth:`begin`)."""
        return self.db.connect(what)  # type: ignore[no-any-return]

    @contextmanager
    def lock(self, vault_id: str, *, exclusive: bool) -> Iterator[None]:
        """The vault lock: writers hold it shared from blob write to commit, gc and
        key rotation exclusively, so neither can run between a writer's blob and its row.

        SQLite: ``flock`` on ``<catalogue>.lock`` beside the database file.
        PostgreSQL: a session-level advisory lock (``pg_advisory_lock[_shared]``)
        keyed by the vault id, so processes on different machines serialise too.
        An in-memory SQLite catalogue: no lock (gc then relies on its grace period alone).
        """
        if self.dialect == "sqlite" and self.db.path is not None:
            fd = os.open(f"{self.db.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the lock
        elif self.dialect == "postgresql":
            key = int(vault_id[:15], 16)
            suffix = "" if exclusive else "_shared"
            with self.connect("lock the vault") as conn:
                conn.execute(f"SELECT pg_advisory_lock{suffix}(:k)", {"k": key})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(f"SELECT pg_advisory_unlock{suffix}(:k)", {"k": key})
                    conn.commit()
        else:
            yield

    def create_schema(self) -> None:
        """Create the tables; a new SQLite file is made readable by its owner only (0600)."""
        if self.dialect == "sqlite" and self.db.path is not None:
            with suppress(FileExistsError):
                os.close(os.open(self.db.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self.db.script(ddl(self.dialect), "create the catalogue")

    # ------------------------------------------------------------------ settings
    @staticmethod
    def setting(conn: Connection, key: str) -> str | None:
        row = conn.execute('SELECT value FROM settings WHERE "key" = :k', {"k": key}).first()
        return None if row is None else str(row.value)

    @staticmethod
    def set_setting(conn: Connection, key: str, value: str) -> None:
        if Catalog.setting(conn, key) is None:
            conn.execute(
                'INSERT INTO settings ("key", value) VALUES (:k, :v)', {"k": key, "v": value}
            )
        else:
            conn.execute('UPDATE settings SET value = :v WHERE "key" = :k', {"k": key, "v": value})

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
            for r in conn.execute("SELECT principal, role, dataset FROM grants")
        ]

    @staticmethod
    def add_grant(conn: Connection, principal: str, role: Role, dataset: str, by: str) -> None:
        key = {"p": principal, "r": role.value, "d": dataset}
        exists = conn.execute(
            "SELECT id FROM grants WHERE principal = :p AND role = :r AND dataset = :d", key
        ).first()
        if not exists:
            conn.execute(
                "INSERT INTO grants (principal, role, dataset, created_at, created_by) "
                "VALUES (:p, :r, :d, :at, :by)",
                {**key, "at": conn.timestamp(), "by": by},
            )

    @staticmethod
    def remove_grants(
        conn: Connection, principal: str, role: Role | None, dataset: str | None
    ) -> int:
        sql, params = "DELETE FROM grants WHERE principal = :p", {"p": principal}
        if role is not None:
            sql, params["r"] = sql + " AND role = :r", role.value
        if dataset is not None:
            sql, params["d"] = sql + " AND dataset = :d", dataset
        return conn.execute(sql, params).rowcount

    # ------------------------------------------------------------------ objects
    @staticmethod
    def object_row(conn: Connection, object_id: str) -> Any | None:
        """The row of ``object_id`` (an :data:`ObjectRow`), or ``None``."""
        return conn.execute(
            f"SELECT {_OBJECT_LIST} FROM objects WHERE id = :id", {"id": object_id}
        ).first()

    @staticmethod
    def object_rows_with_keys(
        conn: Connection, object_ids: Sequence[str]
    ) -> dict[str, tuple[Any, WrappedKey | None]]:
        """Rows of ``object_ids`` with their wrapped data keys, by id (one joined query
        per 500 ids); ids without a row are absent."""
        out: dict[str, tuple[Any, WrappedKey | None]] = {}
        unique = list(dict.fromkeys(object_ids))
        n = len(OBJECT_COLUMNS)
        columns = ", ".join("o." + c for c in OBJECT_COLUMNS)
        for start in range(0, len(unique), 500):
            ids, params = in_list("i", unique[start : start + 500])
            query = (
                f"SELECT {columns}, k.kek_id, k.wrapped FROM objects o "
                f"LEFT OUTER JOIN data_keys k ON o.key_id = k.key_id WHERE o.id IN {ids}"
            )
            for r in conn.execute(query, params):
                row, kek_id, wrapped = ObjectRow._make(r[:n]), r[n], r[n + 1]
                wk = (
                    None
                    if wrapped is None
                    else WrappedKey(key_id=row.key_id, kek_id=kek_id, wrapped=bytes(wrapped))
                )
                out[str(row.id)] = (row, wk)
        return out

    @staticmethod
    def datasets(conn: Connection) -> list[str]:
        return [str(r[0]) for r in conn.execute("SELECT DISTINCT dataset FROM objects")]

    @staticmethod
    def count_objects(conn: Connection, datasets: Sequence[str]) -> int:
        names, params = in_list("d", datasets)
        return int(
            conn.execute(f"SELECT count(*) FROM objects WHERE dataset IN {names}", params).scalar()
        )

    @staticmethod
    def object_page(
        conn: Connection, datasets: Sequence[str], after: tuple[Any, str] | None, limit: int
    ) -> list[Any]:
        """Up to ``limit`` rows of ``datasets`` after ``after`` = (created_at, id), in that order
        (:data:`ObjectRow` tuples)."""
        names, params = in_list("d", datasets)
        where = f"dataset IN {names}"
        if after is not None:
            where += " AND (created_at > :at OR (created_at = :at AND id > :id))"
            params.update(at=after[0], id=after[1])
        query = f"SELECT {_OBJECT_LIST} FROM objects WHERE {where} ORDER BY created_at, id LIMIT :n"
        return conn.execute(query, {**params, "n": limit}).all()

    @staticmethod
    def object_rows(conn: Connection, dataset: str | None = None) -> list[Any]:
        """Every object row (of ``dataset``), oldest first, as :data:`ObjectRow` tuples."""
        where = "" if dataset is None else " WHERE dataset = :d"
        query = f"SELECT {_OBJECT_LIST} FROM objects{where} ORDER BY created_at, id"
        return conn.execute(query, None if dataset is None else {"d": dataset}).all()

    @staticmethod
    def blob_keys(conn: Connection) -> set[str]:
        return {str(r.blob_key) for r in conn.execute("SELECT blob_key FROM objects")}

    @staticmethod
    def insert_object(conn: Connection, values: Mapping[str, Any]) -> None:
        Catalog.insert_objects(conn, [values])

    @staticmethod
    def insert_objects(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        stamp = conn.timestamp
        conn.executemany(
            _OBJECT_INSERT,
            ({**r, "created_at": stamp(r["created_at"])} for r in rows),
        )

    @staticmethod
    def find_source(conn: Connection, dataset: str, fingerprint: str) -> str | None:
        """The id of an image already stored in ``dataset`` from the same source, if any."""
        row = conn.execute(
            "SELECT id FROM objects WHERE dataset = :d AND source_fp = :fp AND kind = 'image' LIMIT 1",
            {"d": dataset, "fp": fingerprint},
        ).first()
        return None if row is None else str(row.id)

    @staticmethod
    def sizes(conn: Connection) -> dict[str, int]:
        row = conn.execute("SELECT count(*), sum(blob_size), sum(payload_size) FROM objects").one()
        return {
            "objects": int(row[0] or 0),
            "blob_bytes": int(row[1] or 0),
            "payload_bytes": int(row[2] or 0),
        }

    # ------------------------------------------------------------------ data keys
    @staticmethod
    def insert_data_key(conn: Connection, wk: WrappedKey) -> None:
        Catalog.insert_data_keys(conn, [wk])

    @staticmethod
    def insert_data_keys(conn: Connection, keys: Sequence[WrappedKey]) -> None:
        conn.executemany(
            _KEY_INSERT,
            [{"key_id": k.key_id, "kek_id": k.kek_id, "wrapped": k.wrapped} for k in keys],
        )

    @staticmethod
    def data_key(conn: Connection, key_id: str) -> WrappedKey | None:
        row = conn.execute(
            "SELECT key_id, kek_id, wrapped FROM data_keys WHERE key_id = :k", {"k": key_id}
        ).first()
        if row is None:
            return None
        return WrappedKey(key_id=row.key_id, kek_id=row.kek_id, wrapped=bytes(row.wrapped))

    @staticmethod
    def data_keys(conn: Connection) -> list[WrappedKey]:
        return [
            WrappedKey(key_id=r.key_id, kek_id=r.kek_id, wrapped=bytes(r.wrapped))
            for r in conn.execute("SELECT key_id, kek_id, wrapped FROM data_keys ORDER BY key_id")
        ]

    @staticmethod
    def replace_data_key(conn: Connection, wk: WrappedKey) -> None:
        conn.execute(
            "UPDATE data_keys SET kek_id = :kek_id, wrapped = :wrapped WHERE key_id = :key_id",
            {"key_id": wk.key_id, "kek_id": wk.kek_id, "wrapped": wk.wrapped},
        )

    # ------------------------------------------------------------------ sealed records
    @staticmethod
    def sealed_record(conn: Connection, name: str) -> tuple[bytes, str] | None:
        row = conn.execute(
            "SELECT data, wrapped_key FROM sealed_records WHERE name = :n", {"n": name}
        ).first()
        return None if row is None else (bytes(row.data), str(row.wrapped_key))

    @staticmethod
    def sealed_record_names(conn: Connection) -> list[str]:
        return [str(r.name) for r in conn.execute("SELECT name FROM sealed_records")]

    @staticmethod
    def put_sealed_record(conn: Connection, name: str, data: bytes, wrapped_key: str) -> None:
        values = {"n": name, "data": data, "wk": wrapped_key}
        if conn.execute("SELECT name FROM sealed_records WHERE name = :n", {"n": name}).first():
            conn.execute(
                "UPDATE sealed_records SET data = :data, wrapped_key = :wk WHERE name = :n", values
            )
        else:
            conn.execute(
                "INSERT INTO sealed_records (name, data, wrapped_key) VALUES (:n, :data, :wk)",
                values,
            )

    @staticmethod
    def set_sealed_record_key(conn: Connection, name: str, wrapped_key: str) -> None:
        conn.execute(
            "UPDATE sealed_records SET wrapped_key = :wk WHERE name = :n",
            {"n": name, "wk": wrapped_key},
        )
