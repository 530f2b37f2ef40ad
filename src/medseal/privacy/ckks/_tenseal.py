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
serialized in memory by TenSEAL. The arithmetic is in :mod:`._tenseal_eval`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tenseal as ts
import tenseal.sealapi as seal
from numpy.typing import NDArray

from medseal.privacy.ckks._tenseal_eval import SealEvaluator, _scratch, _State
from medseal.privacy.ckks.errors import CKKSFormatError, CKKSSecretError
from medseal.privacy.ckks.profiles import CKKSProfile

__all__ = ["TenSEALBackend"]

F64 = NDArray[np.float64]


class TenSEALBackend(SealEvaluator):
    """:class:`~medseal.privacy.ckks.backend.CKKSBackend` over TenSEAL 0.3.x / SEAL.

    Keys, contexts, encryption and decryption here; ciphertext I/O and the
    arithmetic in :class:`~medseal.privacy.ckks._tenseal_eval.SealEvaluator`.
    """

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

    @staticmethod
    def _serialize(state: _State, *, secret: bool, relin_keys: bool) -> bytes:
        # Galois keys never go in here: only the plan's steps, seeded (export_galois).
        flags = {"save_public_key": secret, "save_secret_key": secret}
        return bytes(
            state.ctx.serialize(save_galois_keys=False, save_relin_keys=relin_keys, **flags)
        )

    def export_secret(self, state: _State) -> bytes:
        if not state.ctx.has_secret_key():
            raise CKKSSecretError("this CKKS context holds no secret key")
        return self._serialize(state, secret=True, relin_keys=True)

    def import_secret(self, blob: bytes) -> _State:
        ctx = self._load(blob, "secret key")
        if not ctx.has_secret_key():
            raise CKKSFormatError("serialized CKKS secret key holds no secret key")
        return self._wrap(ctx)

    def export_public(self, state: _State, *, relin_keys: bool) -> bytes:
        return self._serialize(state, secret=False, relin_keys=relin_keys)

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
