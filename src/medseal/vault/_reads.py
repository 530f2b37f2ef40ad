"""Reading objects back: listings, one object, and batches, each checked and audited.

Every read runs the same steps: the catalogue row is checked against its
authenticated manifest before the policy reads its dataset, the policy
decides, the blob is opened (AEAD tag, with the id and manifest hash as
associated data), and the audit entry commits before anything is returned.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medseal.errors import (
    AccessDenied,
    DecryptionError,
    InputError,
    IntegrityError,
    NotFoundError,
    StorageError,
)
from medseal.types import Image
from medseal.vault import _objects
from medseal.vault import pseudonyms as _pseudonyms
from medseal.vault._access import authorize, lookup, require_kind
from medseal.vault._catalog_repo import Catalog, ObjectInfo
from medseal.vault.manifest import PLAINTEXT_KINDS, DerivedKind, blob_key, check_id
from medseal.vault.policy import Action, decide, validate_name

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from medseal import codec
    from medseal.vault.vault import Vault
else:  # imported on first use (see medseal.vault._lazy)
    from medseal.vault._lazy import codec

__all__ = [
    "ObjectListing", "decode", "export_dicom", "get", "get_derived", "get_encrypted",
    "get_masked", "iter_ls", "iter_masked", "pseudonyms", "read_many",
]  # fmt: skip

log = logging.getLogger(__name__)

_THREADED_READ_BYTES = 1 << 20  # batched reads decode in threads from this many sealed bytes
MASKED = frozenset({"masked"})


@dataclass(frozen=True)
class ObjectListing:
    """The result of :meth:`Vault.iter_ls`: how many objects were in scope, and the pages."""

    total: int
    items: Iterator[ObjectInfo]

    def __iter__(self) -> Iterator[ObjectInfo]:
        return self.items


# ---------------------------------------------------------------------- listings
def iter_ls(vault: Vault, as_: str, dataset: str | None, page_size: int) -> ObjectListing:
    """Decide and audit a listing now; the pages are read as the result is iterated."""
    validate_name(as_, "principal")
    if page_size < 1:
        raise InputError("page_size must be at least 1")
    with vault.catalog.connect() as conn:
        grants = Catalog.grants(conn)
        candidates = [dataset] if dataset is not None else Catalog.datasets(conn)
        allowed = [
            d for d in candidates if decide(as_, grants, Action.LIST, d, owner=vault.owner).allowed
        ]
        total = Catalog.count_objects(conn, allowed) if allowed else 0
    if dataset is not None and not allowed:
        vault._record(as_, "list", "denied", dataset=dataset)
        raise AccessDenied(f"{as_} may not list dataset {dataset}")
    vault._record(as_, "list", "ok", dataset=dataset, detail={"count": total})
    return ObjectListing(total, _pages(vault, allowed, page_size))


def _pages(vault: Vault, datasets: list[str], page_size: int) -> Iterator[ObjectInfo]:
    after: tuple[Any, str] | None = None
    while datasets:
        with vault.catalog.connect() as conn:
            rows = Catalog.object_page(conn, datasets, after, page_size)
        for row in rows:
            try:
                yield _objects.info(vault, row)
            except IntegrityError as exc:  # a re-routed row is not listed; verify reports it
                log.warning("%s", exc)
        if len(rows) < page_size:
            return
        after = (rows[-1].created_at, str(rows[-1].id))


# ---------------------------------------------------------------------- one object
def open_object(vault: Vault, info: ObjectInfo, as_: str, action: str) -> bytes:
    """The object's decrypted payload; a failure is audited as an error and raised."""
    try:
        return _objects.open_payload(vault, info, vault.blobs.get(blob_key(info.id)))
    except (DecryptionError, IntegrityError, NotFoundError) as exc:
        vault._record(
            as_, action, "error", dataset=info.dataset, target=info.id,
            detail={"error": type(exc).__name__},
        )  # fmt: skip
        raise


def decode(
    vault: Vault, info: ObjectInfo, as_: str, action: str, *, header: bool = True
) -> tuple[Any, Any]:
    """The object's encoded image and DICOM header (``header=False``: not parsed)."""
    return codec.unpack(open_object(vault, info, as_, action), header=header)


def _image(info: ObjectInfo, pixels: np.ndarray, header: Any) -> Image:
    m = info.manifest
    return Image(
        pixels=pixels, photometric=m["photometric"], bits_stored=int(m["bits_stored"]),
        frames=int(m.get("frames", 1)), source=m.get("source", "vault"), header=header,
        meta=dict(m.get("meta") or {}),
    )  # fmt: skip


