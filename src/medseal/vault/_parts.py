"""What an open vault is made of, opened together and closed together.

:class:`VaultParts` is the base of the :class:`~medseal.vault.Vault` facade:
it creates (:meth:`~VaultParts.init`) or opens (:meth:`~VaultParts.open`) a
vault's settings (``vault.json``, see ``_config``), its catalogue, its blob
store, the keys derived from the key ring for this vault (audit chain, row
MACs, anchor, de-identification) and its audit trail, checks that they belong
together, and disposes of them on :meth:`~VaultParts.close`. The operations
on objects (put, get, grants, maintenance) are the facade's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from medseal.crypto import KeyRing
from medseal.errors import ConfigError
from medseal.vault import _config
from medseal.vault._catalog_repo import Catalog
from medseal.vault._trail import AuditTrail
from medseal.vault.anchor import AuditAnchor
from medseal.vault.blobs import BlobStore
from medseal.vault.catalog import SCHEMA_VERSION
from medseal.vault.policy import validate_name

if TYPE_CHECKING:  # pragma: no cover - imported when first used: `vault get` never reads files
    import numpy as np

    from medseal.codec import CodecName
    from medseal.ingest import Deidentifier

__all__ = ["VaultParts"]


class VaultParts:
    """A vault's settings, catalogue, blob store, derived keys and audit trail."""

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
        self.catalog = Catalog(_config.db_url(root, self.config))
        self.db = self.catalog.db
        self.blobs = BlobStore(
            _config.blob_url(root, self.config), _config.blob_options(self.config)
        )
        self._audit_key = keyring.derive(f"audit/{self.id}")
        self._row_key = keyring.derive(f"object-rows/{self.id}")
        self.anchor = AuditAnchor(
            _config.anchor_path(root, self.config),
            keyring.derive(f"audit-anchor/{self.id}"),
            self.id,
        )
        self.trail = AuditTrail(self.catalog, self._audit_key, self.anchor)
        self._record = self.trail.record
        self._tx = self.trail.tx
        self._check_audit = self.trail.check
        self._deidentifier: Deidentifier | None = None
        self._parent_cache: tuple[str, np.ndarray] | None = None  # put_masked's identity check

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
        codec: CodecName | str | None = None,
    ) -> Self:
        """Create a new vault at ``root`` owned by ``owner``.

        ``audit_anchor`` is where the audit anchor file goes (default
        ``<root>/audit-anchor.json``); put it where a database writer cannot
        reach it to detect a catalogue restored from an older copy. ``codec``
        is the default codec of new objects (``None``: the measured default,
        see ``docs/codec.md``); an unknown name fails before anything is made.
        """
        validate_name(owner, "principal")
        root = Path(root)
        config = _config.new_config(
            owner=owner, keyring_id=keyring.id, db=db, blobs=blobs, storage_options=storage_options,
            audit_anchor=None if audit_anchor is None else str(audit_anchor),
            codec=None if codec is None else str(codec),
        )  # fmt: skip
        return _config.create(root, config, lambda: cls(root, config, keyring))

    @classmethod
    def open(cls, root: str | os.PathLike[str], *, keyring: KeyRing) -> Self:
        """Open the vault at ``root`` (its catalogue must be this vault's, of this schema)."""
        root = Path(root)
        vault = cls(root, _config.read_config(root), keyring)
        with vault.catalog.connect("open the catalogue") as conn:
            Catalog.check_owner(conn, vault.id, SCHEMA_VERSION)
        return vault

    def close(self) -> None:
        self.catalog.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(root={str(self.root)!r}, id={self.id!r}, db={self.catalog.dialect})"

    @property
    def deidentifier(self) -> Deidentifier:
        """The vault's de-identifier: keyed per vault, so UIDs and dates map consistently."""
        if self._deidentifier is None:
            from medseal.ingest import Deidentifier

            self._deidentifier = Deidentifier(self.keyring.derive(f"deid/{self.id}"))
        return self._deidentifier
