"""The pieces of an HE program: affine and square layers, the packings, the single-image layout.

Where it sits: privacy stage, under :mod:`.program` (which chains these layers,
plans and serializes them). Everything here is public, like the program: the
compute host holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medseal.privacy.ckks.backend import AffineWeights, TapsWeights
from medseal.privacy.ckks.errors import CKKSPlanError

__all__ = ["AffineLayer", "Layer", "Packing", "SinglePacking", "SquareLayer"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class AffineLayer:
    """``y = W x + b`` with ``W`` kept sparse (CSR rows: one per output ciphertext)."""

    n_in: int
    n_out: int
    indptr: I64 = field(repr=False)
    indices: I64 = field(repr=False)
    data: F64 = field(repr=False)
    bias: F64 = field(repr=False)

    @classmethod
    def from_dense(cls, weight: ArrayLike, bias: ArrayLike, *, scale_bits: int) -> AffineLayer:
        """Build from a dense ``(n_out, n_in)`` matrix, rounding weights to the encoding grid.

        Weights that round to zero at ``2**scale_bits`` are dropped (SEAL refuses
        products with an all-zero plaintext, and they contribute nothing).
        """
        w = np.asarray(weight, dtype=np.float64)
        b = np.asarray(bias, dtype=np.float64).reshape(-1)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise CKKSPlanError(f"affine layer: weight {w.shape} and bias {b.shape} do not match")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise CKKSPlanError("affine layer: weights must be finite")
        wq = _quantize(w, scale_bits)
        indptr = [0]
        indices: list[NDArray[np.intp]] = []
        for j in range(w.shape[0]):
            nz = np.flatnonzero(wq[j])
            if nz.size == 0:
                raise CKKSPlanError(
                    f"affine layer: output {j} has no non-zero weight at 2^{scale_bits} "
                    "(a constant output cannot be computed on ciphertexts); prune it first"
                )
            indices.append(nz)
            indptr.append(indptr[-1] + nz.size)
        idx = np.concatenate(indices).astype(np.int64)
        rows = np.repeat(np.arange(w.shape[0]), np.diff(indptr))
        return cls(
            n_in=int(w.shape[1]),
            n_out=int(w.shape[0]),
            indptr=np.asarray(indptr, dtype=np.int64),
            indices=idx,
            data=wq[rows, idx],
            bias=_quantize(b, scale_bits),
        )

    @property
    def weights(self) -> AffineWeights:
        """The layer as a backend evaluates it."""
        return AffineWeights(self.indptr, self.indices, self.data, self.bias)

    @property
    def nnz(self) -> int:
        """Plaintext x ciphertext products per batch."""
        return int(self.data.size)

    def dense(self) -> F64:
        """The weight matrix as a dense array."""
        w = np.zeros((self.n_out, self.n_in))
        rows = np.repeat(np.arange(self.n_out), np.diff(self.indptr))
        w[rows, self.indices] = self.data
        return w

    def apply(self, x: F64) -> F64:
        """Plaintext evaluation on ``(B, n_in)``."""
        return np.asarray(x @ self.dense().T + self.bias, dtype=np.float64)


@dataclass(frozen=True)
class SquareLayer:
    """Elementwise square of ``n`` units."""

    n: int

    def apply(self, x: F64) -> F64:
        return np.asarray(x * x, dtype=np.float64)


Layer = AffineLayer | SquareLayer


class Packing(StrEnum):
    """How images are laid out in ciphertexts."""

    THROUGHPUT = "throughput"
    """One ciphertext per input feature, one slot per image (many images, no rotations)."""
    SINGLE = "single"
    """One image per set of ciphertexts, its units in the slots (low latency, rotations)."""


@dataclass(frozen=True, eq=False)
class SinglePacking:
    """What the single-image packing derives from a program (public, like the program).

    ``taps_index[t, j]`` is the input feature unit ``j`` of the first layer takes
    as its ``t``-th term (``-1``: none), ``taps_weight[t, j]`` its weight. When
    ``blocks`` copies of the ``width`` units fit in the slots, each ciphertext
    carries ``blocks`` taps side by side (fewer ciphertexts); the server folds
    the blocks onto the first with rotations by ``fold_steps``. ``steps`` are
    the rotations that then sum ``width`` slots into slot 0.
    """

    taps_index: I64 = field(repr=False)
    taps_weight: F64 = field(repr=False)
    bias: F64 = field(repr=False)
    width: int
    steps: tuple[int, ...]
    blocks: int = 1

    @property
    def n_taps(self) -> int:
        return int(self.taps_index.shape[0])

    @property
    def n_ciphertexts(self) -> int:
        """Input ciphertexts per image."""
        return -(-self.n_taps // self.blocks)

    @property
    def fold_doubling(self) -> bool:
        """Fold by doubling (``acc += rot(acc, width * 2^i)``) unless there are 3 blocks."""
        return self.blocks != 3

    @property
    def fold_steps(self) -> tuple[int, ...]:
        """Rotations that add every block onto the first (``log2(blocks)`` of them, or 2 for 3)."""
        if not self.fold_doubling:
            return (self.width, 2 * self.width)
        return tuple(self.width * 2**i for i in range(max(0, self.blocks.bit_length() - 1)))

    @property
    def galois_steps(self) -> tuple[int, ...]:
        """Every rotation step the plan uses (the Galois keys the context carries)."""
        return self.fold_steps + self.steps

    def pack(self, taps: F64) -> F64:
        """``(n_taps, width)`` -> ``(n_ciphertexts, blocks * width)``, ``blocks`` taps per row."""
        t = np.asarray(taps, dtype=np.float64)
        out = np.zeros((self.n_ciphertexts * self.blocks, self.width))
        out[: t.shape[0]] = t
        return out.reshape(self.n_ciphertexts, self.blocks * self.width)

    @property
    def packed_weight(self) -> F64:
        return self.pack(self.taps_weight)

    @property
    def taps(self) -> TapsWeights:
        """The first layer as a backend evaluates it (on the packed tap ciphertexts)."""
        return TapsWeights(self.packed_weight, self.bias, self.fold_steps, self.fold_doubling)

    def gather(self, x: F64) -> F64:
        """The owner's tap vectors ``(n_taps, width)`` of one flattened input ``x``."""
        flat = np.asarray(x, dtype=np.float64).reshape(-1)
        idx = self.taps_index
        return np.where(idx >= 0, flat[np.maximum(idx, 0)], 0.0)


def _quantize(a: F64, scale_bits: int) -> F64:
    s = float(2**scale_bits)
    return np.asarray(np.rint(a * s) / s, dtype=np.float64)