def get(vault: Vault, object_id: str, as_: str, *, header: bool = True) -> Image:
    info = lookup(vault, object_id, as_, Action.GET_PLAINTEXT)
    require_kind(vault, info, PLAINTEXT_KINDS, as_, "get-plaintext")
    enc, dicom_header = decode(vault, info, as_, "get-plaintext", header=header)
    pixels = codec.decode(enc)
    vault.trail.release(as_, "get-plaintext", info.dataset, info.id)
    return _image(info, pixels, dicom_header)


def get_masked(vault: Vault, object_id: str, as_: str) -> np.ndarray:
    info = lookup(vault, object_id, as_, Action.GET_MASKED)
    if info.kind != "masked":
        vault._record(
            as_, "get-masked", "denied", dataset=info.dataset, target=object_id,
            detail={"reason": "not a masked object"},
        )  # fmt: skip
        raise AccessDenied(f"object {object_id} is not a masked representation")
    enc, _ = decode(vault, info, as_, "get-masked")
    pixels = codec.decode(enc)
    vault.trail.release(as_, "get-masked", info.dataset, info.id)
    return pixels


def get_derived(
    vault: Vault, object_id: str, as_: str, kind: DerivedKind | str | None
) -> bytes:
    wanted = {k.value for k in DerivedKind} if kind is None else {DerivedKind(kind).value}
    info = lookup(vault, object_id, as_, Action.GET_DERIVED)
    require_kind(vault, info, wanted, as_, "get-derived")
    payload = open_object(vault, info, as_, "get-derived")
    vault.trail.release(as_, "get-derived", info.dataset, info.id)
    return payload


def get_encrypted(vault: Vault, object_id: str, as_: str) -> bytes:
    info = lookup(vault, object_id, as_, Action.GET_ENCRYPTED)
    data = vault.blobs.get(blob_key(object_id))
    vault.trail.release(as_, "get-encrypted", info.dataset, info.id)
    return data


def export_dicom(vault: Vault, object_id: str, path: str | os.PathLike[str], as_: str) -> Path:
    info = lookup(vault, object_id, as_, Action.GET_PLAINTEXT)
    require_kind(vault, info, PLAINTEXT_KINDS, as_, "export-dicom")
    enc, header = decode(vault, info, as_, "export-dicom")
    vault.trail.release(as_, "export-dicom", info.dataset, info.id)  # no file unless audited
    return Path(codec.write_dicom(path, enc, header))


# ---------------------------------------------------------------------- batches
def get_many(vault: Vault, object_ids: Sequence[str], as_: str) -> list[Image]:
    return [
        _image(info, pixels, header)
        for info, pixels, header in read_many(
            vault, object_ids, as_, Action.GET_PLAINTEXT, "get-plaintext", PLAINTEXT_KINDS
        )
    ]


def get_masked_many(vault: Vault, object_ids: Sequence[str], as_: str) -> list[np.ndarray]:
    return [
        pixels
        for _, pixels, _ in read_many(vault, object_ids, as_, Action.GET_MASKED, "get-masked", MASKED)
    ]


def iter_masked(
    vault: Vault, dataset: str, as_: str, batch_size: int
) -> Iterator[list[tuple[ObjectInfo, np.ndarray]]]:
    if batch_size < 1:
        raise InputError("batch_size must be at least 1")
    infos = [i for i in iter_ls(vault, as_, dataset, 1000) if i.kind == "masked"]
    for start in range(0, len(infos), batch_size):
        chunk = infos[start : start + batch_size]
        pixels = get_masked_many(vault, [i.id for i in chunk], as_)
        yield list(zip(chunk, pixels, strict=True))


def pseudonyms(vault: Vault, as_: str) -> dict[str, str]:
    authorize(vault, as_, Action.READ_PSEUDONYMS)
    try:  # read and audited in one transaction: no map unless the entry commits
        with vault._tx("record the pseudonym read in the audit log") as conn:
            result = _pseudonyms.read(conn, vault.keyring, vault.id)
            vault._record(as_, "read-pseudonyms", "ok", detail={"entries": len(result)}, conn=conn)
    except StorageError as exc:
        raise StorageError(f"{exc}; nothing was released") from exc
    return result


