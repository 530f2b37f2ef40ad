"""The :class:`Vault` facade: encode -> seal -> store, and back, under policy and audit.

A vault is a directory holding ``vault.json`` (its settings), a metadata
catalogue (SQLite in the directory by default, or any SQLAlchemy URL such as
``postgresql://…``) and a blob store (``blobs/`` by default, or any fsspec URL
such as ``s3://bucket/prefix``).

``put`` is crash-safe: the sealed blob is written atomically first, then the
catalogue row, its wrapped data key, the pseudonym map and the audit entry are
committed in one transaction. A crash before the commit leaves at most an
unreferenced blob (reported by :meth:`Vault.verify`, removed by
:meth:`Vault.collect_garbage`); a crash after it leaves a complete object.
Nothing already stored is ever rewritten, except wrapped data keys during key
rotation, which never touches the pixel ciphertexts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from medseal import codec
from medseal.crypto import Algorithm, KeyRing, WrappedKey, seal, unseal
from medseal.errors import (
    AccessDenied,
    ConfigError,
    DecryptionError,
    InputError,
    IntegrityError,
    InvalidIdError,
    MedsealError,
    NotFoundError,
    StorageError,
)
from medseal.ingest import Deidentifier, Record, load_path
from medseal.types import Image, ObjectRef
from medseal.vault import audit as _audit
from medseal.vault._faults import crashpoint
from medseal.vault.blobs import BlobStore
from medseal.vault.catalog import (
    SCHEMA_VERSION,
    data_keys,
    grants,
    make_engine,
    metadata,
    objects,
    sealed_records,
    settings,
)
from medseal.vault.policy import (
    ALL_DATASETS,
    Action,
    Grant,
    Role,
    decide,
    validate_name,
)

__all__ = ["IngestReport", "ObjectInfo", "RotationReport", "Vault", "VerifyReport"]

log = logging.getLogger(__name__)

CONFIG_NAME = "vault.json"
_ID = re.compile(r"^[0-9a-f]{32}$")
_PSEUDONYMS = "pseudonyms"


def check_id(object_id: str) -> str:
    """Object ids are 32 lowercase hex digits; anything else (``../x``, ``/etc``) is refused."""
    if not isinstance(object_id, str) or not _ID.match(object_id):
        raise InvalidIdError("invalid object id: expected 32 hexadecimal digits")
    return object_id


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _object_aad(object_id: str, manifest_sha256: str) -> bytes:
    return b"medseal-object-v1\x00" + object_id.encode() + b"\x00" + bytes.fromhex(manifest_sha256)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


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


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    orphan_blobs: list[str] = field(default_factory=list)
    temporary_files: list[str] = field(default_factory=list)
    audit_entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class IngestReport:
    refs: list[ObjectRef] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # the source record key of each ref, in order
    failures: list[tuple[str, str]] = field(default_factory=list)  # (file name, error message)
    bytes_in: int = 0


@dataclass(frozen=True)
class RotationReport:
    old_kek_id: str
    new_kek_id: str
    rewrapped: int


class Vault:
    """Encrypted image store with per-dataset access control and an audit trail.

    Open one with :meth:`Vault.init` (new) or :meth:`Vault.open` (existing). Every
    operation takes the acting principal as ``as_``.

    Examples
    --------
    >>> from medseal.crypto import KeyRing
    >>> ring = KeyRing.in_memory()
    >>> vault = Vault.init(tmp / "v", keyring=ring, owner="olivia")   # doctest: +SKIP
    >>> ref = vault.put(image, dataset="chest", as_="olivia")          # doctest: +SKIP
    >>> vault.get(ref.id, as_="olivia").pixels.shape                   # doctest: +SKIP
    """

    def __init__(self, root: Path, config: Mapping[str, Any], keyring: KeyRing) -> None:
        self.root = root
        self.config = dict(config)
        self.keyring = keyring
        self.id: str = self.config["id"]
        self.owner: str = self.config["owner"]
        if self.config.get("keyring_id") != keyring.id:
            raise ConfigError(
                "this vault was created with another key ring "
                f"(expected key ring {self.config.get('keyring_id')}, got {keyring.id})"
            )
        self.engine = make_engine(self._db_url())
        options = dict(self.config.get("storage_options") or {})
        endpoint = os.environ.get("MEDSEAL_S3_ENDPOINT")
        if endpoint and str(self.config["blobs"]).startswith("s3://"):
            options.setdefault("client_kwargs", {}).setdefault("endpoint_url", endpoint)
        self.blobs = BlobStore(self._blob_url(), options)
        self._audit_key = keyring.derive(f"audit/{self.id}")
        self._deidentifier: Deidentifier | None = None

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def init(
        cls,
        root: str | os.PathLike[str],
        *,
        keyring: KeyRing,
        owner: str,
        db: str | None = None,
        blobs: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> Vault:
        """Create a new vault at ``root`` owned by ``owner``."""
        validate_name(owner, "principal")
        root = Path(root)
        if (root / CONFIG_NAME).exists():
            raise ConfigError(f"a vault already exists at {root}")
        for secret in ("key", "secret", "token", "password"):
            if storage_options and secret in storage_options:
                raise ConfigError(
                    f"storage option {secret!r} looks like a credential; pass credentials "
                    "through the environment, not the vault settings"
                )
        root.mkdir(parents=True, exist_ok=True)
        config = {
            "format": "medseal-vault",
            "version": SCHEMA_VERSION,
            "id": uuid.uuid4().hex,
            "owner": owner,
            "keyring_id": keyring.id,
            "db": db or "sqlite:///catalog.sqlite",
            "blobs": blobs or "blobs",
            "storage_options": dict(storage_options or {}),
            "created_at": datetime.now(UTC).isoformat(),
        }
        vault = cls(root, config, keyring)
        try:
            metadata.create_all(vault.engine)
            with vault.engine.begin() as conn:
                existing = conn.execute(
                    select(settings.c.value).where(settings.c.key == "vault_id")
                ).first()
                if existing is not None:
                    raise ConfigError("the catalogue database already belongs to another vault")
                conn.execute(insert(settings).values(key="vault_id", value=vault.id))
                conn.execute(
                    insert(settings).values(key="schema_version", value=str(SCHEMA_VERSION))
                )
                _audit.append(
                    conn,
                    vault._audit_key,
                    actor=owner,
                    action="init",
                    outcome="ok",
                    detail={
                        "db": vault.engine.dialect.name,
                        "blobs": "local" if vault.blobs.local else "remote",
                    },
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"could not create the catalogue: {type(exc).__name__}") from exc
        tmp = root / (CONFIG_NAME + ".tmp")
        tmp.write_text(json.dumps(config, indent=2) + "\n")
        os.replace(tmp, root / CONFIG_NAME)
        return vault

    @classmethod
    def open(cls, root: str | os.PathLike[str], *, keyring: KeyRing) -> Vault:
        root = Path(root)
        path = root / CONFIG_NAME
        if not path.is_file():
            raise ConfigError(f"no vault at {root} (run `medseal vault init {root}`)")
        try:
            config = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"vault settings at {path} are unreadable: {exc}") from None
        if config.get("format") != "medseal-vault":
            raise ConfigError(f"{path} is not a medseal vault")
        vault = cls(root, config, keyring)
        with vault.engine.connect() as conn:
            try:
                row = conn.execute(
                    select(settings.c.value).where(settings.c.key == "vault_id")
                ).first()
            except SQLAlchemyError as exc:
                raise StorageError(f"catalogue unreadable: {type(exc).__name__}") from exc
        if row is None or row.value != vault.id:
            raise ConfigError("the catalogue database does not belong to this vault")
        return vault

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Vault(root={str(self.root)!r}, id={self.id!r}, db={self.engine.dialect.name})"

    def _db_url(self) -> str:
        url = str(self.config["db"])
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url[len("sqlite:///") :]
            if rel and not os.path.isabs(rel):
                return f"sqlite:///{(self.root / rel).resolve()}"
        return url

    def _blob_url(self) -> str:
        url = str(self.config["blobs"])
        if "://" in url or os.path.isabs(url):
            return url
        return str((self.root / url).resolve())

    @property
    def deidentifier(self) -> Deidentifier:
        """The vault's de-identifier: keyed per vault, so UIDs and dates map consistently."""
        if self._deidentifier is None:
            self._deidentifier = Deidentifier(self.keyring.derive(f"deid/{self.id}"))
        return self._deidentifier

    # ------------------------------------------------------------------ policy
    def _grants(self, conn: Connection) -> list[Grant]:
        return [
            Grant(r.principal, Role(r.role), r.dataset)
            for r in conn.execute(select(grants.c.principal, grants.c.role, grants.c.dataset))
        ]

    def _authorize(
        self,
        as_: str,
        action: Action,
        dataset: str | None = None,
        target: str | None = None,
        *,
        hide: bool = True,
    ) -> None:
        validate_name(as_, "principal")
        with self.engine.connect() as conn:
            decision = decide(as_, self._grants(conn), action, dataset, owner=self.owner)
        if decision.allowed:
            return
        self._record(
            as_,
            action.value,
            "denied",
            dataset=dataset,
            target=target,
            detail={"reason": decision.reason},
        )
        if hide and target is not None and not decision.visible:
            raise NotFoundError(f"no object {target}")
        raise AccessDenied(f"{as_} may not {action.value}: {decision.reason}")

    def _record(
        self,
        actor: str,
        action: str,
        outcome: str,
        *,
        dataset: str | None = None,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> None:
        if conn is not None:
            _audit.append(
                conn,
                self._audit_key,
                actor=actor,
                action=action,
                outcome=outcome,
                dataset=dataset,
                target=target,
                detail=detail,
            )
            return
        with self.engine.begin() as c:
            _audit.append(
                c,
                self._audit_key,
                actor=actor,
                action=action,
                outcome=outcome,
                dataset=dataset,
                target=target,
                detail=detail,
            )

    # ------------------------------------------------------------------ writing
    def put(
        self,
        image: Image,
        *,
        dataset: str,
        as_: str,
        name: str | None = None,
        label: int | None = None,
        patient: str | None = None,
        split: str | None = None,
        lossless: bool = True,
        ratio: float | None = None,
        psnr: float | None = None,
        algorithm: Algorithm | str = Algorithm.AES_256_GCM,
    ) -> ObjectRef:
        """Encode, seal and store one image; returns its reference.

        The image should already be de-identified (use :meth:`ingest`, or
        :func:`medseal.read_dicom` with ``deidentifier=vault.deidentifier``).
        """
        validate_name(dataset, "dataset")
        self._authorize(as_, Action.PUT, dataset)
        return self._store(
            image,
            dataset=dataset,
            as_=as_,
            kind="image",
            name=name,
            label=label,
            patient=patient,
            split=split,
            lossless=lossless,
            ratio=ratio,
            psnr=psnr,
            algorithm=algorithm,
        )

    def put_masked(
        self,
        parent_id: str,
        pixels: np.ndarray,
        *,
        scheme: Mapping[str, Any],
        as_: str,
    ) -> ObjectRef:
        """Store a keyed masked copy of object ``parent_id`` (owner and clinicians).

        ``scheme`` is the masking scheme's ``describe()`` (never the key). The
        masked pixels are sealed at rest like any object; analysts may read
        them back with :meth:`get_masked`.
        """
        parent = self._lookup(parent_id, as_, Action.PUT_DERIVED)
        if parent.kind != "image":
            raise InputError("only original images can be masked")
        if "key" in scheme:
            raise InputError("the scheme description must not carry key material")
        src = parent.manifest
        image = Image(
            pixels=np.ascontiguousarray(pixels),
            photometric="MONOCHROME2" if np.asarray(pixels).ndim == 2 else src["photometric"],
            bits_stored=int(src["bits_stored"]),
            frames=int(src.get("frames", 1)),
            source="masked",
            meta={"scheme": _jsonable(dict(scheme)), "parent": parent_id},
        )
        return self._store(
            image,
            dataset=parent.dataset,
            as_=as_,
            kind="masked",
            name=parent.name,
            label=parent.label,
            patient=parent.patient,
            split=parent.split,
            parent_id=parent_id,
        )

    def get_masked(self, object_id: str, *, as_: str) -> np.ndarray:
        """The masked pixels of a ``masked`` object (analysts included)."""
        info = self._lookup(object_id, as_, Action.GET_MASKED)
        if info.kind != "masked":
            self._record(
                as_,
                "get-masked",
                "denied",
                dataset=info.dataset,
                target=object_id,
                detail={"reason": "not a masked object"},
            )
            raise AccessDenied(f"object {object_id} is not a masked representation")
        payload = self._open_payload(info, self.blobs.get(f"objects/{object_id[:2]}/{object_id}"))
        enc, _ = codec.unpack(payload)
        pixels = codec.decode(enc)
        self._record(as_, "get-masked", "ok", dataset=info.dataset, target=object_id)
        return pixels

    def _store(
        self,
        image: Image,
        *,
        dataset: str,
        as_: str,
        kind: str,
        name: str | None = None,
        label: int | None = None,
        patient: str | None = None,
        split: str | None = None,
        parent_id: str | None = None,
        lossless: bool = True,
        ratio: float | None = None,
        psnr: float | None = None,
        algorithm: Algorithm | str = Algorithm.AES_256_GCM,
    ) -> ObjectRef:
        enc = codec.encode(image, lossless=lossless, ratio=ratio, psnr=psnr)
        crashpoint("put:encoded")
        payload = codec.pack(enc, image.header)
        object_id = uuid.uuid4().hex
        meta = _jsonable(dict(image.meta))
        manifest = {
            "format": 1,
            "id": object_id,
            "dataset": dataset,
            "kind": kind,
            "parent_id": parent_id,
            "source": image.source,
            "codec": enc.codec,
            "lossless": enc.lossless,
            "codec_params": _jsonable(dict(enc.params)),
            "shape": list(enc.shape),
            "dtype": enc.dtype,
            "bits_stored": enc.bits_stored,
            "photometric": enc.photometric,
            "frames": image.frames,
            "meta": meta,
            "deid": image.deid.manifest() if image.deid is not None else None,
        }
        manifest_bytes = _canonical(manifest)
        manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
        sealed = seal(
            payload,
            keyring=self.keyring,
            associated_data=_object_aad(object_id, manifest_sha),
            algorithm=algorithm,
        )
        crashpoint("put:sealed")
        blob_key = f"objects/{object_id[:2]}/{object_id}"
        self.blobs.put(blob_key, sealed.data)
        try:
            with self.engine.begin() as conn:
                wk = sealed.wrapped_key
                conn.execute(
                    insert(data_keys).values(key_id=wk.key_id, kek_id=wk.kek_id, wrapped=wk.wrapped)
                )
                conn.execute(
                    insert(objects).values(
                        id=object_id,
                        dataset=dataset,
                        kind=kind,
                        name=name,
                        label=None if label is None else int(label),
                        patient=patient,
                        split=split,
                        parent_id=parent_id,
                        manifest=manifest_bytes.decode(),
                        manifest_sha256=manifest_sha,
                        blob_key=blob_key,
                        blob_sha256=hashlib.sha256(sealed.data).hexdigest(),
                        blob_size=len(sealed.data),
                        payload_size=len(payload),
                        algorithm=str(Algorithm(algorithm).value),
                        key_id=wk.key_id,
                        created_at=datetime.now(UTC),
                        created_by=as_,
                    )
                )
                if image.deid is not None and image.deid.pseudonyms:
                    self._merge_pseudonyms(conn, image.deid.pseudonyms)
                self._record(
                    as_,
                    "put",
                    "ok",
                    dataset=dataset,
                    target=object_id,
                    detail={"bytes": len(sealed.data)},
                    conn=conn,
                )
                crashpoint("put:row-inserted")
        except SQLAlchemyError as exc:
            self.blobs.delete(blob_key)
            raise StorageError(
                f"could not record the object: {type(exc).__name__}; nothing was stored"
            ) from exc
        crashpoint("put:committed")
        return ObjectRef(object_id, dataset, kind)

    def _merge_pseudonyms(self, conn: Connection, new: Mapping[str, str]) -> None:
        current = self._read_pseudonyms(conn)
        if all(current.get(k) == v for k, v in new.items()):
            return
        current.update(new)
        aad = b"medseal-pseudonyms-v1\x00" + self.id.encode()
        sealed = seal(_canonical(current), keyring=self.keyring, associated_data=aad)
        row = {"data": sealed.data, "wrapped_key": json.dumps(sealed.wrapped_key.to_json())}
        exists = conn.execute(
            select(sealed_records.c.name).where(sealed_records.c.name == _PSEUDONYMS)
        ).first()
        if exists:
            conn.execute(
                update(sealed_records).where(sealed_records.c.name == _PSEUDONYMS).values(**row)
            )
        else:
            conn.execute(insert(sealed_records).values(name=_PSEUDONYMS, **row))

    def _read_pseudonyms(self, conn: Connection) -> dict[str, str]:
        row = conn.execute(
            select(sealed_records).where(sealed_records.c.name == _PSEUDONYMS)
        ).first()
        if row is None:
            return {}
        wk = WrappedKey.from_json(json.loads(row.wrapped_key))
        aad = b"medseal-pseudonyms-v1\x00" + self.id.encode()
        return dict(
            json.loads(unseal(bytes(row.data), wk, keyring=self.keyring, associated_data=aad))
        )

    def pseudonyms(self, *, as_: str) -> dict[str, str]:
        """The original-identifier -> pseudonym map (PHI: owner only, audited)."""
        self._authorize(as_, Action.ROTATE)  # owner-level action
        with self.engine.begin() as conn:
            result = self._read_pseudonyms(conn)
            self._record(as_, "read-pseudonyms", "ok", detail={"entries": len(result)}, conn=conn)
        return result

    def ingest(
        self,
        source: str | os.PathLike[str] | Iterable[Record],
        *,
        dataset: str,
        as_: str,
        deidentify: bool = True,
        allow_burned_in: bool = False,
        lossless: bool = True,
        ratio: float | None = None,
        algorithm: Algorithm | str = Algorithm.AES_256_GCM,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> IngestReport:
        """Read files/folders (DICOM, PNG/JPEG, MedMNIST .npz) or records, de-identify, store.

        A file that cannot be read is reported in ``failures`` and skipped;
        everything else is still stored.
        """
        validate_name(dataset, "dataset")
        self._authorize(as_, Action.PUT, dataset)
        if isinstance(source, (str, os.PathLike)):
            records: Iterable[Record] = load_path(
                source,
                deidentifier=self.deidentifier if deidentify else None,
                allow_burned_in=allow_burned_in,
            )
            if not deidentify:
                log.warning("ingesting without de-identification")
        else:
            records = source
        report = IngestReport()
        seq: list[Record] = list(records) if not isinstance(records, list) else records
        total = len(seq)
        for i, record in enumerate(seq):
            try:
                image = record.image()
                patient = record.patient_id
                name: str | None = record.key
                if image.header is not None:
                    # Folder and file names of DICOM trees often carry patient ids: name
                    # DICOM objects by their (de-identified) SOP Instance UID instead.
                    patient = str(getattr(image.header, "PatientID", "") or "") or None
                    name = str(getattr(image.header, "SOPInstanceUID", "") or "") or None
                ref = self.put(
                    image,
                    dataset=dataset,
                    as_=as_,
                    name=name,
                    label=record.label,
                    patient=patient,
                    split=record.split,
                    lossless=lossless,
                    ratio=ratio,
                    algorithm=algorithm,
                )
                report.refs.append(ref)
                report.keys.append(str(record.key))
                report.bytes_in += int(image.pixels.nbytes)
            except (StorageError, AccessDenied):
                raise
            except MedsealError as exc:
                report.failures.append((Path(str(record.key)).name, str(exc)))
                log.warning("skipped %s: %s", Path(str(record.key)).name, exc)
            if progress is not None:
                progress(i + 1, total)
        return report

    # ------------------------------------------------------------------ reading
    def _row(self, conn: Connection, object_id: str) -> Any:
        return conn.execute(select(objects).where(objects.c.id == object_id)).first()

    def _info(self, row: Any) -> ObjectInfo:
        return ObjectInfo(
            id=row.id,
            dataset=row.dataset,
            kind=row.kind,
            name=row.name,
            label=row.label,
            patient=row.patient,
            split=row.split,
            parent_id=row.parent_id,
            created_at=row.created_at,
            created_by=row.created_by,
            blob_size=int(row.blob_size),
            payload_size=int(row.payload_size),
            algorithm=row.algorithm,
            manifest=json.loads(row.manifest),
        )

    def _lookup(self, object_id: str, as_: str, action: Action) -> ObjectInfo:
        check_id(object_id)
        validate_name(as_, "principal")
        with self.engine.connect() as conn:
            row = self._row(conn, object_id)
        if row is None:
            self._record(as_, action.value, "not-found", target=object_id)
            raise NotFoundError(f"no object {object_id}")
        self._authorize(as_, action, row.dataset, object_id)
        return self._info(row)

    def show(self, object_id: str, *, as_: str) -> ObjectInfo:
        info = self._lookup(object_id, as_, Action.SHOW)
        self._record(as_, "show", "ok", dataset=info.dataset, target=object_id)
        return info

    def ls(self, *, as_: str, dataset: str | None = None) -> list[ObjectInfo]:
        """Objects the principal may list (all datasets they hold a listing grant on)."""
        validate_name(as_, "principal")
        with self.engine.connect() as conn:
            all_grants = self._grants(conn)
            query = select(objects).order_by(objects.c.created_at, objects.c.id)
            if dataset is not None:
                query = query.where(objects.c.dataset == dataset)
            rows = list(conn.execute(query))
        allowed: dict[str, bool] = {}
        out = []
        for row in rows:
            if row.dataset not in allowed:
                allowed[row.dataset] = decide(
                    as_, all_grants, Action.LIST, row.dataset, owner=self.owner
                ).allowed
            if allowed[row.dataset]:
                out.append(self._info(row))
        if (
            dataset is not None
            and not decide(as_, all_grants, Action.LIST, dataset, owner=self.owner).allowed
        ):
            self._record(as_, "list", "denied", dataset=dataset)
            raise AccessDenied(f"{as_} may not list dataset {dataset}")
        self._record(as_, "list", "ok", dataset=dataset, detail={"count": len(out)})
        return out

    def _open_payload(self, info: ObjectInfo, blob: bytes) -> bytes:
        with self.engine.connect() as conn:
            row = self._row(conn, info.id)
            key_row = conn.execute(
                select(data_keys).where(data_keys.c.key_id == row.key_id)
            ).first()
        if key_row is None:
            raise IntegrityError(f"object {info.id}: its data key is missing from the catalogue")
        wk = WrappedKey(
            key_id=key_row.key_id, kek_id=key_row.kek_id, wrapped=bytes(key_row.wrapped)
        )
        if hashlib.sha256(blob).hexdigest() != row.blob_sha256:
            raise IntegrityError(f"object {info.id}: stored bytes do not match their hash")
        return unseal(
            blob,
            wk,
            keyring=self.keyring,
            associated_data=_object_aad(info.id, row.manifest_sha256),
        )

    def get(self, object_id: str, *, as_: str) -> Image:
        """The plaintext image (owner and clinicians only). Integrity is checked first."""
        info = self._lookup(object_id, as_, Action.GET_PLAINTEXT)
        try:
            payload = self._open_payload(
                info, self.blobs.get(f"objects/{object_id[:2]}/{object_id}")
            )
            enc, header = codec.unpack(payload)
            pixels = codec.decode(enc)
        except (DecryptionError, IntegrityError, NotFoundError) as exc:
            self._record(
                as_,
                "get-plaintext",
                "error",
                dataset=info.dataset,
                target=object_id,
                detail={"error": type(exc).__name__},
            )
            raise
        self._record(as_, "get-plaintext", "ok", dataset=info.dataset, target=object_id)
        m = info.manifest
        return Image(
            pixels=pixels,
            photometric=m["photometric"],
            bits_stored=int(m["bits_stored"]),
            frames=int(m.get("frames", 1)),
            source=m.get("source", "vault"),
            header=header,
            meta=dict(m.get("meta") or {}),
        )

    def get_encrypted(self, object_id: str, *, as_: str) -> bytes:
        """The sealed container bytes: an encrypted representation analysts may hold."""
        info = self._lookup(object_id, as_, Action.GET_ENCRYPTED)
        data = self.blobs.get(f"objects/{object_id[:2]}/{object_id}")
        self._record(as_, "get-encrypted", "ok", dataset=info.dataset, target=object_id)
        return data

    def export_dicom(self, object_id: str, path: str | os.PathLike[str], *, as_: str) -> Path:
        """Write the object as a standard DICOM file with its stored JPEG 2000 codestreams."""
        info = self._lookup(object_id, as_, Action.GET_PLAINTEXT)
        payload = self._open_payload(info, self.blobs.get(f"objects/{object_id[:2]}/{object_id}"))
        enc, header = codec.unpack(payload)
        out = codec.write_dicom(path, enc, header)
        self._record(as_, "export-dicom", "ok", dataset=info.dataset, target=object_id)
        return Path(out)

    # ------------------------------------------------------------------ integrity
    def verify(
        self,
        *,
        as_: str,
        deep: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> VerifyReport:
        """Re-check every object's stored bytes against the catalogue (and, with ``deep``, decrypt and decode)."""
        self._authorize(as_, Action.VERIFY)
        report = VerifyReport()
        with self.engine.connect() as conn:
            rows = list(conn.execute(select(objects).order_by(objects.c.id)))
            try:
                report.audit_entries = _audit.verify_chain(conn, self._audit_key)
            except MedsealError as exc:
                report.problems.append(str(exc))
        known = set()
        for i, row in enumerate(rows):
            known.add(row.blob_key)
            report.checked += 1
            try:
                blob = self.blobs.get(row.blob_key)
            except NotFoundError:
                report.problems.append(f"object {row.id}: blob missing")
                continue
            if (
                len(blob) != int(row.blob_size)
                or hashlib.sha256(blob).hexdigest() != row.blob_sha256
            ):
                report.problems.append(f"object {row.id}: stored bytes do not match their hash")
                continue
            if hashlib.sha256(row.manifest.encode()).hexdigest() != row.manifest_sha256:
                report.problems.append(f"object {row.id}: manifest does not match its hash")
                continue
            if deep:
                try:
                    enc, _ = codec.unpack(self._open_payload(self._info(row), blob))
                    codec.decode(enc)
                except MedsealError as exc:
                    report.problems.append(f"object {row.id}: {type(exc).__name__}: {exc}")
            if progress is not None:
                progress(i + 1, len(rows))
        report.orphan_blobs = [k for k in self.blobs.keys("objects") if k not in known]
        report.temporary_files = self.blobs.temporary_files()
        self._record(
            as_,
            "verify",
            "ok" if report.ok else "problems",
            detail={
                "checked": report.checked,
                "problems": len(report.problems),
                "orphans": len(report.orphan_blobs),
            },
        )
        return report

    def collect_garbage(self, *, as_: str) -> int:
        """Remove blobs that no catalogue row references (left by interrupted puts)."""
        self._authorize(as_, Action.VERIFY)
        with self.engine.connect() as conn:
            known = {r.blob_key for r in conn.execute(select(objects.c.blob_key))}
        removed = 0
        for key in list(self.blobs.keys("objects")):
            if key not in known:
                self.blobs.delete(key)
                removed += 1
        removed += self.blobs.remove_temporary_files()
        self._record(as_, "gc", "ok", detail={"removed": removed})
        return removed

    # ------------------------------------------------------------------ principals
    def grant(
        self, principal: str, role: Role | str, *, dataset: str = ALL_DATASETS, as_: str
    ) -> Grant:
        validate_name(principal, "principal")
        role = Role(role)
        if dataset != ALL_DATASETS:
            validate_name(dataset, "dataset")
        if role is Role.AUDITOR:
            dataset = ALL_DATASETS
        self._authorize(as_, Action.GRANT)
        with self.engine.begin() as conn:
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
                        created_by=as_,
                    )
                )
            self._record(
                as_,
                "grant",
                "ok",
                dataset=None if dataset == ALL_DATASETS else dataset,
                target=principal,
                detail={"role": role.value, "dataset": dataset},
                conn=conn,
            )
        return Grant(principal, role, dataset)

    def revoke(
        self,
        principal: str,
        role: Role | str | None = None,
        *,
        dataset: str | None = None,
        as_: str,
    ) -> int:
        validate_name(principal, "principal")
        self._authorize(as_, Action.GRANT)
        cond = grants.c.principal == principal
        if role is not None:
            cond = cond & (grants.c.role == Role(role).value)
        if dataset is not None:
            cond = cond & (grants.c.dataset == dataset)
        with self.engine.begin() as conn:
            n = conn.execute(delete(grants).where(cond)).rowcount
            self._record(
                as_,
                "revoke",
                "ok",
                target=principal,
                detail={
                    "role": None if role is None else Role(role).value,
                    "dataset": dataset,
                    "removed": n,
                },
                conn=conn,
            )
        return int(n)

    def list_grants(self, *, as_: str) -> list[Grant]:
        self._authorize(as_, Action.GRANT)
        with self.engine.connect() as conn:
            return self._grants(conn)

    # ------------------------------------------------------------------ audit
    def audit_log(self, *, as_: str, limit: int | None = None) -> list[_audit.AuditEntry]:
        self._authorize(as_, Action.AUDIT)
        with self.engine.begin() as conn:
            result = _audit.entries(conn, limit=limit)
            self._record(as_, "audit-read", "ok", detail={"entries": len(result)}, conn=conn)
        return result

    def verify_audit(self, *, as_: str) -> int:
        """Verify the audit chain; returns its length or raises AuditChainError."""
        self._authorize(as_, Action.AUDIT)
        with self.engine.connect() as conn:
            count = _audit.verify_chain(conn, self._audit_key)
        self._record(as_, "audit-verify", "ok", detail={"entries": count})
        return count

    # ------------------------------------------------------------------ keys
    def rotate_keys(self, *, as_: str, rotate_ring: bool = True) -> RotationReport:
        """Make a new key-encryption key current and re-wrap every data key with it.

        Sealed blobs are not touched: only the small wrapped keys in the
        catalogue change. The old KEK stays in the ring, so a crash between the
        two steps leaves every object readable.
        """
        self._authorize(as_, Action.ROTATE)
        old = self.keyring.current_kek_id
        new = self.keyring.rotate() if rotate_ring else old
        n = 0
        with self.engine.begin() as conn:
            for row in list(conn.execute(select(data_keys))):
                if row.kek_id == new:
                    continue
                wk = WrappedKey(key_id=row.key_id, kek_id=row.kek_id, wrapped=bytes(row.wrapped))
                fresh = self.keyring.rewrap(wk)
                conn.execute(
                    update(data_keys)
                    .where(data_keys.c.key_id == row.key_id)
                    .values(kek_id=fresh.kek_id, wrapped=fresh.wrapped)
                )
                n += 1
            self._record(
                as_,
                "rotate",
                "ok",
                detail={"old_kek": old, "new_kek": new, "rewrapped": n},
                conn=conn,
            )
        return RotationReport(old, new, n)

    # ------------------------------------------------------------------ misc
    def stats(self) -> dict[str, int]:
        """Counts and byte totals over the whole catalogue (no access check: numbers only)."""
        with self.engine.connect() as conn:
            rows = list(conn.execute(select(objects.c.blob_size, objects.c.payload_size)))
        return {
            "objects": len(rows),
            "blob_bytes": sum(int(r.blob_size) for r in rows),
            "payload_bytes": sum(int(r.payload_size) for r in rows),
        }

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn
