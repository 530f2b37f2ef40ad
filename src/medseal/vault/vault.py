"""The :class:`Vault` facade: encode -> seal -> store, and back, under policy and audit.

A vault is a directory holding ``vault.json`` (its settings), a metadata
catalogue (SQLite in the directory by default, or PostgreSQL at a
``postgresql://…`` URL) and a blob store (``blobs/`` by default, or any fsspec URL
such as ``s3://bucket/prefix``).

``put`` is crash-safe: the sealed blob is written atomically first, then the
catalogue row, its wrapped data key, the pseudonym map and the audit entry are
committed in one transaction. A crash before the commit leaves at most an
unreferenced blob (reported by :meth:`Vault.verify`, removed by
:meth:`Vault.collect_garbage`); a crash after it leaves a complete object.
Nothing already stored is ever rewritten, except wrapped data keys during key
rotation, which never touches the pixel ciphertexts.

This class is the facade; each job has its module: ``_objects`` (encode, seal,
group commit), ``_reads`` (listings and reads, single and batched), ``_access``
(the policy applied, grants), ``_derived`` (masked copies, CKKS payloads),
``_ingest`` (the re-runnable ingest loop), ``maintenance`` (verify, gc, key
rotation), ``_catalog_repo`` (every SQL statement; the audit chain's in
``audit``), ``manifest`` (manifest, associated data, row MAC), ``pseudonyms``,
``_trail`` and ``anchor`` (the audit trail), ``_config`` (``vault.json``),
``_parts`` (the parts of an open vault: opened, checked and closed together).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medseal.crypto import Algorithm
from medseal.types import Image, ObjectRef
from medseal.vault import _access, _derived, _objects, _reads
from medseal.vault import audit as _audit
from medseal.vault import maintenance as _maint
from medseal.vault._catalog_repo import Catalog, ObjectInfo
from medseal.vault._ingest import DEFAULT_BATCH, IngestReport, ingest_records, records_from
from medseal.vault._objects import Encoding, PutItem
from medseal.vault._parts import VaultParts
from medseal.vault._reads import ObjectListing
from medseal.vault.maintenance import GC_GRACE_S, RotationReport, VerifyReport
from medseal.vault.manifest import DerivedKind, check_id
from medseal.vault.policy import ALL_DATASETS, Action, Grant, Role, validate_name

if TYPE_CHECKING:  # pragma: no cover - imported when first used: `vault get` never reads files
    import numpy as np

    from medseal.codec import CodecName
    from medseal.ingest import Record

__all__ = [
    "IngestReport", "ObjectInfo", "ObjectListing", "PutItem", "RotationReport", "Vault", "VerifyReport", "check_id",
]  # fmt: skip

log = logging.getLogger(__name__)


class Vault(VaultParts):
    """Encrypted image store with per-dataset access control and an audit trail.

    Open one with :meth:`Vault.init` (new) or :meth:`Vault.open` (existing);
    what it is made of, and how it is opened and closed, is
    :class:`~medseal.vault._parts.VaultParts`. Every operation takes the
    acting principal as ``as_``.

    Examples
    --------
    >>> from medseal.crypto import KeyRing
    >>> ring = KeyRing.in_memory()
    >>> vault = Vault.init(tmp / "v", keyring=ring, owner="olivia")   # doctest: +SKIP
    >>> ref = vault.put(image, dataset="chest", as_="olivia")          # doctest: +SKIP
    >>> vault.get(ref.id, as_="olivia").pixels.shape                   # doctest: +SKIP
    """

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
        codec: CodecName | str | None = None,
    ) -> ObjectRef:
        """Encode, seal and durably store one image; returns its reference.

        The image should already be de-identified (use :meth:`ingest`, or
        :func:`medseal.read_dicom` with ``deidentifier=vault.deidentifier``).
        ``codec`` overrides the vault's default codec for this object.
        """
        return self.put_many(
            [PutItem(image, name, label, patient, split)], dataset=dataset, as_=as_,
            lossless=lossless, ratio=ratio, psnr=psnr, algorithm=algorithm, codec=codec,
        )[0]  # fmt: skip

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
        codec: CodecName | str | None = None,
        psnr: float | None = None,
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
        encoding = Encoding.of(
            self, codec, lossless=lossless, ratio=ratio, psnr=psnr, algorithm=algorithm
        )
        _access.authorize(self, as_, Action.PUT, dataset)
        return _objects.put_many(
            self, items, dataset=dataset, as_=as_, encoding=encoding, batch_size=batch_size
        )

    def put_masked(
        self, parent_id: str, pixels: np.ndarray, *, scheme: Mapping[str, Any], as_: str
    ) -> ObjectRef:
        """Store a keyed masked copy of object ``parent_id`` (owner and clinicians).

        ``scheme`` is the masking scheme's ``describe()`` (never the key). The
        masked pixels are sealed at rest like any object; analysts may read
        them back with :meth:`get_masked`.
        """
        return _derived.put_masked(self, parent_id, pixels, scheme, as_)

    def put_derived(
        self,
        parent_id: str | Sequence[str],
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

        ``parent_id`` may list several images of one data set (a batch that
        holds one image per slot): the manifest keeps them all, in order, under
        ``parents``; the row's parent is the first, and its label, patient and
        split are the parents' common values (``None`` where they differ).
        """
        return _derived.put_derived(self, parent_id, payload, kind, describe, as_)

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
        codec: CodecName | str | None = None,
    ) -> IngestReport:
        """Read files/folders (DICOM, PNG/JPEG, MedMNIST .npz) or records, de-identify, store.

        A file that cannot be read is reported in ``failures`` and skipped;
        everything else is still stored. Images already stored in ``dataset``
        from the same source (an earlier, perhaps interrupted, run) are
        skipped and counted in ``skipped``; ``force`` stores them again.
        ``codec`` overrides the vault's default codec for this run.

        Objects are committed in groups (see :meth:`put_many`): the first group
        holds one object and each next one twice as many, up to ``batch_size``
        objects or 64 MiB of sealed bytes, so a short ingest still commits
        early and a long one pays one sync and one transaction per group.
        """
        validate_name(dataset, "dataset")
        encoding = Encoding.of(self, codec, lossless=lossless, ratio=ratio, algorithm=algorithm)
        _access.authorize(self, as_, Action.PUT, dataset)
        records = records_from(self, source, deidentify=deidentify, allow_burned_in=allow_burned_in)
        return ingest_records(
            self, records, dataset=dataset, as_=as_, encoding=encoding, progress=progress,
            force=force, batch_size=batch_size,
        )  # fmt: skip

    # ------------------------------------------------------------------ reading
    def show(self, object_id: str, *, as_: str) -> ObjectInfo:
        """One object's catalogue facts and manifest (no pixels, no PHI)."""
        info = _access.lookup(self, object_id, as_, Action.SHOW)
        self._record(as_, "show", "ok", dataset=info.dataset, target=object_id)
        return info

    def ls(self, *, as_: str, dataset: str | None = None) -> list[ObjectInfo]:
        """Objects the principal may list (all datasets they hold a listing grant on)."""
        return list(self.iter_ls(as_=as_, dataset=dataset))

    def iter_ls(
        self, *, as_: str, dataset: str | None = None, page_size: int = 1000
    ) -> ObjectListing:
        """Like :meth:`ls`, but pages through the catalogue instead of holding every row.

        The access decision and the audit entry (with the number of objects in
        scope) come first, when this is called; iterating the result then
        reads ``page_size`` rows per query, each checked against its row MAC
        (a re-routed row is skipped and logged; ``verify`` reports it).
        """
        return _reads.iter_ls(self, as_, dataset, page_size)

    def get(self, object_id: str, *, as_: str, header: bool = True) -> Image:
        """The plaintext image (owner and clinicians only). Integrity is checked first.

        ``header=False`` leaves the DICOM header out (``Image.header`` is ``None``):
        for callers that want the pixels only, it skips parsing it.
        """
        return _reads.get(self, object_id, as_, header=header)

    def get_masked(self, object_id: str, *, as_: str) -> np.ndarray:
        """The masked pixels of a ``masked`` object (analysts included)."""
        return _reads.get_masked(self, object_id, as_)

    def get_derived(
        self, object_id: str, *, as_: str, kind: DerivedKind | str | None = None
    ) -> bytes:
        """The payload of a derived object (analysts included: it is meant for them).

        ``kind``, when given, is the kind expected; any other object (an image,
        a masked copy, a derived object of another kind) is refused.
        """
        return _reads.get_derived(self, object_id, as_, kind)

    def get_encrypted(self, object_id: str, *, as_: str) -> bytes:
        """The sealed container bytes: an encrypted representation analysts may hold."""
        return _reads.get_encrypted(self, object_id, as_)

    def export_dicom(self, object_id: str, path: str | os.PathLike[str], *, as_: str) -> Path:
        """Write the object as a standard DICOM file with its stored codestreams."""
        return _reads.export_dicom(self, object_id, path, as_)

    def get_many(self, object_ids: Sequence[str], *, as_: str) -> list[Image]:
        """The plaintext images of ``object_ids``, in order (owner and clinicians only).

        One joined catalogue query, the policy decided once per dataset, every
        row, hash and tag checked as :meth:`get` does, decryption and decoding
        spread over a few threads, and ONE audit entry naming every object,
        committed before anything is returned. Any failure releases nothing.
        """
        return _reads.get_many(self, object_ids, as_)

    def get_masked_many(self, object_ids: Sequence[str], *, as_: str) -> list[np.ndarray]:
        """The masked pixels of ``masked`` objects, in order: :meth:`get_masked` for a batch,
        with one audit entry per batch (see :meth:`get_many`)."""
        return _reads.get_masked_many(self, object_ids, as_)

    def iter_masked(
        self, *, dataset: str, as_: str, batch_size: int = 256
    ) -> Iterator[list[tuple[ObjectInfo, np.ndarray]]]:
        """The masked objects of ``dataset`` in batches of (info, pixels), one audit entry each."""
        return _reads.iter_masked(self, dataset, as_, batch_size)

    def pseudonyms(self, *, as_: str) -> dict[str, str]:
        """The original-identifier -> pseudonym map (PHI: owner only, audited)."""
        return _reads.pseudonyms(self, as_)

    # ------------------------------------------------------------------ maintenance
    def verify(
        self, *, as_: str, deep: bool = False,
        progress: Callable[[int, int | None], None] | None = None, grace: float = GC_GRACE_S,
    ) -> VerifyReport:  # fmt: skip
        """Re-check every object, its row, the audit log and its anchor (``deep``: decrypt too).

        Blobs without a row count as orphans only once older than ``grace`` seconds.
        """
        _access.authorize(self, as_, Action.VERIFY)
        return _maint.verify(self, as_=as_, deep=deep, progress=progress, grace=grace)

    def collect_garbage(self, *, as_: str, grace: float = GC_GRACE_S) -> int:
        """Remove blobs no row references and older than ``grace`` s, under the vault lock."""
        _access.authorize(self, as_, Action.VERIFY)
        return _maint.collect_garbage(self, as_=as_, grace=grace)

    def rotate_keys(self, *, as_: str, rotate_ring: bool = True) -> RotationReport:
        """Make a new key-encryption key current and re-wrap every wrapped key with it.

        Data keys and the sealed pseudonym map move; sealed blobs are not
        touched. The old KEK stays in the ring, so a crash between the two
        steps leaves every object readable.
        """
        _access.authorize(self, as_, Action.ROTATE)
        return _maint.rotate_keys(self, as_=as_, rotate_ring=rotate_ring)

    # ------------------------------------------------------------------ principals
    def grant(
        self, principal: str, role: Role | str, *, dataset: str = ALL_DATASETS, as_: str
    ) -> Grant:
        """Give ``principal`` a role on ``dataset`` (``*``: every dataset; owner only)."""
        return _access.grant(self, principal, role, dataset, as_)

    def revoke(
        self, principal: str, role: Role | str | None = None, *, dataset: str | None = None,
        as_: str,
    ) -> int:  # fmt: skip
        """Remove ``principal``'s grants (all, or one role and/or dataset); returns how many."""
        return _access.revoke(self, principal, role, dataset, as_)

    def list_grants(self, *, as_: str) -> list[Grant]:
        """Every grant (owner only)."""
        _access.authorize(self, as_, Action.GRANT)
        with self.catalog.connect() as conn:
            return Catalog.grants(conn)

    # ------------------------------------------------------------------ audit
    def audit_log(self, *, as_: str, limit: int | None = None) -> list[_audit.AuditEntry]:
        """The newest ``limit`` audit entries, oldest first (all: ``None``)."""
        _access.authorize(self, as_, Action.AUDIT)
        return self.trail.entries(as_, limit)

    def verify_audit(self, *, as_: str) -> int:
        """Verify the audit chain; returns its length or raises AuditChainError."""
        _access.authorize(self, as_, Action.AUDIT)
        return self.trail.verify(as_)

    # ------------------------------------------------------------------ misc
    def stats(self) -> dict[str, int]:
        """Counts and byte totals over the whole catalogue (no access check: numbers only)."""
        with self.catalog.connect() as conn:
            return Catalog.sizes(conn)
