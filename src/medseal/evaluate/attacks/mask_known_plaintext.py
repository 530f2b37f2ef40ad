"""Known-plaintext attack on keyed block-wise masking: a few pairs give the whole key.

Where it sits: evaluate stage, against :mod:`medseal.privacy.masking`.

Every masking scheme applies one in-block transform (permutation ``perm`` and
flips ``flip``) to every block of every image under a key, and one block order
to every image of the same size. From ``n`` known (plain, masked) pairs:

1. *block order* (only if the scheme scrambles blocks): a block keeps its
   multiset of ``min(x, top - x)`` values under shuffling and flipping, so
   masked block ``j`` is matched to the plain block position with the same
   sorted profile across the ``n`` pairs;
2. *in-block transform*: masked value ``k`` of every block equals plain value
   ``p`` (or ``top -`` it) in *every* known block; with the blocks aligned, a
   column of ``n * n_blocks`` values almost always matches exactly one ``p``.

Then any other image masked under that key is unmasked exactly. One pair is
usually enough (flat background blocks make a few positions ambiguous; a
second pair removes that). No ciphertext statistics, no learning: equality tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medseal.errors import InputError
from medseal.privacy.masking import blockify, unblockify

__all__ = ["RecoveredMask", "mask_known_plaintext_attack", "recover_mask", "unmask_with"]


@dataclass
class RecoveredMask:
    """The recovered key material: block order, in-block permutation, flips."""

    block: int
    perm: np.ndarray = field(repr=False)
    flip: np.ndarray = field(repr=False)
    order: np.ndarray | None = field(repr=False)
    top: int
    ambiguous_positions: int
    ambiguous_blocks: int


def _blocks(x: np.ndarray, block: int) -> np.ndarray:
    b = blockify(x, block)  # (N, hb, wb, K)
    return b.reshape(b.shape[0], -1, b.shape[-1])


def recover_mask(
    plain: np.ndarray,
    masked: np.ndarray,
    *,
    block: int,
    bit_depth: int = 8,
    scrambled: bool = False,
) -> RecoveredMask:
    """Recover a scheme's transform from known pairs (``uint8``/``uint16`` ``(N, H, W)``).

    Parameters
    ----------
    plain, masked
        Known pairs, same shape.
    block
        Block side (public: it is visible from the image grid anyway).
    scrambled
        Whether block positions are permuted too (the scheme name is public).
    """
    plain, masked = np.asarray(plain), np.asarray(masked)
    if plain.shape != masked.shape or plain.ndim != 3:
        raise InputError(f"need pairs of (N, H, W) arrays, got {plain.shape} and {masked.shape}")
    top = (1 << bit_depth) - 1
    P = _blocks(plain, block).astype(np.int64)
    Q = _blocks(masked, block).astype(np.int64)
    n, nb, k = P.shape
    order = None
    amb_blocks = 0
    if scrambled:
        fold_p = np.sort(np.minimum(P, top - P), axis=2).transpose(1, 0, 2).reshape(nb, -1)
        fold_q = np.sort(np.minimum(Q, top - Q), axis=2).transpose(1, 0, 2).reshape(nb, -1)
        by_sig: dict[bytes, list[int]] = {}
        for i in range(nb):
            by_sig.setdefault(fold_p[i].tobytes(), []).append(i)
        order = np.full(nb, -1, dtype=np.int64)
        used = np.zeros(nb, dtype=bool)
        for j in range(nb):
            spots = [i for i in by_sig.get(fold_q[j].tobytes(), []) if not used[i]]
            if len(spots) != 1:
                amb_blocks += 1
            if spots:
                order[j] = spots[0]
                used[spots[0]] = True
        free = iter(np.flatnonzero(~used).tolist())
        for j in np.flatnonzero(order < 0).tolist():  # no exact profile: any free position
            order[j] = next(free)
        P = P[:, order, :]
    cols_p = P.reshape(n * nb, k).T  # (K, samples)
    cols_q = Q.reshape(n * nb, k).T
    direct: dict[bytes, list[int]] = {}
    flipped: dict[bytes, list[int]] = {}
    for p in range(k):
        direct.setdefault(cols_p[p].tobytes(), []).append(p)
        flipped.setdefault((top - cols_p[p]).tobytes(), []).append(p)
    perm = np.full(k, -1, dtype=np.int64)
    flip = np.zeros(k, dtype=bool)
    taken = np.zeros(k, dtype=bool)
    amb = 0
    for q in range(k):
        key = cols_q[q].tobytes()
        cands: list[tuple[int, bool]] = [(i, False) for i in direct.get(key, []) if not taken[i]]
        cands += [(i, True) for i in flipped.get(key, []) if not taken[i]]
        if len(cands) != 1:
            amb += 1
        if not cands:  # no exact match (ambiguous block order): nearest column
            d0 = np.abs(cols_p - cols_q[q]).sum(axis=1).astype(np.float64)
            d1 = np.abs(top - cols_p - cols_q[q]).sum(axis=1).astype(np.float64)
            d0[taken] = d1[taken] = np.inf
            best0, best1 = int(np.argmin(d0)), int(np.argmin(d1))
            cands = [(best0, False)] if d0[best0] <= d1[best1] else [(best1, True)]
        src, neg = cands[0]
        perm[q], flip[q] = src, neg
        taken[src] = True
    return RecoveredMask(block, perm, flip, order, top, amb, amb_blocks)


def unmask_with(key: RecoveredMask, masked: np.ndarray) -> np.ndarray:
    """Undo the recovered transform on images ``(N, H, W)`` masked under the same key."""
    masked = np.asarray(masked)
    b = blockify(masked, key.block)
    n, hb, wb, k = b.shape
    q = b.reshape(n, hb * wb, k)
    vals = np.where(key.flip, key.top - q, q)
    out = np.empty_like(q)
    out[:, :, key.perm] = vals
    if key.order is not None:
        res = np.empty_like(out)
        res[:, key.order, :] = out
        out = res
    return unblockify(out.reshape(n, hb, wb, k).astype(masked.dtype), key.block)


def mask_known_plaintext_attack(
    known_plain: np.ndarray,
    known_masked: np.ndarray,
    target_masked: np.ndarray,
    *,
    block: int,
    scrambled: bool = False,
    bit_depth: int = 8,
    truth: np.ndarray | None = None,
    true_perm: np.ndarray | None = None,
    true_flip: np.ndarray | None = None,
) -> dict[str, Any]:
    """Recover the key from known pairs and unmask the targets.

    Returns
    -------
    dict
        ``reconstruction`` (array), ``n_pairs``, ``ambiguous_positions``,
        ``ambiguous_blocks``, and when ``truth`` is given ``pixel_exact`` (share of
        target pixels recovered exactly) and ``image_exact`` (share of whole
        images); with ``true_perm``/``true_flip``, ``key_exact``.
    """
    key = recover_mask(
        known_plain, known_masked, block=block, scrambled=scrambled, bit_depth=bit_depth
    )
    rec = unmask_with(key, target_masked)
    out: dict[str, Any] = {
        "reconstruction": rec,
        "n_pairs": int(np.asarray(known_plain).shape[0]),
        "ambiguous_positions": key.ambiguous_positions,
        "ambiguous_blocks": key.ambiguous_blocks,
    }
    if truth is not None:
        truth = np.asarray(truth)
        out["pixel_exact"] = float(np.mean(rec == truth))
        out["image_exact"] = float(np.mean(np.all(rec == truth, axis=(1, 2))))
    if true_perm is not None and true_flip is not None:
        out["key_exact"] = bool(
            np.array_equal(key.perm, true_perm) and np.array_equal(key.flip, true_flip)
        )
    return out
