"""Learned inverse: a decoder fitted on N known (plain, protected) pairs, N swept.

Where it sits: evaluate stage, against masking and as a control against AES.

The decoder is block-wise and linear: each ``M x M`` block of the protected
image (plus a constant) is mapped to the ``M x M`` block of the plaintext at
the same position by ridge regression, fitted in closed form on the blocks of
the ``N`` known pairs. This is the right model class for the in-block masking
schemes (their inverse *is* a fixed linear map of each block, so enough pairs
recover it exactly) and a fair one for AES bytes (if any linear relation
between ciphertext bytes and pixels existed, it would find it). For AES the
best it can do is predict the average training block at each position: the
``mean_image`` baseline reported beside it, which scores well above 0 in SSIM
simply because chest X-rays look alike. Block *scrambling* defeats this
decoder's positions (contents come back, layout does not): combine it with
:mod:`~medseal.evaluate.attacks.jigsaw` or a known-plaintext block order.

Only an attacker with pairs is modelled here; GAN-based attacks without pairs
(Madono et al. 2020; Ito, Kinoshita and Kiya) are stronger than "fail", and
are not reproduced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medseal.errors import InputError
from medseal.privacy.masking import blockify, unblockify

__all__ = ["BlockLinearDecoder", "learned_inverse_sweep"]


class BlockLinearDecoder:
    """Ridge regression from protected blocks to plain blocks, shared by all block positions.

    Parameters
    ----------
    block : int
        Block side.
    ridge : float
        L2 penalty (on centred ``[-1, 1]`` values); keeps ``N = 1`` well posed.
    per_position : bool
        Add a one-hot block position to the features (lets the decoder learn
        the mean image at each position, which is all it can learn from AES).
    """

    def __init__(self, block: int, *, ridge: float = 1e-3, per_position: bool = True) -> None:
        self.block = block
        self.ridge = ridge
        self.per_position = per_position
        self.weights: np.ndarray | None = None

    def _features(self, x: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        b = blockify(np.asarray(x), self.block)
        n, hb, wb, k = b.shape
        f = b.reshape(n * hb * wb, k).astype(np.float64) / 127.5 - 1.0
        parts = [f, np.ones((len(f), 1))]
        if self.per_position:
            parts.append(np.tile(np.eye(hb * wb), (n, 1)))
        return np.hstack(parts), (n, hb, wb, k)

    def fit(self, protected: np.ndarray, plain: np.ndarray) -> BlockLinearDecoder:
        if np.asarray(protected).shape != np.asarray(plain).shape:
            raise InputError(f"pairs differ in shape: {np.shape(protected)} vs {np.shape(plain)}")
        f, (n, hb, wb, k) = self._features(protected)
        y = blockify(np.asarray(plain), self.block).reshape(-1, k).astype(np.float64) / 127.5 - 1.0
        gram = f.T @ f + self.ridge * len(f) * np.eye(f.shape[1]) / max(f.shape[1], 1)
        self.weights = np.linalg.solve(gram, f.T @ y)
        return self

    def predict(self, protected: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise InputError("fit the decoder before predicting")
        f, (n, hb, wb, k) = self._features(protected)
        out = (f @ self.weights + 1.0) * 127.5
        blocks = np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(n, hb, wb, k)
        return unblockify(blocks, self.block)


def learned_inverse_sweep(
    train_plain: np.ndarray,
    train_protected: np.ndarray,
    test_plain: np.ndarray,
    test_protected: np.ndarray,
    *,
    block: int,
    n_pairs: Sequence[int] = (1, 4, 16, 64, 256),
    ridge: float = 1e-3,
) -> list[dict[str, Any]]:
    """Fit the decoder on the first ``N`` pairs for each ``N``; score on the test images.

    Returns
    -------
    list of dict
        One row per ``N``: ``n_pairs``, ``mae`` (grey levels), ``pixel_exact``,
        and ``reconstruction`` (the test reconstructions). SSIM and downstream
        AUC are added by the caller (:mod:`medseal.evaluate.seed000`).
    """
    rows = []
    avail = len(train_plain)
    for n in n_pairs:
        if n > avail:
            continue
        dec = BlockLinearDecoder(block, ridge=ridge).fit(train_protected[:n], train_plain[:n])
        rec = dec.predict(test_protected)
        rows.append(
            {
                "n_pairs": int(n),
                "mae": float(np.mean(np.abs(rec.astype(np.int16) - test_plain.astype(np.int16)))),
                "pixel_exact": float(np.mean(rec == test_plain)),
                "reconstruction": rec,
            }
        )
    return rows
