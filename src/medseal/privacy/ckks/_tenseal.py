"""The TenSEAL backend: keys and contexts through TenSEAL, arithmetic through its SEAL bindings.

TenSEAL's ``Context`` makes the keys and serializes them in memory (with
per-key flags, so a public context provably leaves the secret key out);
``tenseal.sealapi`` (Microsoft SEAL's own API, shipped in the TenSEAL wheel)
does the arithmetic, because the throughput plan needs what TenSEAL's vector
types do not expose: many plaintext-scalar products summed *before* one
rescale, plaintexts encoded once per distinct weight, inputs encrypted at the
lowest level the program needs, and squares left unrelinearised when no
further square follows.

SEAL only saves ciphertexts to a file path; they go through a private
temporary directory (``/dev/shm`` when present). Secret keys never do: they are
serialized in memory by TenSEAL.
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
import tenseal as ts
import tenseal.sealapi as seal
from numpy.typing import NDArray

from medseal.privacy.ckks.errors import CKKSFormatError, CKKSSecretError
from medseal.privacy.ckks.profiles import CKKSProfile

__all__ = ["TenSEALBackend"]

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


class TenSEALBackend:
    """:class:`~medseal.privacy.ckks.backend.CKKSBackend` over TenSEAL 0.3.x / SEAL."""

    name = "tenseal"
    version = str(getattr(ts, "__version__", "?"))

    # -- keys and contexts ---------------------------------------------------
    def keygen(self, profile: CKKSProfile) -> _State:
        ctx = ts.context(
            ts.SCHEME_TYPE.CKKS,
            profile.poly_modulus_degree,
            coeff_mod_bit_sizes=list(profile.coeff_mod_bit_sizes),
        )
        ctx.global_scale = float(2**profile.scale_bits)
        return self._wrap(ctx)

    def _wrap(self, ctx: Any) -> _State:
        sc = ctx.seal_context().data
        private = ctx.has_secret_key()
        return _State(
            ctx=ctx,
            scale=float(ctx.global_scale) if _has_scale(ctx) else 0.0,
            sc=sc,
            encoder=seal.CKKSEncoder(sc),
            evaluator=seal.Evaluator(sc),
            # The owner encrypts with the secret key (symmetric RLWE: same security,
            # about half the cost of public-key encryption).
            encryptor=seal.Encryptor(sc, ctx.secret_key().data) if private else None,
            decryptor=seal.Decryptor(sc, ctx.secret_key().data) if private else None,
            relin=ctx.relin_keys().data if ctx.has_relin_keys() else None,
        )

    def export_secret(self, state: _State) -> bytes:
        if not state.ctx.has_secret_key():
            raise CKKSSecretError("this CKKS context holds no secret key")
        return bytes(
            state.ctx.serialize(
                save_public_key=True,
                save_secret_key=True,
                save_galois_keys=False,
                save_relin_keys=True,
            )
        )

    def import_secret(self, blob: bytes) -> _State:
        ctx = self._load(blob, "secret key")
        if not ctx.has_secret_key():
            raise CKKSFormatError("serialized CKKS secret key holds no secret key")
        return self._wrap(ctx)

    def export_public(self, state: _State, *, relin_keys: bool) -> bytes:
        return bytes(
            state.ctx.serialize(
                save_public_key=False,
                save_secret_key=False,
                save_galois_keys=False,
                save_relin_keys=relin_keys,
            )
        )

    def export_galois(self, state: _State, steps: Sequence[int]) -> bytes:
        """Galois keys for exactly the rotation ``steps`` (seeded: about half the bytes)."""
        if not state.ctx.has_secret_key():
            raise CKKSSecretError("only the data owner (secret key holder) makes Galois keys")
        n2 = 2 * int(state.ctx.seal_context().data.key_context_data().parms().poly_modulus_degree())
        elts = [_galois_element(int(s), n2) for s in steps]
        keygen = seal.KeyGenerator(state.sc, state.ctx.secret_key().data)
        with _scratch() as d:
            path = os.path.join(d, "gk")
            keygen.create_galois_keys(elts).save(path)
            with open(path, "rb") as fh:
                return fh.read()

    def import_galois(self, state: _State, blob: bytes, steps: Sequence[int]) -> _State:
        """``state`` with the Galois keys of :meth:`export_galois` attached."""
        keys = seal.GaloisKeys()
        with _scratch() as d:
            path = os.path.join(d, "gk")
            with open(path, "wb") as fh:
                fh.write(blob)
            try:
                keys.load(state.sc, path)
            except Exception as exc:  # SEAL: invalid_argument / logic_error
                raise CKKSFormatError(
                    "the Galois keys do not load under this context (other parameters, or corrupt)"
                ) from exc
        n2 = 2 * int(state.sc.key_context_data().parms().poly_modulus_degree())
        if not all(keys.has_key(_galois_element(int(s), n2)) for s in steps):
            raise CKKSFormatError("the Galois keys do not cover the rotations they claim")
        state.galois = keys
        state.galois_steps = tuple(int(s) for s in steps)
        return state

    def import_public(self, blob: bytes) -> _State:
        ctx = self._load(blob, "public context")
        if ctx.has_secret_key():  # pragma: no cover - export_public never writes one
            raise CKKSFormatError("a public CKKS context must not hold a secret key")
        return self._wrap(ctx)

    @staticmethod
    def _load(blob: bytes, what: str) -> Any:
        try:
            return ts.context_from(bytes(blob))
        except Exception as exc:  # TenSEAL raises bare ValueError/RuntimeError from protobuf
            raise CKKSFormatError(f"serialized CKKS {what} does not load (corrupt)") from exc

    def has_secret(self, state: _State) -> bool:
        return bool(state.ctx.has_secret_key())

    def slots(self, state: _State) -> int:
        return int(state.encoder.slot_count())

    # -- encrypt / decrypt ---------------------------------------------------
    def _parms_id(self, state: _State, levels: int) -> Any:
        cd = state.sc.first_context_data()
        while cd is not None and cd.chain_index() > levels:
            cd = cd.next_context_data()
        if cd is None or cd.chain_index() != levels:
            raise CKKSFormatError(f"no level with {levels} rescales left in this context")
        return cd.parms_id()

    def encrypt(self, state: _State, values: F64, *, levels: int, scale: float) -> Any:
        if state.encryptor is None:
            raise CKKSSecretError("only the data owner (secret key holder) encrypts")
        pt = seal.Plaintext()
        state.encoder.encode(
            np.asarray(values, dtype=np.float64).tolist(),
            self._parms_id(state, levels),
            scale,
            pt,
        )
        ct = seal.Ciphertext()
        state.encryptor.encrypt_symmetric(pt, ct)
        return ct

    def encrypt_to_bytes(
        self, state: _State, columns: Sequence[F64], *, levels: int, scale: float
    ) -> list[bytes]:
        """Encrypt each vector and serialize it *seeded* (the random half is a 64-byte seed).

        Symmetric RLWE ciphertexts ``(c0, c1)`` have ``c1`` uniform; SEAL can
        replace it by the seed of its PRNG, which halves the bytes sent. The
        receiver expands it when loading (:meth:`from_bytes`).
        """
        if state.encryptor is None:
            raise CKKSSecretError("only the data owner (secret key holder) encrypts")
        pid = self._parms_id(state, levels)
        out = []
        pt = seal.Plaintext()
        with _scratch() as d:
            path = os.path.join(d, "ct")
            for values in columns:
                state.encoder.encode(np.asarray(values, dtype=np.float64).tolist(), pid, scale, pt)
                state.encryptor.encrypt_symmetric(pt).save(path)
                with open(path, "rb") as fh:
                    out.append(fh.read())
        return out

    def decrypt(self, state: _State, ct: Any) -> F64:
        if state.decryptor is None:
            raise CKKSSecretError(
                "this CKKS context holds no secret key: only the data owner can decrypt"
            )
        pt = seal.Plaintext()
        state.decryptor.decrypt(ct, pt)
        return np.asarray(state.encoder.decode_double(pt), dtype=np.float64)

    def levels(self, state: _State, ct: Any) -> int:
        return int(state.sc.get_context_data(ct.parms_id()).chain_index())

    # -- raw views for the leakage measurements ------------------------------
    def residues(self, state: _State, ct: Any) -> tuple[NDArray[np.uint64], int]:
        """The first RNS limb of every polynomial of ``ct`` (NTT form), and that prime.

        What a compute host sees of a ciphertext, as numbers: used by
        :mod:`medseal.evaluate.attacks.ckks_learned_inverse`.
        """
        n = int(ct.poly_modulus_degree())
        limbs = int(ct.coeff_modulus_size())
        arr = ct.dyn_array()
        out = np.empty((int(ct.size()), n), dtype=np.uint64)
        for p in range(out.shape[0]):
            base = p * limbs * n
            out[p] = np.fromiter((arr.at(base + i) for i in range(n)), dtype=np.uint64, count=n)
        q = int(state.sc.get_context_data(ct.parms_id()).parms().coeff_modulus()[0].value())
        return out, q

    def encoding_residues(
        self, state: _State, values: F64, *, levels: int, scale: float
    ) -> tuple[NDArray[np.uint64], int]:
        """The same view of the *unencrypted* CKKS encoding of ``values`` (the leaky control)."""
        pt = seal.Plaintext()
        pid = self._parms_id(state, levels)
        state.encoder.encode(np.asarray(values, dtype=np.float64).tolist(), pid, scale, pt)
        n = int(state.encoder.slot_count()) * 2
        arr = pt.dyn_array()
        out = np.fromiter((arr.at(i) for i in range(n)), dtype=np.uint64, count=n)[None, :]
        q = int(state.sc.get_context_data(pid).parms().coeff_modulus()[0].value())
        return out, q

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

    def _accumulate(
        self,
        state: _State,
        cts: Sequence[Any],
        indptr: NDArray[np.int64],
        indices: NDArray[np.int64],
        data: F64,
    ) -> list[Any]:
        """Per CSR row ``sum_k data[k] * cts[indices[k]]`` at scale ``input * q``, no rescale.

        Rows without entries give ``None``.
        """
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

    def affine(
        self,
        state: _State,
        cts: Sequence[Any],
        indptr: NDArray[np.int64],
        indices: NDArray[np.int64],
        data: F64,
        bias: F64,
    ) -> list[Any]:
        accs = self._accumulate(state, cts, indptr, indices, data)
        if any(a is None for a in accs):
            raise CKKSFormatError("an affine layer has an output without weights")
        return [
            self._finish(state, a, cts[0].scale, float(b)) for a, b in zip(accs, bias, strict=True)
        ]

    def affine_square_affine(
        self,
        state: _State,
        cts: Sequence[Any],
        first: tuple[NDArray[np.int64], NDArray[np.int64], F64, F64],
        relinearize: bool,
        second: tuple[NDArray[np.int64], NDArray[np.int64], F64, F64],
        *,
        workers: int,
    ) -> list[Any]:
        """``affine -> square -> affine`` with the middle units split over ``workers`` processes.

        Each forked worker computes its share of the first layer, squares it and
        returns its *partial sums* of the second layer (one ciphertext per
        output), so only a few ciphertexts cross processes; the parent adds
        them, rescales once and adds the bias. Same result as the sequential
        path up to CKKS rounding.
        """
        global _FORK_JOB
        n_mid = len(first[0]) - 1
        chunks = [c for c in np.array_split(np.arange(n_mid), max(1, workers)) if c.size]
        if len(chunks) < 2:
            mid = self.affine(state, cts, *first)
            return self.affine(state, self.square(state, mid, relinearize=relinearize), *second)
        _FORK_JOB = (self, state, cts, first, relinearize, second)
        try:
            mp = multiprocessing.get_context("fork")
            with mp.Pool(len(chunks)) as pool:
                parts = pool.map(_fused_part, [(int(c[0]), int(c[-1]) + 1) for c in chunks])
        finally:
            _FORK_JOB = None
        out = []
        n_out = len(second[0]) - 1
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
            out.append(self._finish(state, acc, scale, float(second[3][j])))
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

    def taps_affine(
        self,
        state: _State,
        cts: Sequence[Any],
        weights: F64,
        bias: F64,
        *,
        fold_steps: Sequence[int] = (),
        fold_doubling: bool = False,
    ) -> Any:
        """``sum_t weights[t] * cts[t]`` slotwise (vectors), rescale, fold, add ``bias``.

        Folding adds ``rot(acc, s)`` for each of ``fold_steps`` (of the running
        sum when ``fold_doubling``, else all of the unfolded ``acc``): the blocks
        of taps packed side by side land on the first block.
        """
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
    mid = be.affine(state, cts, sub_ip, ix[sl], d[sl], b[lo:hi])
    sq = be.square(state, mid, relinearize=relin)
    ip2, ix2, d2, _ = second
    keep = (ix2 >= lo) & (ix2 < hi)
    counts = [int(keep[ip2[j] : ip2[j + 1]].sum()) for j in range(len(ip2) - 1)]
    sub_ip2 = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    accs = be._accumulate(state, sq, sub_ip2, (ix2[keep] - lo).astype(np.int64), d2[keep])
    blobs: list[bytes | None] = []
    for acc in accs:
        blobs.append(None if acc is None else be.to_bytes([acc])[0])
    return blobs, float(sq[0].scale)


def _galois_element(step: int, two_n: int) -> int:
    """SEAL's Galois element of a left rotation by ``step`` slots (``3^step mod 2N``)."""
    if step == 0 or abs(step) >= two_n // 4:
        raise CKKSFormatError(f"rotation step {step} is out of range")
    if step < 0:
        step = two_n // 4 + step
    return pow(3, step, two_n)


def _has_scale(ctx: Any) -> bool:
    try:
        ctx.global_scale  # noqa: B018 - raises when never set
    except ValueError:
        return False
    return True
