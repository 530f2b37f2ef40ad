"""The encrypted imaging vault: catalogue + blob store + policy + audit (see :class:`Vault`)."""

from __future__ import annotations

from medseal.vault.manifest import DerivedKind
from medseal.vault.policy import ALL_DATASETS, Action, Grant, Role
from medseal.vault.vault import (
    IngestReport,
    ObjectInfo,
    ObjectListing,
    PutItem,
    RotationReport,
    Vault,
    VerifyReport,
    check_id,
)

__all__ = [
    "ALL_DATASETS",
    "Action",
    "DerivedKind",
    "Grant",
    "IngestReport",
    "ObjectInfo",
    "ObjectListing",
    "PutItem",
    "Role",
    "RotationReport",
    "Vault",
    "VerifyReport",
    "check_id",
]
