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

This class is the facade; the work is split: :mod:`~medseal.vault._catalog_repo`
owns every SQL statement (the audit chain's own in :mod:`~medseal.vault.audit`),
:mod:`~medseal.vault.manifest` the manifest, associated data, blob key and row MAC,
:mod:`~medseal.vault._objects` sealing, recording and opening one object,
:mod:`~medseal.vault.pseudonyms` the sealed pseudonym map,
:mod:`~medseal.vault.maintenance` verify, gc and key rotation (under the vault lock),
:mod:`~medseal.vault._trail` and :mod:`~medseal.vault.anchor` the audit trail and its
anchor, :mod:`~medseal.vault._ingest` the re-runnable ingest loop and
:mod:`~medseal.vault._config` ``vault.json``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medseal.crypto import Algorithm, KeyRing
from medseal.errors import (
    AccessDenied,
    ConfigError,
    DecryptionError,
    InputError,
    IntegrityError,
    NotFoundError,
    StorageError,
)
from medseal.types import Image, ObjectRef
from medseal.vault import _derived, _objects
from medseal.vault import audit as _audit
from medseal.vault import maintenance as _maint
from medseal.vault import pseudonyms as _pseudonyms
from medseal.vault._catalog_repo import Catalog, ObjectInfo
from medseal.vault._config import (
    CONFIG_NAME,
    anchor_path,
    blob_options,
    blob_url,
    db_url,
    new_config,
    read_config,
    write_config,
)
from medseal.vault._derived import PLAINTEXT_KINDS, DerivedKind
from medseal.vault._ingest import DEFAULT_BATCH, IngestReport, ingest_records
from medseal.vault._trail import AuditTrail
from medseal.vault.anchor import AuditAnchor
from medseal.vault.blobs import BlobStore
from medseal.vault.catalog import SCHEMA_VERSION
from medseal.vault.maintenance import GC_GRACE_S, RotationReport, VerifyReport
from medseal.vault.manifest import blob_key, check_id
from medseal.vault.policy import ALL_DATASETS, Action, Grant, Role, decide, validate_name

if TYPE_CHECKING:  # pragma: no cover - imported when first used: `vault get` never reads files
    from medseal.ingest import Deidentifier, Record

if TYPE_CHECKING:  # pragma: no cover
    from medseal import codec
else:  # imported on first use (see medseal.vault._lazy)
    from medseal.vault._lazy import codec

__all__ = [
    "IngestReport", "ObjectInfo", "ObjectListing", "PutItem", "RotationReport", "Vault", "VerifyReport", "check_id",
]  # fmt: skip

log = logging.getLogger(__name__)

_THREADED_READ_BYTES = 1 << 20  # batched reads decode in threads from this many sealed bytes


@dataclass(frozen=True)
class ObjectListing:
    """The result of :meth:`Vault.iter_ls`: how many objects were in scope, and the pages."""

    total: int
    items: Iterator[ObjectInfo]

    def __iter__(self) -> Iterator[ObjectInfo]:
        return self.items


@dataclass(frozen=True)
class PutItem:
    """One image for :meth:`Vault.put_many` with its catalogue fields."""

    image: Image
    name: str | None = None
    label: int | None = None
    patient: str | None = None
    split: str | None = None


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
        self.catalog = Catalog(db_url(root, self.config))
        self.engine = self.catalog.engine
        self.blobs = BlobStore(blob_url(root, self.config), blob_options(self.config))
        self._audit_key = keyring.derive(f"audit/{self.id}")
        self._row_key = keyring.derive(f"object-rows/{self.id}")
        self.anchor = AuditAnchor(
            anchor_path(root, self.config), keyring.derive(f"audit-anchor/{self.id}"), self.id
        )
        self.trail = AuditTrail(self.catalog, self._audit_key, self.anchor)
        self._record = self.trail.record
        self._tx = self.trail.tx
        self._check_audit = self.trail.check
        self._deidentifier: Deidentifier | None = None
        self._parent_cache: tuple[str, np.ndarray] | None = None  # put_masked's identity check

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
        audit_anchor: str | os.PathLike[str] | None = None,
    ) -> Vault:
        """Create a new vault at ``root`` owned by ``owner``.

        ``audit_anchor`` is where the audit anchor file goes (default
        ``<root>/audit-anchor.json``); put it where a database writer cannot
        reach it to detect a catalogue restored from an older copy.
        """
        validate_name(owner, "principal")
        root = Path(root)
        if (root / CONFIG_NAME).exists():
            raise ConfigError(f"a vault already exists at {root}")
        config = new_config(
            owner=owner, keyring_id=keyring.id, db=db, blobs=blobs, storage_options=storage_options,
            audit_anchor=None if audit_anchor is None else str(audit_anchor),
        )  # fmt: skip
        root.mkdir(parents=True, exist_ok=True)
        vault = cls(root, config, keyring)
        try:
            vault.catalog.create_schema()
        except Exception as exc:
            raise StorageError(f"could not create the catalogue: {type(exc).__name__}") from exc
        with vault._tx("create the catalogue") as conn:
            if Catalog.setting(conn, "vault_id") is not None:
                raise ConfigError("the catalogue database already belongs to another vault")
            Catalog.set_setting(conn, "vault_id", vault.id)
            Catalog.set_setting(conn, "schema_version", str(SCHEMA_VERSION))
            Catalog.set_setting(conn, "active_kek", keyring.current_kek_id)
            where = {"db": vault.catalog.dialect, "blobs": "local" if vault.blobs.local else "remote"}
            vault._record(owner, "init", "ok", detail=where, conn=conn)
        write_config(root, config)
        return vault

    @classmethod
    def open(cls, root: str | os.PathLike[str], *, keyring: KeyRing) -> Vault:
        root = Path(root)
        config = read_config(root)
        vault = cls(root, config, keyring)
        with vault.catalog.connect("open the catalogue") as conn:
            vault_id = Catalog.setting(conn, "vault_id")
            schema = Catalog.setting(conn, "schema_version")
        if vault_id != vault.id:
            raise ConfigError("the catalogue database does not belong to this vault")
        if schema != str(SCHEMA_VERSION):
            raise ConfigError(
                f"this catalogue has schema {schema}, written by an older medseal; this version "
                f"reads schema {SCHEMA_VERSION} only: create a new vault and ingest again"
            )
        return vault

    def close(self) -> None:
        self.catalog.dispose()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Vault(root={str(self.root)!r}, id={self.id!r}, db={self.catalog.dialect})"

    @property
    def deidentifier(self) -> Deidentifier:
        """The vault's de-identifier: keyed per vault, so UIDs and dates map consistently."""
        if self._deidentifier is None:
            from medseal.ingest import Deidentifier

            self._deidentifier = Deidentifier(self.keyring.derive(f"deid/{self.id}"))
        return self._deidentifier

    # ------------------------------------------------------------------ policy and audit
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
        with self.catalog.connect() as conn:
            decision = decide(as_, Catalog.grants(conn), action, dataset, owner=self.owner)
        if decision.allowed:
            return
        self._record(
            as_, action.value, "denied", dataset=dataset, target=target,
            detail={"reason": decision.reason},
        )  # fmt: skip
        if hide and target is not None and not decision.visible:
            raise NotFoundError(f"no object {target}")
        raise AccessDenied(f"{as_} may not {action.value}: {decision.reason}")

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
            image, dataset=dataset, as_=as_, kind="image", name=name, label=label,
            patient=patient, split=split, lossless=lossless, ratio=ratio, psnr=psnr,
            algorithm=algorithm,
        )  # fmt: skip

    def put_many(
        self,
        items: Iterable[Image | PutItem],
        *,
        dataset: str,
        as_: str,
        lossless: bool = True,
        ratio: float | None = None,
        algorithm: Algorithm | str = Algorithm.AES_256_GCM,
        batch_size: int = DEFAULT_BATCH,
    ) -> list[ObjectRef]:
        """Store many images with group commit; returns their references in order.

        Authorised once. Every ``batch_size`` images are sealed, their blobs
        made durable with one sync, and their rows, wrapped keys and chained
        audit entries committed in one transaction: when this returns (or a
        batch's commit returns) those objects are durable. If an image fails
        to encode, or a commit fails, the error is raised; batches committed
        before it stay stored, nothing of the failing batch is.
        """
        validate_name(dataset, "dataset")
        if batch_size < 1:
            raise InputError("batch_size must be at least 1")
        self._authorize(as_, Action.PUT, dataset)
        refs: list[ObjectRef] = []
        batch: list[_objects.Prepared] = []
        for item in items:
            put = item if isinstance(item, PutItem) else PutItem(item)
            batch.append(
                _objects.prepare(
                    self, put.image, dataset=dataset, as_=as_, kind="image", name=put.name,
                    label=put.label, patient=put.patient, split=put.split, lossless=lossless,
                    ratio=ratio, algorithm=algorithm,
                )  # fmt: skip
            )
            if len(batch) >= batch_size:
                _objects.commit(self, batch, as_)
                refs.extend(p.ref for p in batch)
                batch = []
        _objects.commit(self, batch, as_)
        refs.extend(p.ref for p in batch)
        return refs

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
        _derived.refuse_key_material(scheme, "scheme description")
        image = _objects.masked_image(self, parent, pixels, scheme, as_)
        return self._store(
            image, dataset=parent.dataset, as_=as_, kind="masked", name=parent.name,
            label=parent.label, patient=parent.patient, split=parent.split, parent_id=parent_id,
        )  # fmt: skip

    def put_derived(
        self,
        parent_id: str,
        payload: bytes,
        *,
        kind: DerivedKind | str,
        describe: Mapping[str, Any],
        as_: str,
    ) -> ObjectRef:
        """Store an opaque derived representation of image ``parent_id`` (owner and clinicians).

        ``payload`` (a CKKS ciphertext batch, say) is sealed at rest like any
        object and never decoded by the vault; ``describe`` is its public
        description, kept in the manifest (a field naming key material, or
        raw bytes, is refused). The object has the parent's dataset, label,
        patient and split; analysts may read it back with :meth:`get_derived`.
        """
        the_kind = DerivedKind(kind)
        _derived.refuse_key_material(describe, "description")
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise InputError("a derived payload must be bytes")
        parent = self._lookup(parent_id, as_, Action.PUT_DERIVED)
        self._require_kind(parent, {"image"}, as_, "put-derived")
        prepared = _derived.prepare_derived(
            self, parent, bytes(payload), kind=the_kind, describe=describe, as_=as_
        )
        _objects.commit(self, [prepared], as_)
        return prepared.ref

    def get_derived(
        self, object_id: str, *, as_: str, kind: DerivedKind | str | None = None
    ) -> bytes:
        """The payload of a derived object (analysts included: it is meant for them).

        ``kind``, when given, is the kind expected; any other object (an image,
        a masked copy, a derived object of another kind) is refused.
        """
        wanted = {k.value for k in DerivedKind} if kind is None else {DerivedKind(kind).value}
        info = self._lookup(object_id, as_, Action.GET_DERIVED)
        self._require_kind(info, wanted, as_, "get-derived")
        payload = self._open(info, as_, "get-derived")
        self.trail.release(as_, "get-derived", info.dataset, info.id)
        return payload

    def _require_kind(self, info: ObjectInfo, kinds: frozenset[str] | set[str], as_: str, action: str) -> None:
        """Refuse (and audit) an object whose kind is not one of ``kinds``."""
        if info.kind in kinds:
            return
        expected = " or ".join(sorted(kinds))
        self._record(
            as_, action, "denied", dataset=info.dataset, target=info.id,
            detail={"reason": f"kind {info.kind} is not {expected}"},
        )  # fmt: skip
        raise InputError(f"object {info.id} is a {info.kind} object, not {expected}")

    def _store(self, image: Image, **kwargs: Any) -> ObjectRef:
        return _objects.store(self, image, **kwargs)

    def _info(self, row: Any) -> ObjectInfo:
        return _objects.info(self, row)

    def _open_payload(self, info: ObjectInfo, blob: bytes) -> bytes:
        return _objects.open_payload(self, info, blob)

    def pseudonyms(self, *, as_: str) -> dict[str, str]:
        """The original-identifier -> pseudonym map (PHI: owner only, audited)."""
        self._authorize(as_, Action.READ_PSEUDONYMS)
        try:  # read and audited in one transaction: no map unless the entry commits
            with self._tx("record the pseudonym read in the audit log") as conn:
                result = _pseudonyms.read(conn, self.keyring, self.id)
                self._record(
                    as_, "read-pseudonyms", "ok", detail={"entries": len(result)}, conn=conn
                )
        except StorageError as exc:
            raise StorageError(f"{exc}; nothing was released") from exc
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
        force: bool = False,
        batch_size: int = DEFAULT_BATCH,
    ) -> IngestReport:
        """Read files/folders (DICOM, PNG/JPEG, MedMNIST .npz) or records, de-identify, store.

        A file that cannot be read is reported in ``failures`` and skipped;
        everything else is still stored. Images already stored in ``dataset``
        from the same source (an earlier, perhaps interrupted, run) are
        skipped and counted in ``skipped``; ``force`` stores them again.

        Objects are committed in groups (see :meth:`put_many`): the first group
        holds one object and each next one twice as many, up to ``batch_size``
        objects or 64 MiB of sealed bytes, so a short ingest still commits
        early and a long one pays one sync and one transaction per group.
        """
        validate_name(dataset, "dataset")
        self._authorize(as_, Action.PUT, dataset)
        if isinstance(source, (str, os.PathLike)):
            from medseal.ingest import load_path

            records: Iterable[Record] = load_path(
                source,
                deidentifier=self.deidentifier if deidentify else None,
                allow_burned_in=allow_burned_in,
            )
            if not deidentify:
                log.warning("ingesting without de-identification")
        else:
            records = source
        return ingest_records(
            self, records, dataset=dataset, as_=as_, lossless=lossless, ratio=ratio,
            algorithm=algorithm, progress=progress, force=force, batch_size=batch_size,
        )  # fmt: skip

    # ------------------------------------------------------------------ reading
    def _lookup(self, object_id: str, as_: str, action: Action) -> ObjectInfo:
        check_id(object_id)
        validate_name(as_, "principal")
        with self.catalog.connect() as conn:
            row = Catalog.object_row(conn, object_id)
        if row is None:
            self._record(as_, action.value, "not-found", target=object_id)
            raise NotFoundError(f"no object {object_id}")
        try:
            info = self._info(row)  # before the policy reads the dataset from the row
        except IntegrityError:
            self._record(as_, action.value, "tampered", target=object_id)
            raise
        self._authorize(as_, action, info.dataset, object_id)
        return info

    def show(self, object_id: str, *, as_: str) -> ObjectInfo:
        info = self._lookup(object_id, as_, Action.SHOW)
        self._record(as_, "show", "ok", dataset=info.dataset, target=object_id)
        return info

    def ls(self, *, as_: str, dataset: str | None = None) -> list[ObjectInfo]:
        """Objects the principal may list (all datasets they hold a listing grant on)."""
        validate_name(as_, "principal")
        with self.catalog.connect() as conn:
            all_grants = Catalog.grants(conn)
            rows = Catalog.object_rows(conn, dataset)
        allowed: dict[str, bool] = {}
        out = []
        for row in rows:
            if row.dataset not in allowed:
                allowed[row.dataset] = decide(
                    as_, all_grants, Action.LIST, row.dataset, owner=self.owner
                ).allowed
            if allowed[row.dataset]:
                try:
                    out.append(self._info(row))
                except IntegrityError as exc:  # a re-routed row is not listed; verify reports it
                    log.warning("%s", exc)
        if (
            dataset is not None
            and not decide(as_, all_grants, Action.LIST, dataset, owner=self.owner).allowed
        ):
            self._record(as_, "list", "denied", dataset=dataset)
            raise AccessDenied(f"{as_} may not list dataset {dataset}")
        self._record(as_, "list", "ok", dataset=dataset, detail={"count": len(out)})
        return out

    def iter_ls(
        self, *, as_: str, dataset: str | None = None, page_size: int = 1000
    ) -> ObjectListing:
        """Like :meth:`ls`, but pages through the catalogue instead of holding every row.

        The access decision and the audit entry (with the number of objects in
        scope) come first, when this is called; iterating the result then
        reads ``page_size`` rows per query, each checked against its row MAC
        (a re-routed row is skipped and logged, as :meth:`ls` does).
        """
        validate_name(as_, "principal")
        if page_size < 1:
            raise InputError("page_size must be at least 1")
        with self.catalog.connect() as conn:
            all_grants = Catalog.grants(conn)
            if dataset is not None:
                if not decide(as_, all_grants, Action.LIST, dataset, owner=self.owner).allowed:
                    allowed: list[str] | None = None
                else:
                    allowed = [dataset]
            else:
                allowed = [
                    d for d in Catalog.datasets(conn)
                    if decide(as_, all_grants, Action.LIST, d, owner=self.owner).allowed
                ]  # fmt: skip
            total = 0 if not allowed else Catalog.count_objects(conn, allowed)
        if allowed is None:
            self._record(as_, "list", "denied", dataset=dataset)
            raise AccessDenied(f"{as_} may not list dataset {dataset}")
        self._record(as_, "list", "ok", dataset=dataset, detail={"count": total, "paged": True})
        return ObjectListing(total, self._pages(allowed, page_size))

    def _pages(self, datasets: list[str], page_size: int) -> Iterator[ObjectInfo]:
        after: tuple[Any, str] | None = None
        while datasets:
            with self.catalog.connect() as conn:
                rows = Catalog.object_page(conn, datasets, after, page_size)
            for row in rows:
                try:
                    yield self._info(row)
                except IntegrityError as exc:  # a re-routed row is not listed; verify reports it
                    log.warning("%s", exc)
            if len(rows) < page_size:
                return
            after = (rows[-1].created_at, str(rows[-1].id))

    def _decode(
        self, info: ObjectInfo, as_: str, action: str, *, header: bool = True
    ) -> tuple[Any, Any]:
        return codec.unpack(self._open(info, as_, action), header=header)

    def _open(self, info: ObjectInfo, as_: str, action: str) -> bytes:
        """The object's decrypted payload; a failure is audited as an error and raised."""
        try:
            return self._open_payload(info, self.blobs.get(blob_key(info.id)))
        except (DecryptionError, IntegrityError, NotFoundError) as exc:
            self._record(
                as_, action, "error", dataset=info.dataset, target=info.id,
                detail={"error": type(exc).__name__},
            )  # fmt: skip
            raise

    def get(self, object_id: str, *, as_: str, header: bool = True) -> Image:
        """The plaintext image (owner and clinicians only). Integrity is checked first.

        ``header=False`` leaves the DICOM header out (``Image.header`` is ``None``):
        for callers that want the pixels only, it skips parsing it.
        """
        info = self._lookup(object_id, as_, Action.GET_PLAINTEXT)
        self._require_kind(info, PLAINTEXT_KINDS, as_, "get-plaintext")
        enc, dicom_header = self._decode(info, as_, "get-plaintext", header=header)
        pixels = codec.decode(enc)
        self.trail.release(as_, "get-plaintext", info.dataset, info.id)
        m = info.manifest
        return Image(
            pixels=pixels, photometric=m["photometric"], bits_stored=int(m["bits_stored"]),
            frames=int(m.get("frames", 1)), source=m.get("source", "vault"), header=dicom_header,
            meta=dict(m.get("meta") or {}),
        )  # fmt: skip

    def get_masked(self, object_id: str, *, as_: str) -> np.ndarray:
        """The masked pixels of a ``masked`` object (analysts included)."""
        info = self._lookup(object_id, as_, Action.GET_MASKED)
        if info.kind != "masked":
            self._record(
                as_, "get-masked", "denied", dataset=info.dataset, target=object_id,
                detail={"reason": "not a masked object"},
            )  # fmt: skip
            raise AccessDenied(f"object {object_id} is not a masked representation")
        enc, _ = self._decode(info, as_, "get-masked")
        pixels = codec.decode(enc)
        self.trail.release(as_, "get-masked", info.dataset, info.id)
        return pixels

    # ------------------------------------------------------------------ batched reads
    def get_many(self, object_ids: Sequence[str], *, as_: str) -> list[Image]:
        """The plaintext images of ``object_ids``, in order (owner and clinicians only).

        One joined catalogue query, the policy decided once per dataset, every
        row, hash and tag checked as :meth:`get` does, decryption and decoding
        spread over a few threads, and ONE audit entry naming every object,
        committed before anything is returned. Any failure releases nothing.
        """
        out = []
        for info, pixels, header in self._read_many(
            object_ids, as_, Action.GET_PLAINTEXT, "get-plaintext", kinds=PLAINTEXT_KINDS
        ):
            m = info.manifest
            out.append(
                Image(
                    pixels=pixels, photometric=m["photometric"],
                    bits_stored=int(m["bits_stored"]), frames=int(m.get("frames", 1)),
                    source=m.get("source", "vault"), header=header, meta=dict(m.get("meta") or {}),
                )  # fmt: skip
            )
        return out

    def get_masked_many(self, object_ids: Sequence[str], *, as_: str) -> list[np.ndarray]:
        """The masked pixels of ``masked`` objects, in order: :meth:`get_masked` for a batch,
        with one audit entry per batch (see :meth:`get_many`)."""
        return [
            pixels
            for _, pixels, _ in self._read_many(
                object_ids, as_, Action.GET_MASKED, "get-masked", kinds=frozenset({"masked"})
            )
        ]

    def iter_masked(
        self, *, dataset: str, as_: str, batch_size: int = 256
    ) -> Iterator[list[tuple[ObjectInfo, np.ndarray]]]:
        """The masked objects of ``dataset`` in batches of (info, pixels), one audit entry each."""
        if batch_size < 1:
            raise InputError("batch_size must be at least 1")
        infos = [i for i in self.ls(as_=as_, dataset=dataset) if i.kind == "masked"]
        for start in range(0, len(infos), batch_size):
            chunk = infos[start : start + batch_size]
            pixels = self.get_masked_many([i.id for i in chunk], as_=as_)
            yield list(zip(chunk, pixels, strict=True))

    def _read_many(
        self,
        object_ids: Sequence[str],
        as_: str,
        action: Action,
        audit_action: str,
        *,
        kinds: frozenset[str],
    ) -> list[tuple[ObjectInfo, np.ndarray, Any]]:
        ids = [check_id(i) for i in object_ids]
        validate_name(as_, "principal")
        if not ids:
            return []
        with self.catalog.connect() as conn:
            found = Catalog.object_rows_with_keys(conn, ids)
            all_grants = Catalog.grants(conn)
        missing = [i for i in ids if i not in found]
        if missing:
            self._record(
                as_, action.value, "not-found", target=missing[0], detail={"missing": len(missing)}
            )
            raise NotFoundError(f"no object {missing[0]}")
        infos: dict[str, ObjectInfo] = {}
        for oid, (row, _) in found.items():
            try:
                infos[oid] = self._info(row)  # before the policy reads the dataset from the row
            except IntegrityError:
                self._record(as_, action.value, "tampered", target=oid)
                raise
        decided: set[str] = set()
        for oid in ids:
            ds = infos[oid].dataset
            if ds in decided:
                continue
            decision = decide(as_, all_grants, action, ds, owner=self.owner)
            if not decision.allowed:
                self._record(
                    as_, action.value, "denied", dataset=ds, target=oid,
                    detail={"reason": decision.reason},
                )  # fmt: skip
                if not decision.visible:
                    raise NotFoundError(f"no object {oid}")
                raise AccessDenied(f"{as_} may not {action.value}: {decision.reason}")
            decided.add(ds)
        wrong = next((i for i in ids if infos[i].kind not in kinds), None)
        if wrong is not None:
            self._record(
                as_, audit_action, "denied", dataset=infos[wrong].dataset, target=wrong,
                detail={"reason": f"not a {' or '.join(sorted(kinds))} object"},
            )  # fmt: skip
            raise AccessDenied(f"object {wrong} is not a {' or '.join(sorted(kinds))} representation")

        def work(oid: str) -> tuple[ObjectInfo, np.ndarray, Any] | Exception:
            row, wk = found[oid]
            try:
                blob = self.blobs.get(blob_key(oid))
                payload = _objects.open_with_key(self, infos[oid], row, wk, blob)
                enc, header = codec.unpack(payload)
                return infos[oid], codec.decode(enc), header
            except (DecryptionError, IntegrityError, NotFoundError) as exc:
                return exc

        total = sum(infos[i].blob_size for i in ids)
        workers = min(4, os.cpu_count() or 1, len(ids))
        if workers > 1 and total >= _THREADED_READ_BYTES:
            with ThreadPoolExecutor(workers) as pool:
                results = list(pool.map(work, ids))
        else:
            results = [work(oid) for oid in ids]
        out: list[tuple[ObjectInfo, np.ndarray, Any]] = []
        for oid, r in zip(ids, results, strict=True):
            if isinstance(r, Exception):
                exc = r
                self._record(
                    as_, audit_action, "error", dataset=infos[oid].dataset, target=oid,
                    detail={"error": type(exc).__name__},
                )  # fmt: skip
                raise exc
            out.append(r)
        datasets = sorted({infos[i].dataset for i in ids})
        detail: dict[str, Any] = {"objects": ids, "count": len(ids)}
        if len(datasets) > 1:
            detail["datasets"] = datasets
        try:  # one entry for the batch, committed before anything is returned
            self._record(
                as_, audit_action, "ok", dataset=datasets[0] if len(datasets) == 1 else None,
                target=ids[0] if len(ids) == 1 else None, detail=detail,
            )  # fmt: skip
        except StorageError as exc:
            raise StorageError(f"{exc}; nothing was released") from exc
        return out

    def get_encrypted(self, object_id: str, *, as_: str) -> bytes:
        """The sealed container bytes: an encrypted representation analysts may hold."""
        info = self._lookup(object_id, as_, Action.GET_ENCRYPTED)
        data = self.blobs.get(blob_key(object_id))
        self.trail.release(as_, "get-encrypted", info.dataset, info.id)
        return data

    def export_dicom(self, object_id: str, path: str | os.PathLike[str], *, as_: str) -> Path:
        """Write the object as a standard DICOM file with its stored JPEG 2000 codestreams."""
        info = self._lookup(object_id, as_, Action.GET_PLAINTEXT)
        self._require_kind(info, PLAINTEXT_KINDS, as_, "export-dicom")
        enc, header = self._decode(info, as_, "export-dicom")
        self.trail.release(as_, "export-dicom", info.dataset, info.id)  # recorded first: no file unless audited
        out = codec.write_dicom(path, enc, header)
        return Path(out)

    # ------------------------------------------------------------------ maintenance
    def verify(
        self,
        *,
        as_: str,
        deep: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
        grace: float = GC_GRACE_S,
    ) -> VerifyReport:
        """Re-check every object, its row, the audit log and its anchor (``deep``: decrypt too).

        Blobs without a row count as orphans only once older than ``grace`` seconds.
        """
        self._authorize(as_, Action.VERIFY)
        report = _maint.verify(self, deep=deep, progress=progress, grace=grace)
        self._record(
            as_, "verify", "ok" if report.ok else "problems",
            detail={
                "checked": report.checked, "problems": len(report.problems),
                "orphans": len(report.orphan_blobs),
            },
        )  # fmt: skip
        return report

    def collect_garbage(self, *, as_: str, grace: float = GC_GRACE_S) -> int:
        """Remove blobs no row references and older than ``grace`` s, under the vault lock."""
        self._authorize(as_, Action.VERIFY)
        removed = _maint.collect_garbage(self, grace=grace)
        self._record(as_, "gc", "ok", detail={"removed": removed})
        return removed

    def rotate_keys(self, *, as_: str, rotate_ring: bool = True) -> RotationReport:
        """Make a new key-encryption key current and re-wrap every wrapped key with it.

        Data keys and the sealed pseudonym map move; sealed blobs are not
        touched. The old KEK stays in the ring, so a crash between the two
        steps leaves every object readable.
        """
        self._authorize(as_, Action.ROTATE)
        return _maint.rotate_keys(self, as_=as_, rotate_ring=rotate_ring)

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
        with self._tx("record the grant") as conn:
            Catalog.add_grant(conn, principal, role, dataset, as_)
            self._record(
                as_, "grant", "ok", dataset=None if dataset == ALL_DATASETS else dataset,
                target=principal, detail={"role": role.value, "dataset": dataset}, conn=conn,
            )  # fmt: skip
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
        the_role = None if role is None else Role(role)
        with self._tx("revoke the grant") as conn:
            n = Catalog.remove_grants(conn, principal, the_role, dataset)
            self._record(
                as_, "revoke", "ok", target=principal,
                detail={
                    "role": None if the_role is None else the_role.value,
                    "dataset": dataset, "removed": n,
                },
                conn=conn,
            )  # fmt: skip
        return n

    def list_grants(self, *, as_: str) -> list[Grant]:
        self._authorize(as_, Action.GRANT)
        with self.catalog.connect() as conn:
            return Catalog.grants(conn)

    # ------------------------------------------------------------------ audit
    def audit_log(self, *, as_: str, limit: int | None = None) -> list[_audit.AuditEntry]:
        self._authorize(as_, Action.AUDIT)
        with self._tx("read the audit log") as conn:
            result = _audit.entries(conn, limit=limit)
            self._record(as_, "audit-read", "ok", detail={"entries": len(result)}, conn=conn)
        return result

    def verify_audit(self, *, as_: str) -> int:
        """Verify the audit chain; returns its length or raises AuditChainError."""
        self._authorize(as_, Action.AUDIT)
        with self.catalog.connect("read the audit log") as conn:
            count = self._check_audit(conn)
        self._record(as_, "audit-verify", "ok", detail={"entries": count})
        return count

    # ------------------------------------------------------------------ misc
    def stats(self) -> dict[str, int]:
        """Counts and byte totals over the whole catalogue (no access check: numbers only)."""
        with self.catalog.connect() as conn:
            return Catalog.sizes(conn)
