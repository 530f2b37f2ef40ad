"""An analyst's view of a vault: masked objects as training arrays, never plaintext.

Where it sits: models stage, on top of the vault and the masking descriptor.
Every object is read through :meth:`~medseal.vault.Vault.get_masked_many`, and
what it was masked with comes from its
:class:`~medseal.privacy.masking.descriptor.MaskDescriptor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from medseal.errors import InputError
from medseal.ingest.grey import to_grey_uint8
from medseal.models.arrays import Split, SplitData
from medseal.privacy.masking.descriptor import NO_SHIFT, MaskDescriptor

if TYPE_CHECKING:  # pragma: no cover
    from medseal.vault import ObjectInfo, Vault

__all__ = [
    "load_masked_from_vault",
    "load_masked_views",
    "load_masked_views_with_offsets",
    "masked_images",
]


def masked_images(vault: Vault, *, as_: str, dataset: str | None) -> list[ObjectInfo]:
    """The masked objects of ``dataset`` that stand for an image (no owner-made shifted copies)."""
    return [
        i
        for i in vault.ls(as_=as_, dataset=dataset)
        if i.kind == "masked" and MaskDescriptor.from_manifest(i.manifest).shift == NO_SHIFT
    ]


def load_masked_from_vault(
    vault: Vault, *, as_: str, dataset: str, ids: Sequence[str] | None = None
) -> tuple[SplitData, MaskDescriptor]:
    """The masked objects of ``dataset`` an analyst may read, as splits (never plaintext).

    Reads only ``kind == "masked"`` objects through :meth:`Vault.get_masked`;
    labels and splits come from the catalogue. Objects without a split go to
    ``train``. Returns the splits and the descriptor of the masking they share.

    Raises
    ------
    InputError
        No masked objects, or objects masked with different schemes.
    """
    infos = masked_images(vault, as_=as_, dataset=dataset)
    if ids is not None:
        wanted = set(ids)
        infos = [i for i in infos if i.id in wanted]
    if not infos:
        raise InputError(f"no masked objects in dataset {dataset!r}: run `medseal mask` first")
    descriptors = [MaskDescriptor.from_manifest(i.manifest) for i in infos]
    if len({d.masking for d in descriptors}) != 1:
        n = len({d.masking for d in descriptors})
        raise InputError(f"dataset {dataset!r} holds images masked with {n} schemes")
    groups: dict[str, list[tuple[np.ndarray, int, str]]] = {"train": [], "val": [], "test": []}
    labelled = [i for i in infos if i.label is not None]
    for start in range(0, len(labelled), 256):  # batched reads: one audit entry per chunk
        chunk = labelled[start : start + 256]
        for info, raw in zip(
            chunk, vault.get_masked_many([i.id for i in chunk], as_=as_), strict=True
        ):
            split = info.split if info.split in groups else "train"
            groups[split].append((to_grey_uint8(raw), int(info.label), info.id))  # type: ignore[arg-type]
    out = {}
    for s, items in groups.items():
        if items:
            out[s] = Split(
                np.stack([p for p, _, _ in items]),
                np.asarray([lab for _, lab, _ in items], dtype=np.int64),
                [i for _, _, i in items],
            )
        else:
            shape = next(p.shape for v in groups.values() for p, _, _ in v)
            out[s] = Split(np.zeros((0, *shape), np.uint8), np.zeros(0, np.int64), [])
    data = SplitData(dataset, out["train"], out["val"], out["test"], "vault splits")
    return data, descriptors[0]


def load_masked_views(
    vault: Vault, *, as_: str, dataset: str, ids: Sequence[str]
) -> np.ndarray | None:
    """The owner-made shifted masked copies of the masked objects ``ids``, as ``(V, N, H, W)``.

    ``medseal mask --shifts S --allow-key-leaking-shifts`` stores, besides each
    masked image, masked copies of its plaintext cyclically shifted by up to
    ``S`` pixels. View ``k`` of image ``n`` is the masking of image ``n`` shifted
    by the ``k``-th offset that *every* image in ``ids`` has. Returns ``None``
    when there are no such copies (or none shared by all). Whoever reads them
    can recover the key (:mod:`medseal.evaluate.attacks.views`).
    """
    got = load_masked_views_with_offsets(vault, as_=as_, dataset=dataset, ids=ids)
    return None if got is None else got[0]


def load_masked_views_with_offsets(
    vault: Vault, *, as_: str, dataset: str, ids: Sequence[str]
) -> tuple[np.ndarray, list[tuple[int, int]]] | None:
    """:func:`load_masked_views` and the shift ``(dy, dx)`` of each view (from the manifests)."""
    infos = [i for i in vault.ls(as_=as_, dataset=dataset) if i.kind == "masked"]
    by_id = {i.id: i for i in infos}
    parents = [by_id[i].parent_id for i in ids if i in by_id]
    if len(parents) != len(ids) or not ids:
        return None
    masking = MaskDescriptor.from_manifest(by_id[ids[0]].manifest).masking
    copies: dict[str | None, dict[tuple[int, int], str]] = {}
    for i in infos:
        d = MaskDescriptor.from_manifest(i.manifest)
        if d.masking == masking:
            copies.setdefault(i.parent_id, {})[d.shift] = i.id
    shared = set.intersection(*(set(copies.get(p, {})) for p in parents))
    if len(shared) < 2:
        return None
    offsets = sorted(shared)
    views = np.stack(
        [
            np.stack(
                [
                    to_grey_uint8(raw)
                    for raw in vault.get_masked_many([copies[p][o] for p in parents], as_=as_)
                ]
            )
            for o in offsets
        ]
    )
    return views, offsets
