"""SEAL arithmetic of the TenSEAL backend: ciphertext bytes, levels, affine layers, squares.

The evaluation half of :class:`~medseal.privacy.ckks._tenseal.TenSEALBackend`
(it inherits from :class:`SealEvaluator`), over ``tenseal.sealapi``: what the
compute host runs. Keys and contexts are in :mod:`._tenseal`.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import tenseal.sealapi as seal
from numpy.typing import NDArray

from medseal.privacy.ckks.backend import AffineWeights, FusedLayers, TapsWeights
from medseal.privacy.ckks.errors import CKKSFormatError

__all__ = ["SealEvaluator"]

F64 = NDArray[np.float64]
_MAX_CACHED_PLAINTEXTS = 4096


@dataclass
class _State:
    ctx: Any  # tenseal.Context
    scale: float
    sc: Any
    encoder: Any
    evaluator: Any
    encryptor: Any | None
    decryptor: Any | None
    relin: Any | None
    galois: Any | None = None
    galois_steps: tuple[int, ...] = ()


@contextmanager
def _scratch() -> Iterator[str]:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="medseal-ckks-", dir=base) as d:
        yield d


class SealEvaluator:
    """Ciphertext I/O and evaluation on a :class:`_State` (public keys suffice)."""

    def _parms_id(self, state: _State, levels: int) -> Any:
        cd = state.sc.first_context_data()
        while cd is not None and cd.chain_index() > levels:
            cd = cd.next_context_data()
        if cd is None or cd.chain_index() != levels:
            raise CKKSFormatError(f"no level with {levels} rescales left in this context")
        return cd.parms_id()

    def levels(self, state: _State, ct: Any) -> int:
        return int(state.sc.get_context_data(ct.parms_id()).chain_index())

    # -- serialization ----------------------------------------------------
    def to_bytes(self, cts: Sequence[Any]) -> list[bytes]:
        out = []
        with _scratch() as d:
            path = os.path.join(d, "ct")
            for ct in cts:
                ct.save(path)
                with open(path, "rb") as fh:
                    out.append(fh.read())
        return out

    def from_bytes(self, state: _State, blobs: Sequence[bytes]) -> list[Any]:
        out = []
        with _scratch() as d:
            path = os.path.join(d, "ct")
            for blob in blobs:
                with open(path, "wb") as fh:
                    fh.write(blob)
                ct = seal.Ciphertext()
                try:
                    ct.load(state.sc, path)
                except Exception as exc:  # SEAL: invalid_argument / logic_error
                    raise CKKSFormatError(
                        "a ciphertext does not load under this context "
                        "(other parameters, or corrupt)"
                    ) from exc
                out.append(ct)
        return out

    # -- evaluation -------------------------------------------------------
    def mod_switch(self, state: _State, cts: Sequence[Any], *, levels: int) -> list[Any]:
        target = self._parms_id(state, levels)
        out = []
        for ct in cts:
            if self.levels(state, ct) < levels:
                raise CKKSFormatError("a ciphertext has fewer levels than the program needs")
            c = seal.Ciphertext()
            state.evaluator.mod_switch_to(ct, target, c)
            out.append(c)
        return out

    def _accumulate(self, state: _State, cts: Sequence[Any], layer: AffineWeights) -> list[Any]:
        """Per CSR row ``sum_k data[k] * cts[indices[k]]`` at scale ``input * q``, no rescale.

        Rows without entries give ``None``; the bias is not added.
        """
        indptr, indices, data, _ = layer
        ev, enc = state.evaluator, state.encoder
        pid = cts[0].parms_id()
        # Encode weights at the value of the prime the next rescale drops, so the
        # scale after rescaling is exactly the input scale.
        q = float(state.sc.get_context_data(pid).parms().coeff_modulus()[-1].value())
        uniq, inverse = np.unique(data, return_inverse=True)
        cache: list[Any] | None = None
        if uniq.size <= _MAX_CACHED_PLAINTEXTS:
            cache = []
            for w in uniq:
                pt = seal.Plaintext()
                enc.encode(float(w), pid, q, pt)
                cache.append(pt)
        tmp = seal.Ciphertext()
        spare = seal.Plaintext()
        out: list[Any] = []
        for j in range(len(indptr) - 1):
            acc = None
            for k in range(int(indptr[j]), int(indptr[j + 1])):
                if cache is not None:
                    pt = cache[int(inverse[k])]
                else:
                    enc.encode(float(data[k]), pid, q, spare)
                    pt = spare
                if acc is None:
                    acc = seal.Ciphertext()
                    ev.multiply_plain(cts[int(indices[k])], pt, acc)
                else:
                    ev.multiply_plain(cts[int(indices[k])], pt, tmp)
                    ev.add_inplace(acc, tmp)
            out.append(acc)
        return out

    def _finish(self, state: _State, acc: Any, scale: float, bias: float) -> Any:
        state.evaluator.rescale_to_next_inplace(acc)
        acc.scale = scale  # equal up to the rounding of (scale * q) / q; pin it exactly
        if bias != 0.0:
            pb = seal.Plaintext()
            state.encoder.encode(float(bias), acc.parms_id(), acc.scale, pb)
            state.evaluator.add_plain_inplace(acc, pb)
        return acc

    def affine(self, state: _State, cts: Sequence[Any], layer: AffineWeights) -> list[Any]:
        accs = self._accumulate(state, cts, layer)
        bias = layer.bias
        if any(a is None for a in accs):
            raise CKKSFormatError("an affine layer has an output without weights")
        return [
            self._finish(state, a, cts[0].scale, float(b)) for a, b in zip(accs, bias, strict=True)
        ]

    def affine_square_affine(
        self, state: _State, cts: Sequence[Any], fused: FusedLayers, *, workers: int
    ) -> list[Any]:
        """``affine -> square -> affine`` with the middle units split over ``workers`` processes.

        Each forked worker computes its share of the first layer, squares it and
        returns its *partial sums* of the second layer (one ciphertext per
        output), so only a few ciphertexts cross processes; the parent adds
        them, rescales once and adds the bias. Same result as the sequential
        path up to CKKS rounding.
        """
        global _FORK_JOB
        first, relinearize, second = fused
        n_mid = len(first.indptr) - 1
        chunks = [c for c in np.array_split(np.arange(n_mid), max(1, workers)) if c.size]
        if len(chunks) < 2:
            mid = self.affine(state, cts, first)
            return self.affine(state, self.square(state, mid, relinearize=relinearize), second)
        _FORK_JOB = (self, state, cts, first, relinearize, second)
        try:
            mp = multiprocessing.get_context("fork")
            with mp.Pool(len(chunks)) as pool:
                parts = pool.map(_fused_part, [(int(c[0]), int(c[-1]) + 1) for c in chunks])
        finally:
            _FORK_JOB = None
        out = []
        n_out = len(second.indptr) - 1
        scale = None
        for j in range(n_out):
            blobs = [blob for p in parts if (blob := p[0][j]) is not None]
            if not blobs:
                raise CKKSFormatError("an affine layer has an output without weights")
            loaded = self.from_bytes(state, blobs)
            acc = loaded[0]
            for extra in loaded[1:]:
                state.evaluator.add_inplace(acc, extra)
            scale = parts[0][1]
            out.append(self._finish(state, acc, scale, float(second.bias[j])))
        return out

    def square(self, state: _State, cts: Sequence[Any], *, relinearize: bool) -> list[Any]:
        ev = state.evaluator
        if relinearize and state.relin is None:
            raise CKKSFormatError("the program needs relinearization keys this context lacks")
        out = []
        for ct in cts:
            c = seal.Ciphertext()
            ev.square(ct, c)
            if relinearize:
                ev.relinearize_inplace(c, state.relin)
            ev.rescale_to_next_inplace(c)
            out.append(c)
        return out

    # -- single-image packing (slots hold one image's units) ----------------
    def _vector_plain(self, state: _State, values: F64, pid: Any, scale: float) -> Any:
        pt = seal.Plaintext()
        state.encoder.encode(np.asarray(values, dtype=np.float64).tolist(), pid, scale, pt)
        return pt

    def taps_affine(self, state: _State, cts: Sequence[Any], taps: TapsWeights) -> Any:
        """``sum_t weights[t] * cts[t]`` slotwise (vectors), rescale, fold, add ``bias``.

        Folding adds ``rot(acc, s)`` for each of ``fold_steps`` (of the running
        sum when ``fold_doubling``, else all of the unfolded ``acc``): the blocks
        of taps packed side by side land on the first block.
        """
        weights, bias, fold_steps, fold_doubling = taps
        if fold_steps and (state.galois is None or not set(fold_steps) <= set(state.galois_steps)):
            raise CKKSFormatError("the program needs Galois keys this context lacks")
        ev = state.evaluator
        pid = cts[0].parms_id()
        q = float(state.sc.get_context_data(pid).parms().coeff_modulus()[-1].value())
        acc = None
        tmp = seal.Ciphertext()
        for ct, w in zip(cts, weights, strict=True):
            if not np.any(w):
                continue
            pt = self._vector_plain(state, w, pid, q)
            if acc is None:
                acc = seal.Ciphertext()
                ev.multiply_plain(ct, pt, acc)
            else:
                ev.multiply_plain(ct, pt, tmp)
                ev.add_inplace(acc, tmp)
        if acc is None:
            raise CKKSFormatError("an affine layer has no non-zero weight")
        scale = float(cts[0].scale)
        ev.rescale_to_next_inplace(acc)
        acc.scale = scale
        rotated = []
        for step in fold_steps:
            rot = seal.Ciphertext()
            ev.rotate_vector(acc, int(step), state.galois, rot)
            if fold_doubling:
                ev.add_inplace(acc, rot)
            else:
                rotated.append(rot)
        for rot in rotated:
            ev.add_inplace(acc, rot)
        ev.add_plain_inplace(acc, self._vector_plain(state, bias, acc.parms_id(), scale))
        return acc

    def dot_rotate(
        self, state: _State, ct: Any, rows: F64, bias: F64, steps: Sequence[int]
    ) -> list[Any]:
        """Per row ``j``: ``<rows[j], ct> + bias[j]`` summed by rotations into slot 0.

        ``steps`` are the powers of two below the used width; every output is
        one ciphertext whose slot 0 holds the value (other slots: partial sums).
        """
        if state.galois is None or not set(steps) <= set(state.galois_steps):
            raise CKKSFormatError("the program needs Galois keys this context lacks")
        ev = state.evaluator
        pid = ct.parms_id()
        q = float(state.sc.get_context_data(pid).parms().coeff_modulus()[-1].value())
        scale = float(ct.scale)
        out = []
        rot = seal.Ciphertext()
        for w, b in zip(rows, bias, strict=True):
            acc = seal.Ciphertext()
            ev.multiply_plain(ct, self._vector_plain(state, w, pid, q), acc)
            ev.rescale_to_next_inplace(acc)
            acc.scale = scale
            for step in steps:
                ev.rotate_vector(acc, int(step), state.galois, rot)
                ev.add_inplace(acc, rot)
            if b != 0.0:
                pb = seal.Plaintext()
                state.encoder.encode(float(b), acc.parms_id(), acc.scale, pb)
                ev.add_plain_inplace(acc, pb)
            out.append(acc)
        return out


_FORK_JOB: Any = None


def _fused_part(rows: tuple[int, int]) -> tuple[list[bytes | None], float]:
    """Worker of :meth:`TenSEALBackend.affine_square_affine` (runs in a forked child)."""
    be, state, cts, first, relin, second = _FORK_JOB
    lo, hi = rows
    ip, ix, d, b = first
    sub_ip = ip[lo : hi + 1] - ip[lo]
    sl = slice(int(ip[lo]), int(ip[hi]))
    mid = be.affine(state, cts, AffineWeights(sub_ip, ix[sl], d[sl], b[lo:hi]))
    sq = be.square(state, mid, relinearize=relin)
    ip2, ix2, d2, _ = second
    keep = (ix2 >= lo) & (ix2 < hi)
    counts = [int(keep[ip2[j] : ip2[j + 1]].sum()) for j in range(len(ip2) - 1)]
    sub_ip2 = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    part = AffineWeights(sub_ip2, (ix2[keep] - lo).astype(np.int64), d2[keep], d2[:0])
    accs = be._accumulate(state, sq, part)
    blobs: list[bytes | None] = []
    for acc in accs:
        blobs.append(None if acc is None else be.to_bytes([acc])[0])
    return blobs, float(sq[0].scale)