def read_many(
    vault: Vault,
    object_ids: Sequence[str],
    as_: str,
    action: Action,
    audit_action: str,
    kinds: Collection[str],
) -> list[tuple[ObjectInfo, np.ndarray, Any]]:
    """Read a batch: one joined query, the policy once per dataset, one audit entry.

    Every row, tag and kind is checked as a single read checks it; any
    failure releases nothing, and the batch's audit entry (naming every
    object) commits before anything is returned.
    """
    ids = [check_id(i) for i in object_ids]
    validate_name(as_, "principal")
    if not ids:
        return []
    with vault.catalog.connect() as conn:
        found = Catalog.object_rows_with_keys(conn, ids)
        grants = Catalog.grants(conn)
    missing = [i for i in ids if i not in found]
    if missing:
        vault._record(
            as_, action.value, "not-found", target=missing[0], detail={"missing": len(missing)}
        )
        raise NotFoundError(f"no object {missing[0]}")
    infos: dict[str, ObjectInfo] = {}
    for oid, (row, _) in found.items():
        try:
            infos[oid] = _objects.info(vault, row)  # before the policy reads the dataset
        except IntegrityError:
            vault._record(as_, action.value, "tampered", target=oid)
            raise
    _decide_batch(vault, ids, infos, grants, as_, action)
    wrong = next((i for i in ids if infos[i].kind not in kinds), None)
    if wrong is not None:
        expected = " or ".join(sorted(kinds))
        vault._record(
            as_, audit_action, "denied", dataset=infos[wrong].dataset, target=wrong,
            detail={"reason": f"not a {expected} object"},
        )  # fmt: skip
        raise AccessDenied(f"object {wrong} is not a {expected} representation")

    def open_one(oid: str) -> tuple[Any, Any] | Exception:
        """Read, check and decrypt one payload: its (encoded image, header)."""
        row, wk = found[oid]
        try:
            blob = vault.blobs.get(blob_key(oid))
            return codec.unpack(_objects.open_with_key(vault, infos[oid], row, wk, blob))
        except (DecryptionError, IntegrityError, NotFoundError) as exc:
            return exc

    total = sum(infos[i].blob_size for i in ids)
    workers = min(4, os.cpu_count() or 1, len(ids))
    pool = ThreadPoolExecutor(workers) if workers > 1 and total >= _THREADED_READ_BYTES else None
    try:
        opened = list(pool.map(open_one, ids)) if pool else [open_one(oid) for oid in ids]
        for oid, r in zip(ids, opened, strict=True):
            if isinstance(r, Exception):
                vault._record(
                    as_, audit_action, "error", dataset=infos[oid].dataset, target=oid,
                    detail={"error": type(r).__name__},
                )  # fmt: skip
                raise r
        # Every payload is authentic. Threaded: decode while the audit entry commits (its
        # sync overlaps the decoding); the pixels are returned only after the commit.
        encoded = [r[0] for r in opened if not isinstance(r, Exception)]
        decoding = [pool.submit(codec.decode, enc) for enc in encoded] if pool else None
        pixels = None if decoding is not None else [codec.decode(enc) for enc in encoded]
        _audit_batch(vault, ids, infos, as_, audit_action)
        if decoding is not None:
            pixels = [f.result() for f in decoding]
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    assert pixels is not None
    return [
        (infos[oid], px, r[1])
        for oid, px, r in zip(ids, pixels, opened, strict=True)
        if not isinstance(r, Exception)
    ]


def _audit_batch(
    vault: Vault, ids: list[str], infos: dict[str, ObjectInfo], as_: str, audit_action: str
) -> None:
    """The batch's one audit entry (naming every object); if it fails, nothing is released."""
    datasets = sorted({infos[i].dataset for i in ids})
    detail: dict[str, Any] = {"objects": ids, "count": len(ids)}
    if len(datasets) > 1:
        detail["datasets"] = datasets
    try:
        vault._record(
            as_, audit_action, "ok", dataset=datasets[0] if len(datasets) == 1 else None,
            target=ids[0] if len(ids) == 1 else None, detail=detail,
        )  # fmt: skip
    except StorageError as exc:
        raise StorageError(f"{exc}; nothing was released") from exc


def _decide_batch(
    vault: Vault, ids: list[str], infos: dict[str, ObjectInfo], grants: Any, as_: str, action: Action
) -> None:
    """The policy, once per dataset of the batch; the first refusal is audited and raised."""
    decided: set[str] = set()
    for oid in ids:
        ds = infos[oid].dataset
        if ds in decided:
            continue
        decision = decide(as_, grants, action, ds, owner=vault.owner)
        if not decision.allowed:
            vault._record(
                as_, action.value, "denied", dataset=ds, target=oid,
                detail={"reason": decision.reason},
            )  # fmt: skip
            if not decision.visible:
                raise NotFoundError(f"no object {oid}")
            raise AccessDenied(f"{as_} may not {action.value}: {decision.reason}")
        decided.add(ds)
