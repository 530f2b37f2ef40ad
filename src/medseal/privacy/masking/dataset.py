"""Mask a vault dataset: the data owner's workflow, as one library call.

Where it sits: privacy stage, on top of the vault. :func:`mask_dataset` reads
each plaintext image (owner or clinician), masks it with a key derived from
the vault's key ring and stores the masked copy beside it with its
:class:`~medseal.privacy.masking.descriptor.MaskDescriptor`. Images that
already have a copy under the same scheme, key and block are skipped, so the
call is idempotent. ``medseal mask`` and the demo are shells over it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from medseal.errors import InputError
from medseal.ingest.grey import image_to_grey_uint8
from medseal.privacy.masking.descriptor import NO_SHIFT, MaskDescriptor
from medseal.privacy.masking.schemes import DEFAULT_SCHEME, make_scheme

if TYPE_CHECKING:  # pragma: no cover
    from medseal.vault import Vault

__all__ = ["MaskingReport", "mask_dataset", "mask_key_id"]


def mask_key_id(dataset: str) -> str:
    """The key ring purpose a dataset's masking key is derived under by default."""
    return f"mask/{dataset}"


@dataclass(frozen=True)
class MaskingReport:
    """What :func:`mask_dataset` did (ids and counts only, no pixels)."""

    dataset: str
    descriptor: MaskDescriptor
    masked: int  # images that got copies in this call
    skipped: int  # images that already had all their copies
    copies: int  # masked objects stored (shifted copies included)
    shifts: int
    #: ids of the new masked objects of the images themselves (no shifted copies), in order
    masked_ids: list[str] = field(default_factory=list)


def mask_dataset(
    vault: Vault,
    dataset: str,
    scheme: str = DEFAULT_SCHEME,
    block: int = 8,
    *,
    as_: str,
    key_id: str | None = None,
    ids: Sequence[str] | None = None,
    shifts: int = 0,
    allow_key_leaking_shifts: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MaskingReport:
    """Store a keyed masked copy of every image of ``dataset`` (or of the images ``ids``).

    Parameters
    ----------
    vault
        An open vault; its key ring derives the key under ``key_id``
        (default :func:`mask_key_id`).
    as_
        The principal: owner or clinician (plaintext readers).
    scheme, block
        The masking steps (``"shuffle+negpos"``) and block side.
    ids
        Only these image objects (default: every image of the dataset).
    shifts
        Also store masked copies of each image cyclically shifted by up to
        this many pixels (``(2S+1)^2 - 1`` extra copies). They give whoever
        reads them the key (views attack), hence ``allow_key_leaking_shifts``.
    progress
        Called as ``progress(done, total)`` after each image.

    Raises
    ------
    InputError
        Negative ``shifts``, or shifts without ``allow_key_leaking_shifts``.
    """
    if shifts < 0:
        raise InputError("--shifts must be >= 0")
    if shifts and not allow_key_leaking_shifts:
        raise InputError(
            "--shifts stores masked copies under known pixel shifts, from which the masking key "
            "follows (views attack); pass --allow-key-leaking-shifts to store them anyway"
        )
    offsets = [(dy, dx) for dy in range(-shifts, shifts + 1) for dx in range(-shifts, shifts + 1)]
    key = vault.keyring.derive(key_id or mask_key_id(dataset))
    sch = make_scheme(scheme, key=key, block=block, bit_depth=8)
    desc = MaskDescriptor.of(sch)
    infos = vault.ls(as_=as_, dataset=dataset)
    done: set[tuple[str | None, tuple[int, int]]] = set()
    for i in infos:
        if i.kind == "masked":
            d = MaskDescriptor.from_manifest(i.manifest)
            if d.same_masking(desc):
                done.add((i.parent_id, d.shift))
    images = [i for i in infos if i.kind == "image"]
    if ids is not None:
        wanted = set(ids)
        images = [i for i in images if i.id in wanted]
    todo = [i for i in images if any((i.id, o) not in done for o in offsets)]
    copies, masked_ids = 0, []
    for n, info in enumerate(todo, 1):
        pixels = image_to_grey_uint8(vault.get(info.id, as_=as_))
        for o in offsets:
            if (info.id, o) in done:
                continue
            moved = np.roll(pixels, o, axis=(0, 1)) if o != NO_SHIFT else pixels
            ref = vault.put_masked(
                info.id, sch.mask(moved, pad="edge"), scheme=desc.shifted(o).to_dict(), as_=as_
            )
            if o == NO_SHIFT:
                masked_ids.append(ref.id)
            copies += 1
        if progress is not None:
            progress(n, len(todo))
    return MaskingReport(
        dataset=dataset,
        descriptor=desc,
        masked=len(todo),
        skipped=len(images) - len(todo),
        copies=copies,
        shifts=shifts,
        masked_ids=masked_ids,
    )
