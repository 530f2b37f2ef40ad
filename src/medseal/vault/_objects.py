"""Writing objects and opening one: encode, seal, commit in groups; find and open a payload."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from medseal.crypto import Algorithm, WrappedKey, seal, unseal
from medseal.errors import DecryptionError, InputError, IntegrityError, StorageError
from medseal.types import Image, ObjectRef
from medseal.vault import _faults
from medseal.vault import pseudonyms as _pseudonyms
from medseal.vault._catalog_repo import Catalog, ObjectInfo
from medseal.vault._config import codec_name, default_codec
from medseal.vault._db import Connection, as_datetime
from medseal.vault.manifest import (
    MIRRORED,
    blob_key,
    build_manifest,
    canonical,
    check_row,
    manifest_sha256,
    object_aad,
    row_mac,
)

if TYPE_CHECKING:  # pragma: no cover
    from medseal.vault.vault import Vault

if TYPE_CHECKING:  # pragma: no cover
    from medseal import codec as _codec
else:  # imported on first use (see medseal.vault._lazy)
    from medseal.vault._lazy import codec as _codec

__all__ = [
    "Encoding", "Prepared", "PutItem", "commit", "info", "open_payload", "open_with_key",
    "prepare", "put_many", "seal_payload",
]  # fmt: skip


@dataclass(frozen=True)
class PutItem:
    """One image for :meth:`Vault.put_many` with its catalogue fields."""

    image: Image
    name: str | None = None
    label: int | None = None
    patient: str | None = None
    split: str | None = None


@dataclass(frozen=True)
class Encoding:
    """How new objects are encoded and sealed: codec, lossless or not, cipher."""

    codec: str
    lossless: bool = True
    ratio: float | None = None
    psnr: float | None = None
    algorithm: Algorithm | str = Algorithm.AES_256_GCM

    @classmethod
    def of(cls, vault: Vault, codec: str | None, **options: Any) -> Encoding:
        """``codec`` checked against the registry (``None``: the vault's default codec);
        an unknown name fails here, before anything is read or written."""
        name = default_codec(vault.config) if codec is None else codec_name(codec)
        return cls(name, **options)


@dataclass
class Prepared:
    """One object encoded and sealed, ready for :func:`commit` (nothing stored yet)."""

    ref: ObjectRef
    key: str
    data: bytes | bytearray
    values: dict[str, Any]
    wrapped_key: WrappedKey
    pseudonyms: Mapping[str, str] | None
    action: str = "put"  # the audit entry's action


def prepare(
    vault: Vault,
    item: PutItem,
    *,
    dataset: str,
    as_: str,
    encoding: Encoding,
    kind: str = "image",
    parent_id: str | None = None,
    source_fp: str | None = None,
) -> Prepared:
    """Encode and seal ``item.image`` and build its catalogue row; nothing is written.

    The codec is recorded per object (container descriptor and manifest), so
    objects stored with another codec keep decoding.
    """
    image = item.image
    enc = _codec.encode(
        image, codec=encoding.codec, lossless=encoding.lossless, ratio=encoding.ratio,
        psnr=encoding.psnr,
    )  # fmt: skip
    _faults.crashpoint("put:encoded")
    payload = _codec.pack(enc, image.header)
    object_id = uuid.uuid4().hex
    manifest = build_manifest(
        object_id=object_id, dataset=dataset, kind=kind, parent_id=parent_id, name=item.name,
        label=None if item.label is None else int(item.label), patient=item.patient,
        split=item.split, source=image.source, codec=enc.codec, lossless=enc.lossless,
        codec_params=enc.params, shape=enc.shape, dtype=enc.dtype,
        bits_stored=enc.bits_stored, photometric=enc.photometric, frames=image.frames,
        meta=image.meta, deid=image.deid.manifest() if image.deid is not None else None,
    )  # fmt: skip
    pseudonyms = image.deid.pseudonyms if image.deid is not None else None
    return seal_payload(
        vault, payload, manifest, as_=as_, algorithm=encoding.algorithm, source_fp=source_fp,
        pseudonyms=pseudonyms,
    )  # fmt: skip


def put_many(
    vault: Vault,
    items: Iterable[Image | PutItem],
    *,
    dataset: str,
    as_: str,
    encoding: Encoding,
    batch_size: int,
) -> list[ObjectRef]:
    """Prepare and commit ``items`` in groups of ``batch_size`` (see :func:`commit`)."""
    if batch_size < 1:
        raise InputError("batch_size must be at least 1")
    refs: list[ObjectRef] = []
    batch: list[Prepared] = []
    for item in items:
        put = item if isinstance(item, PutItem) else PutItem(item)
        batch.append(prepare(vault, put, dataset=dataset, as_=as_, encoding=encoding))
        if len(batch) >= batch_size:
            commit(vault, batch, as_)
            refs.extend(p.ref for p in batch)
            batch = []
    commit(vault, batch, as_)
    refs.extend(p.ref for p in batch)
    return refs


def seal_payload(
    vault: Vault,
    payload: bytes,
    manifest: Mapping[str, Any],
    *,
    as_: str,
    algorithm: Algorithm | str = Algorithm.AES_256_GCM,
    source_fp: str | None = None,
    pseudonyms: Mapping[str, str] | None = None,
    action: str = "put",
) -> Prepared:
    """Seal ``payload`` under a fresh data key, bound to ``manifest``; build its row.

    The row's policy fields (id, dataset, kind, parent, name, label, patient,
    split) are the manifest's, so the two cannot disagree. Nothing is written.
    """
    object_id = str(manifest["id"])
    manifest_bytes = canonical(manifest)
    manifest_sha = manifest_sha256(manifest_bytes)
    sealed = seal(
        payload,
        keyring=vault.keyring,
        associated_data=object_aad(object_id, manifest_sha),
        algorithm=algorithm,
    )
    _faults.crashpoint("put:sealed")
    key = blob_key(object_id)
    data = sealed.data  # the cipher's own output buffer: not copied again
    values: dict[str, Any] = {c: manifest[c] for c in MIRRORED}
    values.update({
        "manifest": manifest_bytes.decode(), "manifest_sha256": manifest_sha,
        "blob_key": key, "blob_sha256": hashlib.sha256(data).hexdigest(),
        "blob_size": len(data), "payload_size": len(payload),
        "algorithm": str(Algorithm(algorithm).value), "key_id": sealed.wrapped_key.key_id,
        "created_at": datetime.now(UTC), "created_by": as_, "source_fp": source_fp,
    })  # fmt: skip
    values["manifest_mac"] = row_mac(vault._row_key, values)
    ref = ObjectRef(object_id, str(manifest["dataset"]), str(manifest["kind"]))
    return Prepared(ref, key, data, values, sealed.wrapped_key, pseudonyms, action)


def commit(vault: Vault, batch: Sequence[Prepared], as_: str) -> None:
    """Store prepared objects: blobs made durable together, then ONE catalogue transaction.

    The transaction holds every row, wrapped data key, the pseudonym-map
    update and one chained audit entry per object, so the audit anchor moves
    once per batch. When this returns every object is durable; when it raises
    none of them is in the catalogue and their blobs are removed.
    """
    if not batch:
        return
    keys = [p.key for p in batch]
    # Shared vault lock from blob to commit: gc cannot take the blob for an orphan and
    # key rotation cannot slip between this data key's wrapping check and its commit.
    with vault.catalog.lock(vault.id, exclusive=False):
        vault.blobs.put_many([(p.key, p.data) for p in batch])
        try:
            with vault._tx("record the object" if len(batch) == 1 else "record the objects") as conn:
                Catalog.insert_data_keys(conn, [p.wrapped_key for p in batch])
                Catalog.insert_objects(conn, [p.values for p in batch])
                on_active_kek(vault, conn, [p.wrapped_key for p in batch])
                merged: dict[str, str] = {}
                for p in batch:
                    merged.update(p.pseudonyms or {})
                if merged:
                    _pseudonyms.merge(conn, vault.keyring, vault.id, merged)
                entries: list[dict[str, Any]] = [
                    {
                        "actor": as_, "action": p.action, "outcome": "ok",
                        "dataset": p.ref.dataset, "target": p.ref.id, "detail": {"bytes": len(p.data)},
                    }
                    for p in batch
                ]  # fmt: skip
                if len(entries) == 1:
                    vault._record(**entries[0], conn=conn)
                else:
                    vault.trail.record_many(entries, conn=conn)
                _faults.crashpoint("put:row-inserted")
        except StorageError as exc:
            for key in keys:
                vault.blobs.delete(key)
            raise StorageError(f"{exc}; nothing was stored") from exc
        except BaseException:
            for key in keys:
                vault.blobs.delete(key)
            raise
    _faults.crashpoint("put:committed")


def on_active_kek(vault: Vault, conn: Connection, wks: Sequence[WrappedKey]) -> None:
    """At commit: make sure every key of ``wks`` is wrapped under the vault's current KEK.

    Another process may have rotated the keys after this one wrapped its data
    key (its ring then lacks the new KEK: reload it from the key store file).
    Key rotation holds the vault lock exclusively, so once this check passes
    under the writer's shared lock the key cannot end up on a retired KEK.
    """
    ring = vault.keyring
    active = Catalog.setting(conn, "active_kek")
    if active is not None and active not in ring.kek_ids:
        ring.refresh()
        if active not in ring.kek_ids:
            raise StorageError(
                "the vault's keys were rotated to a KEK this key ring does not hold; "
                "open the key ring again"
            )
    for wk in wks:
        if wk.kek_id != ring.current_kek_id:
            Catalog.replace_data_key(conn, ring.rewrap(wk))


def info(vault: Vault, row: Any) -> ObjectInfo:
    """The row as :class:`ObjectInfo`, after checking it against its authenticated manifest."""
    manifest = check_row(vault._row_key, row)
    return ObjectInfo(
        id=row.id, dataset=row.dataset, kind=row.kind, name=row.name, label=row.label,
        patient=row.patient, split=row.split, parent_id=row.parent_id,
        created_at=as_datetime(row.created_at), created_by=row.created_by, blob_size=int(row.blob_size),
        payload_size=int(row.payload_size), algorithm=row.algorithm, manifest=manifest,
    )  # fmt: skip


def open_payload(vault: Vault, info: ObjectInfo, blob: bytes) -> bytes:
    with vault.catalog.connect() as conn:
        row = Catalog.object_row(conn, info.id)
        wk = None if row is None else Catalog.data_key(conn, row.key_id)
    if row is None or wk is None:
        raise IntegrityError(f"object {info.id}: its data key is missing from the catalogue")
    check_row(vault._row_key, row)
    return _unseal_checked(vault, info.id, row, wk, blob)


def _unseal_checked(vault: Vault, object_id: str, row: Any, wk: WrappedKey, blob: bytes) -> bytes:
    """Open ``blob``; a failure is called tampering when the bytes also miss their hash.

    The AEAD tag authenticates the whole container (its header is in the
    associated data, with the object id and manifest hash), so a read does
    not hash the blob again when the tag verifies: the stored SHA-256 serves
    the key-less ``verify`` and tells damaged bytes from a wrong key here.
    """
    if len(blob) != int(row.blob_size):
        raise IntegrityError(f"object {object_id}: stored bytes do not match their hash")
    try:
        return unseal(
            blob, wk, keyring=vault.keyring,
            associated_data=object_aad(object_id, row.manifest_sha256),
        )  # fmt: skip
    except DecryptionError:
        if hashlib.sha256(blob).hexdigest() != row.blob_sha256:
            raise IntegrityError(f"object {object_id}: stored bytes do not match their hash") from None
        raise


def open_with_key(vault: Vault, info: ObjectInfo, row: Any, wk: WrappedKey | None, blob: bytes) -> bytes:
    """Like :func:`open_payload` for a row already read (and checked) with its data key."""
    if wk is None:
        raise IntegrityError(f"object {info.id}: its data key is missing from the catalogue")
    return _unseal_checked(vault, info.id, row, wk, blob)
