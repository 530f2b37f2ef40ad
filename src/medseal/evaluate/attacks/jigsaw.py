"""Jigsaw-puzzle solver against block scrambling (ciphertext-only).

Where it sits: evaluate stage, against the ``block`` step of
:mod:`medseal.privacy.masking`. Block scrambling moves whole ``M x M`` blocks
but leaves their content intact, so neighbouring blocks of the original image
still continue each other across their shared edge. The solver needs only the
scrambled image and the (public) block size:

1. *compatibility*: for every ordered pair of blocks, the squared error of
   predicting one block's edge column (row) from the other's last two columns
   (rows) by linear extrapolation, in both directions (in the spirit of
   Gallagher's gradient-based compatibility, CVPR 2012);
2. *greedy placement* in a frame of the known grid size: start from the most
   compatible pair, then repeatedly fill the empty cell with the most placed
   neighbours with the unplaced block that fits them best, never letting the
   placed region outgrow the frame.

It does not apply to ``shuffle`` or ``negpos`` (edges are scrambled inside
each block); those fall to the known-plaintext and learned-inverse attacks.

References
----------
T. Chuman, K. Kurihara, H. Kiya, "On the security of block scrambling-based
EtC systems against jigsaw puzzle solver attacks", ICASSP 2017.
A. C. Gallagher, "Jigsaw puzzles with pieces of unknown orientation", CVPR 2012.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medseal.errors import InputError

__all__ = ["compatibilities", "jigsaw_attack", "solve"]


def _pieces(image: np.ndarray, block: int) -> tuple[np.ndarray, int, int]:
    h, w = image.shape
    if h % block or w % block:
        raise InputError(
            f"image shape {image.shape} is not a multiple of the block ({block}, {block})"
        )
    rows, cols = h // block, w // block
    p = image.astype(np.float64).reshape(rows, block, cols, block).transpose(0, 2, 1, 3)
    return p.reshape(rows * cols, block, block), rows, cols


def compatibilities(pieces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dissimilarities ``(lr, tb)``: ``lr[i, j]`` for ``j`` right of ``i``, ``tb[i, j]`` for ``j`` below ``i``."""

    def pair_cost(
        a_last: np.ndarray, a_prev: np.ndarray, b_first: np.ndarray, b_next: np.ndarray
    ) -> np.ndarray:
        if a_prev is a_last:  # one-pixel blocks: no gradient, plain edge difference
            fwd = a_last[:, None, :] - b_first[None, :, :]
            return 2 * (fwd**2).sum(-1)
        pred_b = 2 * a_last - a_prev  # extrapolate i across the edge
        pred_a = 2 * b_first - b_next  # and j back across it
        c = ((pred_b[:, None, :] - b_first[None, :, :]) ** 2).sum(-1)
        c += ((pred_a[None, :, :] - a_last[:, None, :]) ** 2).sum(-1)
        return c

    m = pieces.shape[1]
    prev = -2 if m > 1 else -1
    nxt = 1 if m > 1 else 0
    lr = pair_cost(pieces[:, :, -1], pieces[:, :, prev], pieces[:, :, 0], pieces[:, :, nxt])
    tb = pair_cost(pieces[:, -1, :], pieces[:, prev, :], pieces[:, 0, :], pieces[:, nxt, :])
    np.fill_diagonal(lr, np.inf)
    np.fill_diagonal(tb, np.inf)
    return _normalise(lr), _normalise(tb)


def _normalise(d: np.ndarray) -> np.ndarray:
    """Divide by the second-best alternative of the row/column (rewards unambiguous matches)."""
    if d.shape[0] < 3:
        return d
    row = np.sort(d, axis=1)[:, 1:2]
    col = np.sort(d, axis=0)[1:2, :]
    return d / (np.minimum(row, col) + 1e-6)


