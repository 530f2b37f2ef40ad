"""``CKKSServer``: the compute host's side. Public context and ciphertexts in, ciphertexts out.

The server is built from :class:`~medseal.privacy.ckks.context.CKKSPublicContext`
bytes only; it has no decrypt method and its backend state holds no secret key
(``tests/privacy/test_ckks_client_server.py`` checks both, and searches the
secret key's serialized bytes in everything the server receives).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from medseal.privacy.ckks.backend import FusedLayers, ckks_backend
from medseal.privacy.ckks.context import BatchStage, CKKSPublicContext, EncryptedBatch
from medseal.privacy.ckks.errors import (
    CKKSContextMismatchError,
    CKKSFormatError,
    CKKSPlanError,
)
from medseal.privacy.ckks.program import AffineLayer, HEProgram, Packing, SquareLayer

__all__ = ["CKKSServer", "EvalStats"]


@dataclass
class EvalStats:
    """Wall-clock seconds of the last :meth:`CKKSServer.predict`, by phase."""

    load_s: float = 0.0
    compute_s: float = 0.0
    serialize_s: float = 0.0
    per_layer_s: list[float] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.load_s + self.compute_s + self.serialize_s


class CKKSServer:
    """Evaluates compiled programs on encrypted batches with public keys only.

    Parameters
    ----------
    context : CKKSPublicContext or bytes
        What the data owner sent (``CKKSKey.public_context(program).to_bytes()``).
    workers : int
        Processes for a leading ``affine -> square -> affine`` (the convolution,
        its activation and the next layer): its middle units are split over
        them. 1 evaluates everything in this process.
    """

    def __init__(
        self, context: CKKSPublicContext | bytes | bytearray | memoryview, *, workers: int = 1
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise CKKSPlanError("workers must be an integer >= 1")
        self.workers = workers
        ctx = (
            context
            if isinstance(context, CKKSPublicContext)
            else CKKSPublicContext.from_bytes(context)
        )
        self.context = ctx
        self._backend = ckks_backend(ctx.backend)
        self._state: Any = self._backend.import_public(ctx.blob)
        if ctx.galois_steps:
            self._state = self._backend.import_galois(self._state, ctx.galois, ctx.galois_steps)
        self.last_stats = EvalStats()

    @property
    def can_decrypt(self) -> bool:
        """Always ``False`` for a context built by :meth:`CKKSKey.public_context`."""
        return bool(self._backend.has_secret(self._state))

    def predict(self, program: HEProgram, batch: EncryptedBatch) -> EncryptedBatch:
        """Run ``program`` on ``batch``; return the encrypted outputs (one ciphertext each)."""
        self.context.check_batch(batch)
        if program.profile != self.context.profile:
            raise CKKSContextMismatchError(
                f"the program was compiled for profile {program.profile.name!r}, the context is "
                f"{self.context.profile.name!r}"
            )
        batch.check_program(program.program_id, stage=BatchStage.INPUT)
        if batch.packing is Packing.SINGLE:
            return self._predict_single(program, batch)
        relin = program.relinearize_after()
        if any(relin) and not self.context.relin_keys:
            raise CKKSPlanError("the program needs relinearization keys the context does not carry")
        stats = EvalStats()
        cts = self._load(program, batch, program.n_inputs, "", stats)
        t0 = time.perf_counter()
        layers = list(zip(program.layers, relin, strict=True))
        head = program.layers[:3]
        if (
            self.workers > 1
            and len(head) == 3
            and isinstance(head[0], AffineLayer)
            and isinstance(head[1], SquareLayer)
            and isinstance(head[2], AffineLayer)
        ):
            t1 = time.perf_counter()
            fused = FusedLayers(head[0].weights, relin[1], head[2].weights)
            cts = self._backend.affine_square_affine(self._state, cts, fused, workers=self.workers)
            stats.per_layer_s.append(time.perf_counter() - t1)
            layers = layers[3:]
        for layer, rl in layers:
            t1 = time.perf_counter()
            if isinstance(layer, AffineLayer):
                cts = self._backend.affine(self._state, cts, layer.weights)
            else:
                cts = self._backend.square(self._state, cts, relinearize=rl)
            stats.per_layer_s.append(time.perf_counter() - t1)
        stats.compute_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        blobs = self._backend.to_bytes(cts)
        stats.serialize_s = time.perf_counter() - t0
        self.last_stats = stats
        return EncryptedBatch(
            key_id=batch.key_id,
            profile=batch.profile,
            n_images=batch.n_images,
            levels=0,
            stage=BatchStage.OUTPUT,
            program_id=program.program_id,
            ciphertexts=tuple(blobs),
        )

    def _predict_single(self, program: HEProgram, batch: EncryptedBatch) -> EncryptedBatch:
        """The single-image packing: taps -> vector affine -> square -> rotate-sums -> rest."""
        layout = program.single_packing()
        if (
            not set(layout.galois_steps) <= set(self.context.galois_steps)
            or not self.context.relin_keys
        ):
            raise CKKSPlanError(
                "the single-image packing needs Galois keys for its rotation steps and "
                "relinearization keys: make the context with packing='single'"
            )
        relin = program.relinearize_for(Packing.SINGLE)
        stats = EvalStats()
        be, st = self._backend, self._state
        cts = self._load(program, batch, layout.n_ciphertexts, "'s single-image packing", stats)
        t0 = time.perf_counter()
        t1 = time.perf_counter()
        packed = be.taps_affine(st, cts, layout.taps)
        stats.per_layer_s.append(time.perf_counter() - t1)
        t1 = time.perf_counter()
        packed = be.square(st, [packed], relinearize=True)[0]
        stats.per_layer_s.append(time.perf_counter() - t1)
        t1 = time.perf_counter()
        second = program.layers[2]
        assert isinstance(second, AffineLayer)
        rows = second.dense()
        cts = be.dot_rotate(st, packed, rows, second.bias, layout.steps)
        stats.per_layer_s.append(time.perf_counter() - t1)
        for layer, rl in zip(program.layers[3:], relin[3:], strict=True):
            t1 = time.perf_counter()
            if isinstance(layer, AffineLayer):
                cts = be.affine(st, cts, layer.weights)
            else:
                cts = be.square(st, cts, relinearize=rl)
            stats.per_layer_s.append(time.perf_counter() - t1)
        stats.compute_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        blobs = be.to_bytes(cts)
        stats.serialize_s = time.perf_counter() - t0
        self.last_stats = stats
        return EncryptedBatch(
            key_id=batch.key_id,
            profile=batch.profile,
            n_images=1,
            levels=0,
            stage=BatchStage.OUTPUT,
            program_id=program.program_id,
            ciphertexts=tuple(blobs),
            packing=Packing.SINGLE,
        )

    def _load(
        self, program: HEProgram, batch: EncryptedBatch, n_inputs: int, what: str, stats: EvalStats
    ) -> list[Any]:
        """The batch's ciphertexts, checked against the program and brought to its depth."""
        if batch.n_features != n_inputs:
            raise CKKSPlanError(
                f"the batch has {batch.n_features} input ciphertexts, the program{what} takes "
                f"{n_inputs}"
            )
        if batch.levels < program.depth:
            raise CKKSPlanError(
                f"the batch has {batch.levels} levels, the program needs {program.depth}"
            )
        t0 = time.perf_counter()
        cts = self._backend.from_bytes(self._state, batch.ciphertexts)
        if any(self._backend.levels(self._state, ct) != batch.levels for ct in cts):
            raise CKKSFormatError("the batch's ciphertexts do not match its declared level")
        if batch.levels > program.depth:
            cts = self._backend.mod_switch(self._state, cts, levels=program.depth)
        stats.load_s = time.perf_counter() - t0
        return cts

    def residues(self, batch: EncryptedBatch) -> list[tuple[Any, int]]:
        """The host's numeric view of each ciphertext: first RNS limb per polynomial, prime.

        For leakage measurements (:mod:`medseal.evaluate.attacks.ckks_learned_inverse`).
        """
        self.context.check_batch(batch)
        cts = self._backend.from_bytes(self._state, batch.ciphertexts)
        return [self._backend.residues(self._state, ct) for ct in cts]

    def __repr__(self) -> str:
        return f"CKKSServer({self.context!r})"
