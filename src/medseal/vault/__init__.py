"""The encrypted imaging vault: catalogue + blob store + policy + audit (see :class:`Vault`)."""

from __future__ import annotations

from medseal.vault._config import codec_name
from medseal.vault.maintenance import GC_GRACE_S
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
    "GC_GRACE_S",
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
    "codec_name",
]
