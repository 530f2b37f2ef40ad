"""CKKS batches in the vault: the owner encrypts a data set's images, analysts fetch the batch.

The owner reads original images through the vault's policy (audited), encrypts
them for a compiled program and stores the batch as one derived object of kind
``ckks`` whose parents are the images, in slot order. A compute host acting as
an analyst reads the batch back with :meth:`~medseal.vault.Vault.get_derived`
(analysts may: it is ciphertext under a key they do not hold) and learns which
objects the slots hold, never their pixels. The secret key stays with the owner.

Example
-------
>>> from medseal.privacy.ckks import vault_batches
>>> sorted(vault_batches.__all__)
['VaultBatch', 'encrypt_vault_dataset', 'load_vault_batch']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from medseal.errors import InputError
from medseal.ingest.grey import to_grey_uint8
from medseal.privacy.ckks.context import EncryptedBatch
from medseal.privacy.ckks.program import HEProgram, Packing
from medseal.types import ObjectRef

if TYPE_CHECKING:  # pragma: no cover
    from medseal.privacy.ckks.client import CKKSKey
    from medseal.vault import Vault

__all__ = ["VaultBatch", "encrypt_vault_dataset", "load_vault_batch"]


@dataclass(frozen=True)
class VaultBatch:
    """An encrypted batch and the vault objects its slots hold, in order."""

    batch: EncryptedBatch
    object_ids: tuple[str, ...]
    ref: ObjectRef | None = None
    """The stored derived object, when the batch was stored in (or read from) the vault."""


def _images(
    vault: Vault, dataset: str, as_: str, split: str | None, limit: int | None
) -> tuple[np.ndarray, list[str]]:
    """Original images of ``dataset`` (sorted by id), read as ``as_``; grey ``uint8``."""
    infos = [
        i
        for i in vault.ls(as_=as_, dataset=dataset)
        if i.kind == "image" and (split is None or i.split == split)
    ]
    infos.sort(key=lambda i: i.id)
    if limit:
        infos = infos[:limit]
    if not infos:
        raise InputError(f"vault data set {dataset!r} has no images to encrypt")
    images = vault.get_many([i.id for i in infos], as_=as_)
    xs = [to_grey_uint8(im.pixels) for im in images]
    if len({x.shape for x in xs}) != 1:
        raise InputError(f"vault data set {dataset!r} holds images of several shapes")
    return np.stack(xs), [i.id for i in infos]


def encrypt_vault_dataset(
    vault: Vault,
    key: CKKSKey,
    program: HEProgram,
    *,
    dataset: str,
    as_: str,
    split: str | None = None,
    limit: int | None = None,
    packing: Packing | str = Packing.THROUGHPUT,
    store: bool = True,
) -> VaultBatch:
    """Encrypt ``dataset``'s original images (of ``split``; at most ``limit``) for ``program``.

    The images are read as ``as_`` (the owner or a clinician). With ``store``
    the batch is stored in the vault as one ``ckks`` object whose parents are
    the images in slot order; its description names the program's profile,
    packing, input shape and slot count, never key material.
    """
    pk = Packing(packing)
    x, ids = _images(vault, dataset, as_, split, limit)
    if tuple(x.shape[1:]) != program.input_shape:
        raise InputError(
            f"images of shape {tuple(x.shape[1:])} do not match the model's {program.input_shape}"
        )
    cap = 1 if pk is Packing.SINGLE else program.profile.slots
    if len(x) > cap:
        raise InputError(f"{len(x)} images exceed one {pk.value} batch of {cap}; pass a limit")
    batch = key.encrypt(x.astype(np.float64) / 255.0, program=program, packing=pk)
    ref = None
    if store:
        from medseal.vault import DerivedKind

        describe = {
            "scheme": "ckks", "profile": program.profile.name, "packing": pk.value,
            "input_shape": list(program.input_shape), "images": len(ids),
            "bytes": batch.nbytes,
        }  # fmt: skip
        ref = vault.put_derived(
            ids, batch.to_bytes(), kind=DerivedKind.CKKS, describe=describe, as_=as_
        )
    return VaultBatch(batch, tuple(ids), ref)


def load_vault_batch(vault: Vault, object_id: str, *, as_: str) -> VaultBatch:
    """The encrypted batch stored as ``object_id`` and the objects its slots hold (analysts
    included); a damaged or foreign payload is a :class:`~medseal.privacy.ckks.CKKSFormatError`."""
    from medseal.vault import DerivedKind

    payload = vault.get_derived(object_id, as_=as_, kind=DerivedKind.CKKS)
    info = vault.show(object_id, as_=as_)
    parents = info.manifest.get("parents") or [info.parent_id]
    ref = ObjectRef(info.id, info.dataset, info.kind)
    return VaultBatch(EncryptedBatch.from_bytes(payload), tuple(str(p) for p in parents), ref)
