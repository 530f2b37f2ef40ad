"""Derived representations: opaque payloads made from an image (a CKKS ciphertext, ...).

A derived object is stored like every object (fresh data key, AES-GCM, row
MAC, audit entry) but its payload is not an image: the vault never decodes
it, and hands it back as bytes. Its public description (``describe``) goes
into the manifest, so ``ls``/``show`` can say what it is without opening it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from medseal.errors import InputError
from medseal.vault import _objects
from medseal.vault._catalog_repo import ObjectInfo
from medseal.vault.manifest import MANIFEST_FORMAT, jsonable

if TYPE_CHECKING:  # pragma: no cover
    from medseal.vault.vault import Vault

__all__ = ["PLAINTEXT_KINDS", "DerivedKind", "prepare_derived", "refuse_key_material"]


class DerivedKind(StrEnum):
    """What a derived object's payload is (its catalogue ``kind``)."""

    CKKS = "ckks"  # a CKKS-encrypted image: serialized ciphertexts, meant for analysts


# Kinds whose payload is a packed image (``get``, ``get_many``, ``export_dicom`` read them).
PLAINTEXT_KINDS = frozenset({"image", "masked"})

# Names that mean secret material in a public description, at any depth.
_SECRET_NAMES = frozenset({"key", "keys", "sk", "secret", "secret_key", "private_key", "master_key"})


def refuse_key_material(describe: Mapping[str, Any], what: str) -> None:
    """Refuse a public description that carries (or names) key material.

    A description is stored in the clear manifest: a field named like a key
    or a secret, or raw bytes anywhere in it, is refused with an
    :class:`InputError` that names neither the field's value nor its bytes.
    """
    if not isinstance(describe, Mapping):
        raise InputError(f"the {what} must be a mapping")
    stack: list[Any] = [describe]
    while stack:
        value = stack.pop()
        if isinstance(value, (bytes, bytearray, memoryview)):
            raise InputError(f"the {what} must not carry raw bytes (key material?)")
        if isinstance(value, Mapping):
            for name, item in value.items():
                low = str(name).lower()
                if low in _SECRET_NAMES or "secret" in low or "private" in low:
                    raise InputError(f"the {what} must not carry key material (field {name!r})")
                stack.append(item)
        elif isinstance(value, (list, tuple)):
            stack.extend(value)


def prepare_derived(
    vault: Vault,
    parent: ObjectInfo,
    payload: bytes,
    *,
    kind: DerivedKind,
    describe: Mapping[str, Any],
    as_: str,
) -> _objects.Prepared:
    """Seal ``payload`` as a ``kind`` object of ``parent`` (same dataset, label, patient, split)."""
    object_id = uuid.uuid4().hex
    manifest = {
        "format": MANIFEST_FORMAT, "id": object_id, "dataset": parent.dataset,
        "kind": kind.value, "parent_id": parent.id, "name": parent.name,
        "label": parent.label, "patient": parent.patient, "split": parent.split,
        "source": "derived", "describe": jsonable(dict(describe)), "bytes": len(payload),
    }  # fmt: skip
    return _objects.seal_payload(vault, payload, manifest, as_=as_, action="put-derived")
