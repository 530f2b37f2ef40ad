"""Views attack: the key from several masked copies of the same images, no plaintext at all.

Where it sits: evaluate stage, against :mod:`medseal.privacy.masking` and
against what an analyst holds (``medseal mask --shifts`` copies and their
manifests, or the owner-side augmentation of ``evaluate seed000``).

Setting. The analyst holds masked copies ``copy_v = mask(roll(x, s_v))`` of the
same images under known cyclic shifts ``s_v`` (a manifest records each shift),
masked with one in-block transform: slot ``k`` of every block holds the plain
value at in-block position ``pos[k]``, negated (``255 - v``) where ``flip[k]``.
Slot ``k`` of copy ``j`` at block ``B`` and slot ``l`` of copy ``i`` at block
``B + q`` hold the *same* plain pixel in every block exactly when
``pos[k] - pos[l] = (s_j - s_i) + q * M``. So for each pair of copies and each
block offset ``q`` the attack looks for slot pairs whose columns agree over
all blocks of all images, equal (same flip) or ``255 -`` (opposite flips).
Each such pair is an edge "``pos[k] = pos[l] + D``, ``flip[k] xor flip[l] = c``";
a breadth-first walk over the edges places every slot relative to the others,
and a connected component spanning ``M x M`` is pinned to absolute positions.
A 1 px shift in each axis already connects all slots: the whole permutation
and all flips, up to one global bit (negating every pixel of every image),
come out of the copies alone.

Copies that differ by whole blocks (the analyst's own key-free shifts), or by
a pointwise map or noise, give no edge (``D = 0``): nothing beyond chance.

The result is scored against the true key when it is given (tests, reports):
fraction of slots placed right (chance ``1/K``), fraction of flips right up to
the global bit, and the share of test pixels unmasked exactly with the
recovered key, beside the same share for a random key (chance).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medseal.errors import InputError
from medseal.privacy.masking import blockify, unblockify

__all__ = ["RecoveredViews", "recover_from_views", "unmask_in_block", "views_attack"]


@dataclass
class RecoveredViews:
    """What the copies revealed: in-block permutation and flips (flips up to one global bit)."""

    block: int
    perm: np.ndarray = field(repr=False)  # perm[k]: in-block index (row * M + col) of slot k
    flip: np.ndarray = field(repr=False)
    determined: np.ndarray = field(repr=False)  # slots whose position the copies pin down
    edges: int
    components: int
    conflicts: int


def _grid(x: np.ndarray, block: int) -> np.ndarray:
    return blockify(np.asarray(x), block).astype(np.int16)  # (N, gh, gw, K)


def _edges_between(
    a: np.ndarray, b: np.ndarray, top: int, rows: np.ndarray
) -> list[tuple[int, int, int]]:
    """Slot pairs (k of ``a``, l of ``b``, c) whose columns agree in every sampled block.

    ``c`` is 0 for equal columns, 1 for complementary ones (``a = top - b``).
    Slots with more than one candidate are ambiguous and give no edge.
    """
    av = a.reshape(-1, a.shape[-1])[rows]
    bv = b.reshape(-1, b.shape[-1])[rows]
    k = av.shape[1]
    eq = np.ones((k, k), dtype=bool)
    cp = np.ones((k, k), dtype=bool)
    for l_slot in range(k):
        col = bv[:, l_slot : l_slot + 1]
        eq[:, l_slot] = (av == col).all(axis=0)
        cp[:, l_slot] = (av == top - col).all(axis=0)
    out = []
    for k_slot in range(k):
        cands = [(int(l_slot), 0) for l_slot in np.flatnonzero(eq[k_slot])] + [
            (int(l_slot), 1) for l_slot in np.flatnonzero(cp[k_slot])
        ]
        if len(cands) == 1:
            out.append((k_slot, cands[0][0], cands[0][1]))
    return out


def recover_from_views(
    copies: np.ndarray,
    shifts: Sequence[tuple[int, int]],
    *,
    block: int,
    bit_depth: int = 8,
    max_blocks: int = 4000,
    seed: int = 0,
) -> RecoveredViews:
    """Recover the in-block transform from masked copies of the same images under known shifts.

    Parameters
    ----------
    copies
        ``(V, N, H, W)`` integer images: copy ``v`` of image ``n`` is the masking of
        image ``n`` cyclically shifted by ``shifts[v]`` (rows, columns).
    shifts
        One ``(dy, dx)`` per copy, as the manifests record them.
    block
        Block side ``M`` (from the manifest).
    max_blocks
        At most this many block positions (sampled with ``seed``) are compared.

    Returns
    -------
    RecoveredViews
        Positions of undetermined slots are filled with the free positions in
        a seeded random order (a guess, scored as such).
    """
    c = np.asarray(copies)
    if c.ndim != 4 or len(shifts) != c.shape[0]:
        raise InputError(
            f"copies must be (V, N, H, W) with one shift per copy, got {c.shape} and {len(shifts)} shifts"
        )
    top = 2**bit_depth - 1
    m = int(block)
    grids = [_grid(c[v], m) for v in range(c.shape[0])]
    k = grids[0].shape[-1]
    n_rows = grids[0].shape[0] * grids[0].shape[1] * grids[0].shape[2]
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n_rows, size=min(max_blocks, n_rows), replace=False))
    adj: dict[int, list[tuple[int, int, int, int]]] = {s: [] for s in range(k)}
    n_edges = 0
    for j in range(len(grids)):
        for i in range(len(grids)):
            if i == j:
                continue
            dy = int(shifts[j][0]) - int(shifts[i][0])
            dx = int(shifts[j][1]) - int(shifts[i][1])
            for qy in {-((dy) // m) - 1, -((dy) // m)}:
                for qx in {-((dx) // m) - 1, -((dx) // m)}:
                    big_y, big_x = dy + qy * m, dx + qx * m
                    if (big_y, big_x) == (0, 0) or abs(big_y) >= m or abs(big_x) >= m:
                        continue
                    moved = np.roll(
                        grids[i], shift=(-qy, -qx), axis=(1, 2)
                    )  # moved[B] = grid[B + q]
                    for ks, ls, flip_rel in _edges_between(grids[j], moved, top, rows):
                        # pos[ks] = pos[ls] + (big_y, big_x)
                        adj[ks].append((ls, -big_y, -big_x, flip_rel))
                        adj[ls].append((ks, big_y, big_x, flip_rel))
                        n_edges += 1
    pos: dict[int, tuple[int, int]] = {}
    rel_flip: dict[int, int] = {}
    comp_of: dict[int, int] = {}
    conflicts = 0
    comps: list[list[int]] = []
    for start in range(k):
        if start in pos:
            continue
        cid = len(comps)
        comps.append([start])
        pos[start], rel_flip[start], comp_of[start] = (0, 0), 0, cid
        queue = deque([start])
        while queue:
            u = queue.popleft()
            for v, oy, ox, fr in adj[u]:
                want = (pos[u][0] + oy, pos[u][1] + ox)
                if v in pos:
                    if pos[v] != want or rel_flip[v] != rel_flip[u] ^ fr:
                        conflicts += 1
                    continue
                pos[v], rel_flip[v], comp_of[v] = want, rel_flip[u] ^ fr, cid
                comps[cid].append(v)
                queue.append(v)
    perm = np.full(k, -1, dtype=np.int64)
    flip = np.zeros(k, dtype=bool)
    determined = np.zeros(k, dtype=bool)
    for members in comps:
        ys = [pos[s][0] for s in members]
        xs = [pos[s][1] for s in members]
        pinned = (max(ys) - min(ys) == m - 1) and (max(xs) - min(xs) == m - 1)
        if not pinned:
            continue
        for s in members:
            perm[s] = (pos[s][0] - min(ys)) * m + (pos[s][1] - min(xs))
            # flips are known relative to the component's first slot (its bit is a guess)
            flip[s] = bool(rel_flip[s])
            determined[s] = True
    if len(set(perm[determined].tolist())) != int(determined.sum()):  # inconsistent placement
        determined[:] = False
        perm[:] = -1
    free = np.setdiff1d(np.arange(k), perm[determined])
    undetermined = np.flatnonzero(~determined)
    perm[undetermined] = rng.permutation(free)[: len(undetermined)]
    flip[undetermined] = rng.integers(0, 2, size=len(undetermined)).astype(bool)
    return RecoveredViews(
        block=m,
        perm=perm,
        flip=flip,
        determined=determined,
        edges=n_edges,
        components=len(comps),
        conflicts=conflicts,
    )


def unmask_in_block(
    masked: np.ndarray, perm: np.ndarray, flip: np.ndarray, block: int
) -> np.ndarray:
    """Undo an in-block transform (``masked[k] = plain[perm[k]]``, negated where ``flip[k]``)."""
    b = blockify(np.asarray(masked), block)
    vals = np.where(flip, 255 - b.astype(np.int16), b.astype(np.int16))
    out = np.empty_like(vals)
    out[..., perm] = vals
    return unblockify(out.astype(np.uint8), block)


def views_attack(
    copies: np.ndarray,
    shifts: Sequence[tuple[int, int]],
    *,
    block: int,
    steps: Sequence[str] = ("shuffle", "negpos"),
    true_perm: np.ndarray | None = None,
    true_flip: np.ndarray | None = None,
    test_masked: np.ndarray | None = None,
    test_plain: np.ndarray | None = None,
    max_blocks: int = 4000,
    seed: int = 0,
    n_chance: int = 64,
) -> dict[str, Any]:
    """Run :func:`recover_from_views` and score it against the true key and chance.

    Parameters
    ----------
    copies, shifts, block
        What the analyst holds (see :func:`recover_from_views`).
    steps
        The scheme's steps from the manifest; block scrambling (``block``) is out
        of this attack's scope (``applicable`` is then ``False``).
    true_perm, true_flip
        The key's in-block transform (``scheme.block_transform(1)``), for scoring.
    test_masked, test_plain
        Other images masked under the key and their truth: share of pixels the
        recovered key unmasks exactly (best of the two values of the global bit)
        beside what random keys unmask (chance).
    n_chance
        Random keys drawn for the chance figures (their mean, and the 95th
        percentile of the pixel share).

    Returns
    -------
    dict
        ``n_views``, ``shifts``, ``edges``, ``determined`` (share of slots the copies
        pin down, no truth needed), ``key_exact`` (permutation and flips up to the
        global bit), ``perm_fraction`` (chance ``1/K``: ``perm_chance``),
        ``flip_fraction`` (up to the global bit), ``key_fraction`` (slot placed and
        flipped right; ``key_fraction_chance``, mean over random keys), ``pixel_exact``,
        ``pixel_exact_chance`` (mean over random keys) and ``pixel_exact_chance_p95``,
        ``pixel_exact_above_chance`` (above that percentile), ``above_chance`` (some slot pinned by the copies, and
        pinned right; undetermined slots are random guesses and do not count).
    """
    c = np.asarray(copies)
    out: dict[str, Any] = {
        "n_views": int(c.shape[0]) if c.ndim == 4 else 0,
        "shifts": [[int(a), int(b)] for a, b in shifts],
        "applicable": "block" not in steps,
    }
    if not out["applicable"]:
        out["note"] = "block scrambling is outside this attack's scope"
        return out
    rec = recover_from_views(c, shifts, block=block, max_blocks=max_blocks, seed=seed)
    k = len(rec.perm)
    out.update(
        edges=rec.edges,
        components=rec.components,
        conflicts=rec.conflicts,
        determined=float(rec.determined.mean()),
        perm_chance=1.0 / k,
    )
    if true_perm is None or true_flip is None:
        return out
    tp, tf = np.asarray(true_perm), np.asarray(true_flip, dtype=bool)
    place = rec.perm == tp
    same = rec.flip == tf
    best_same = same if same.sum() >= (~same).sum() else ~same
    out["perm_fraction"] = float(place.mean())
    out["flip_fraction"] = float(best_same.mean())
    out["key_fraction"] = float((place & best_same).mean())
    out["key_exact"] = bool(place.all() and best_same.all())
    # chance: what keys drawn at random score (a mean over n_chance draws, and the
    # 95th percentile: one draw is noisy, since a random key places 1/K of the
    # slots right on average and a slot holds 1/K of the pixels)
    rng = np.random.default_rng(seed + 1)
    draws = [(rng.permutation(k), rng.integers(0, 2, size=k).astype(bool)) for _ in range(n_chance)]
    out["n_chance"] = n_chance
    out["key_fraction_chance"] = float(
        np.mean([((rp == tp) & (rf == tf)).mean() for rp, rf in draws])
    )
    if test_masked is not None and test_plain is not None:
        truth = np.asarray(test_plain)
        cands = [
            float((unmask_in_block(test_masked, rec.perm, f, block) == truth).mean())
            for f in (rec.flip, ~rec.flip)
        ]
        out["pixel_exact"] = max(cands)
        chance = np.array(
            [
                max(
                    float((unmask_in_block(test_masked, rp, f, block) == truth).mean())
                    for f in (rf, ~rf)
                )
                for rp, rf in draws
            ]
        )
        out["pixel_exact_chance"] = float(chance.mean())
        out["pixel_exact_chance_p95"] = float(np.percentile(chance, 95))
        out["pixel_exact_above_chance"] = bool(out["pixel_exact"] > out["pixel_exact_chance_p95"])
    # above chance: the copies pinned at least one slot, and pinned it right
    out["above_chance"] = bool((place & rec.determined).any())
    return out
