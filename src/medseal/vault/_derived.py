"""Derived representations of an image: masked copies and opaque payloads (CKKS, ...).

Both are stored like every object (fresh data key, AES-GCM, row MAC, audit
entry) with the parent's dataset, label, patient and split. A masked copy is
an image the vault decodes; a derived payload is not: the vault never decodes
it and hands it back as bytes. Their public descriptions (the masking
scheme's, or ``describe``) go into the manifest, so ``ls``/``show`` say what
they are without opening them; one that carries key material is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from medseal.errors import InputError
from medseal.types import Image, ObjectRef
from medseal.vault import _objects
from medseal.vault._access import lookup, require_kind
from medseal.vault._catalog_repo import ObjectInfo
from medseal.vault._reads import decode
from medseal.vault.manifest import MANIFEST_FORMAT, DerivedKind, jsonable
from medseal.vault.policy import Action

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from medseal import codec
    from medseal.vault.vault import Vault
else:  # imported on first use (see medseal.vault._lazy)
    from medseal.vault._lazy import codec

__all__ = ["put_derived", "put_masked", "refuse_key_material"]

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


def put_masked(
    vault: Vault, parent_id: str, pixels: np.ndarray, scheme: Mapping[str, Any], as_: str
) -> ObjectRef:
    parent = lookup(vault, parent_id, as_, Action.PUT_DERIVED)
    if parent.kind != "image":
        raise InputError("only original images can be masked")
    refuse_key_material(scheme, "scheme description")
    item = _objects.PutItem(
        _masked_image(vault, parent, pixels, scheme, as_), name=parent.name, label=parent.label,
        patient=parent.patient, split=parent.split,
    )  # fmt: skip
    prepared = _objects.prepare(
        vault, item, dataset=parent.dataset, as_=as_, kind="masked", parent_id=parent_id,
        encoding=_objects.Encoding.of(vault, None),
    )  # fmt: skip
    _objects.commit(vault, [prepared], as_)
    return prepared.ref


def put_derived(
    vault: Vault, parent_id: str | Sequence[str], payload: bytes, kind: DerivedKind | str,
    describe: Mapping[str, Any], as_: str,
) -> ObjectRef:  # fmt: skip
    the_kind = DerivedKind(kind)
    refuse_key_material(describe, "description")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise InputError("a derived payload must be bytes")
    ids = [parent_id] if isinstance(parent_id, str) else list(parent_id)
    if not ids:
        raise InputError("a derived object needs at least one parent image")
    if len(set(ids)) != len(ids):
        raise InputError("a derived object names each parent image once")
    parents = [lookup(vault, pid, as_, Action.PUT_DERIVED) for pid in ids]
    for parent in parents:
        require_kind(vault, parent, {"image"}, as_, "put-derived")
    if len({p.dataset for p in parents}) > 1:
        raise InputError("the parents of one derived object must be in one data set")

    def shared(field: str) -> Any:
        """The parents' common value of ``field``; ``None`` where they differ."""
        values = {getattr(p, field) for p in parents}
        return values.pop() if len(values) == 1 else None

    data = bytes(payload)
    object_id = uuid.uuid4().hex
    first = parents[0]
    manifest = {
        "format": MANIFEST_FORMAT, "id": object_id, "dataset": first.dataset,
        "kind": the_kind.value, "parent_id": first.id, "name": shared("name"),
        "label": shared("label"), "patient": shared("patient"), "split": shared("split"),
        "source": "derived", "describe": jsonable(dict(describe)), "bytes": len(data),
    }  # fmt: skip
    if len(parents) > 1:  # a batch (one slot per image): every parent, in slot order
        manifest["parents"] = [p.id for p in parents]
    prepared = _objects.seal_payload(vault, data, manifest, as_=as_, action="put-derived")
    _objects.commit(vault, [prepared], as_)
    return prepared.ref


def _masked_image(
    vault: Vault, parent: ObjectInfo, pixels: np.ndarray, scheme: Mapping[str, Any], as_: str
) -> Image:
    """The :class:`Image` of a masked copy of ``parent``, refused if it is the source itself."""
    src = parent.manifest
    import numpy as np  # here only: `vault ls` imports this module and never needs numpy

    arr = np.ascontiguousarray(pixels)
    if arr.shape == tuple(src.get("shape") or ()) and np.array_equal(
        arr, _parent_pixels(vault, parent, as_)
    ):
        raise InputError("the masked pixels equal the source's: refusing an identity masking")
    # the masked copy's own bit depth: 8-bit masks of 12/16-bit sources are common
    dtype_bits = 8 * arr.dtype.itemsize
    bits = min(int(src["bits_stored"]), dtype_bits)
    if arr.size and arr.dtype.kind == "u" and int(arr.max()) >= 2**bits:
        bits = dtype_bits
    return Image(
        pixels=arr,
        photometric="MONOCHROME2" if arr.ndim == 2 else src["photometric"],
        bits_stored=bits,
        frames=int(src.get("frames", 1)),
        source="masked",
        meta={"scheme": dict(scheme), "parent": parent.id},
    )


def _parent_pixels(vault: Vault, parent: ObjectInfo, as_: str) -> np.ndarray:
    """The source's pixels, for the identity check of put_masked (one-entry cache)."""
    cached = vault._parent_cache
    if cached is None or cached[0] != parent.id:
        enc, _ = decode(vault, parent, as_, "put-derived")
        cached = vault._parent_cache = (parent.id, codec.decode(enc))
    return cached[1]