def solve(scrambled: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Re-assemble one block-scrambled grey image.

    Returns
    -------
    (reconstruction, placement)
        ``placement[r, c]`` is the index (row-major, in the scrambled image) of
        the block put at grid cell ``(r, c)``.
    """
    img = np.asarray(scrambled)
    if img.ndim != 2:
        raise InputError(f"expected one grey image (H, W), got shape {img.shape}")
    pieces, rows, cols = _pieces(img, block)
    n = len(pieces)
    if n == 1:
        return img.copy(), np.zeros((1, 1), dtype=np.int64)
    lr, tb = compatibilities(pieces)
    canvas = np.full((2 * rows + 1, 2 * cols + 1), -1, dtype=np.int64)
    r0, c0 = rows, cols
    if cols > 1:
        i, j = np.unravel_index(int(np.argmin(lr)), lr.shape)
        canvas[r0, c0], canvas[r0, c0 + 1] = i, j
    else:
        i, j = np.unravel_index(int(np.argmin(tb)), tb.shape)
        canvas[r0, c0], canvas[r0 + 1, c0] = i, j
    placed = np.zeros(n, dtype=bool)
    placed[[i, j]] = True
    for _ in range(n - 2):
        filled = np.argwhere(canvas >= 0)
        (rmin, cmin), (rmax, cmax) = filled.min(0), filled.max(0)
        best: tuple[int, float, int, int, int] | None = None  # (-neighbours, cost, r, c, piece)
        free = np.flatnonzero(~placed)
        seen: set[tuple[int, int]] = set()
        for fr, fc in filled:
            for r, c in ((fr - 1, fc), (fr + 1, fc), (fr, fc - 1), (fr, fc + 1)):
                if (r, c) in seen or canvas[r, c] >= 0:
                    continue
                seen.add((r, c))
                if max(rmax, r) - min(rmin, r) >= rows or max(cmax, c) - min(cmin, c) >= cols:
                    continue
                cost = np.zeros(len(free))
                k = 0
                if canvas[r, c - 1] >= 0:
                    cost += lr[canvas[r, c - 1], free]
                    k += 1
                if canvas[r, c + 1] >= 0:
                    cost += lr[free, canvas[r, c + 1]]
                    k += 1
                if canvas[r - 1, c] >= 0:
                    cost += tb[canvas[r - 1, c], free]
                    k += 1
                if canvas[r + 1, c] >= 0:
                    cost += tb[free, canvas[r + 1, c]]
                    k += 1
                cost /= k
                b = int(np.argmin(cost))
                cand = (-k, float(cost[b]), int(r), int(c), int(free[b]))
                if best is None or cand[:2] < best[:2]:
                    best = cand
        if best is None:  # cannot happen for a consistent frame; keep the loop total
            raise RuntimeError("jigsaw placement ran out of cells")
        _, _, r, c, piece = best
        canvas[r, c] = piece
        placed[piece] = True
    filled = np.argwhere(canvas >= 0)
    (rmin, cmin) = filled.min(0)
    placement = canvas[rmin : rmin + rows, cmin : cmin + cols]
    out = pieces[placement.ravel()].reshape(rows, cols, block, block).transpose(0, 2, 1, 3)
    return out.reshape(rows * block, cols * block).astype(img.dtype), placement


def jigsaw_attack(
    scrambled: np.ndarray,
    block: int,
    *,
    order: np.ndarray | None = None,
    truth: np.ndarray | None = None,
) -> dict[str, Any]:
    """Solve a batch ``(N, H, W)`` of block-scrambled images; score it when the truth is given.

    Parameters
    ----------
    scrambled
        Images masked with a scheme whose only step is ``block`` (ciphertext only).
    order
        The true block order (``scheme.block_order(n_blocks)``: masked block ``j`` is
        plain block ``order[j]``), only to score the placement.
    truth
        Plain images, only to score the reconstruction.

    Returns
    -------
    dict
        ``reconstruction``; with ``order``: ``direct`` (share of blocks at their
        true position) and ``neighbour`` (share of true horizontal/vertical
        neighbour pairs that the solution keeps); with ``truth``: ``pixel_exact``.
    """
    x = np.asarray(scrambled)
    if x.ndim == 2:
        x = x[None]
    recs, direct, neigh = [], [], []
    for img in x:
        rec, placement = solve(img, block)
        recs.append(rec)
        if order is not None:
            src = np.asarray(order)[placement]  # plain index of the block at each cell
            rows, cols = placement.shape
            truth_idx = np.arange(rows * cols).reshape(rows, cols)
            direct.append(float(np.mean(src == truth_idx)))
            pos = {int(v): (int(a), int(b)) for (a, b), v in np.ndenumerate(src)}
            ok = tot = 0
            for i in range(rows * cols):
                r, c = divmod(i, cols)
                for j, dr, dc in ((i + 1, 0, 1), (i + cols, 1, 0)):
                    if (dc and c + 1 >= cols) or (dr and r + 1 >= rows):
                        continue
                    tot += 1
                    pr, pc = pos[i]
                    ok += pos[j] == (pr + dr, pc + dc)
            neigh.append(ok / max(tot, 1))
    rec_arr = np.stack(recs)
    out: dict[str, Any] = {"reconstruction": rec_arr, "n": len(rec_arr)}
    if order is not None:
        out["direct"] = float(np.mean(direct))
        out["neighbour"] = float(np.mean(neigh))
    if truth is not None:
        out["pixel_exact"] = float(np.mean(rec_arr == np.asarray(truth).reshape(rec_arr.shape)))
    return out
