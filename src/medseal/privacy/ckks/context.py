"""What crosses from the data owner to the compute host: public context and encrypted batches.

A :class:`CKKSPublicContext` carries the profile, a random key id and the
backend's public serialization (parameters plus only the evaluation keys the
plan needs: relinearisation keys when a square feeds another square, never
Galois keys in the throughput packing, never the secret key). An
:class:`EncryptedBatch` is the CryptoNets layout: one ciphertext per feature,
one slot per image, tagged with the key id and, when it was encrypted for a
compiled program, that program's id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from medseal.privacy.ckks import _format
from medseal.privacy.ckks.errors import (
    CKKSContextMismatchError,
    CKKSFormatError,
    CKKSModelMismatchError,
)
from medseal.privacy.ckks.layers import Packing
from medseal.privacy.ckks.profiles import CKKSProfile

__all__ = ["CKKSPublicContext", "EncryptedBatch"]

_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _profile_header(p: CKKSProfile) -> dict[str, Any]:
    return {
        "name": p.name,
        "n": p.poly_modulus_degree,
        "primes": list(p.coeff_mod_bit_sizes),
        "scale_bits": p.scale_bits,
    }


def _header(key_id: str, profile: CKKSProfile, **fields: Any) -> dict[str, Any]:
    """The header every serialized object under a key starts with, then its own fields."""
    return {"key_id": key_id, "profile": _profile_header(profile), **fields}


def _profile_from(h: dict[str, Any]) -> CKKSProfile:
    return CKKSProfile(str(h["name"]), int(h["n"]), tuple(h["primes"]), int(h["scale_bits"]))


def _check_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _HEX32.match(value):
        raise CKKSFormatError(f"serialized CKKS {what} has an invalid id")
    return value


@dataclass(frozen=True, eq=False)
class CKKSPublicContext:
    """Public CKKS parameters and evaluation keys of one key; no secret.

    Build with :meth:`CKKSKey.public_context <medseal.privacy.ckks.client.CKKSKey.public_context>`;
    ship :meth:`to_bytes`.
    """

    key_id: str
    profile: CKKSProfile
    backend: str
    relin_keys: bool
    blob: bytes = field(repr=False)
    galois_steps: tuple[int, ...] = ()
    """Rotation steps with Galois keys (single-image packing only)."""
    galois: bytes = field(default=b"", repr=False)

    def check_batch(self, batch: EncryptedBatch) -> None:
        """Raise :class:`CKKSContextMismatchError` unless ``batch`` was made under this key."""
        if batch.key_id != self.key_id or batch.profile != self.profile:
            raise CKKSContextMismatchError(
                f"the batch was encrypted under CKKS key {batch.key_id[:8]}… "
                f"(profile {batch.profile.name}), not under this context's key "
                f"{self.key_id[:8]}… (profile {self.profile.name})"
            )

    def to_bytes(self) -> bytes:
        header = _header(
            self.key_id, self.profile, backend=self.backend, relin_keys=self.relin_keys
        )
        if self.galois_steps:
            header["galois_steps"] = list(self.galois_steps)
            header["lengths"] = [len(self.blob), len(self.galois)]
        return _format.pack(_format.KIND_CONTEXT, header, self.blob + self.galois)

    @classmethod
    def from_bytes(cls, blob: bytes | bytearray | memoryview) -> CKKSPublicContext:
        header, payload = _format.unpack(blob, _format.KIND_CONTEXT)
        with _format.malformed("public context"):
            steps = tuple(int(s) for s in header.get("galois_steps") or ())
            galois = b""
            if steps:
                payload, galois = _format.split_blobs(
                    payload, list(header["lengths"]), "public context"
                )
            return cls(
                key_id=_check_id(header["key_id"], "public context"),
                profile=_profile_from(header["profile"]),
                backend=str(header["backend"]),
                relin_keys=bool(header["relin_keys"]),
                blob=payload,
                galois_steps=steps,
                galois=galois,
            )

    def __repr__(self) -> str:
        return (
            f"CKKSPublicContext(key_id='{self.key_id[:8]}…', profile={self.profile.name!r}, "
            f"relin_keys={self.relin_keys}, galois_steps={len(self.galois_steps)}, "
            f"bytes={len(self.blob) + len(self.galois)})"
        )


class BatchStage(StrEnum):
    """Who made an :class:`EncryptedBatch`."""

    INPUT = "input"
    """The data owner: encrypted images."""
    OUTPUT = "output"
    """The compute host: encrypted results."""


@dataclass(frozen=True, eq=False)
class EncryptedBatch:
    """``n_features`` serialized ciphertexts, each holding ``n_images`` slots.

    ``program_id`` names the compiled program the input was encrypted for, or
    that produced the output (``None``: any program). ``stage`` and
    ``packing`` accept their enums or the plain-string values.
    """

    key_id: str
    profile: CKKSProfile
    n_images: int
    levels: int
    stage: BatchStage
    program_id: str | None
    ciphertexts: tuple[bytes, ...] = field(repr=False)
    packing: Packing = Packing.THROUGHPUT
    """One slot per image (throughput), or one image with its taps in the slots (single)."""

    def __post_init__(self) -> None:
        for name, kind in (("stage", BatchStage), ("packing", Packing)):
            try:
                object.__setattr__(self, name, kind(getattr(self, name)))
            except ValueError:
                raise CKKSFormatError(f"CKKS encrypted batch has an unknown {name}") from None

    @property
    def n_features(self) -> int:
        return len(self.ciphertexts)

    @property
    def nbytes(self) -> int:
        return sum(len(c) for c in self.ciphertexts)

    def check_program(self, program_id: str, *, stage: BatchStage | str) -> None:
        """Raise unless this batch belongs to ``program_id`` at ``stage``."""
        if self.stage != stage:
            raise CKKSFormatError(
                f"expected an encrypted {BatchStage(stage).value} batch, got an "
                f"{self.stage.value} batch"
            )
        if self.program_id is not None and self.program_id != program_id:
            raise CKKSModelMismatchError(
                f"the batch belongs to compiled model {self.program_id[:8]}…, "
                f"not to model {program_id[:8]}…; encrypt it for this model"
            )

    def to_bytes(self) -> bytes:
        header = _header(
            self.key_id,
            self.profile,
            n_images=self.n_images,
            levels=self.levels,
            stage=self.stage.value,
            program_id=self.program_id,
            lengths=[len(c) for c in self.ciphertexts],
        )
        if self.packing is not Packing.THROUGHPUT:
            header["packing"] = self.packing.value
        return _format.pack(_format.KIND_BATCH, header, b"".join(self.ciphertexts))

    @classmethod
    def from_bytes(cls, blob: bytes | bytearray | memoryview) -> EncryptedBatch:
        header, payload = _format.unpack(blob, _format.KIND_BATCH)
        with _format.malformed("encrypted batch"):
            pid = header["program_id"]
            batch = cls(
                key_id=_check_id(header["key_id"], "encrypted batch"),
                profile=_profile_from(header["profile"]),
                n_images=int(header["n_images"]),
                levels=int(header["levels"]),
                stage=header["stage"],
                program_id=None if pid is None else _check_id(pid, "encrypted batch"),
                ciphertexts=tuple(
                    _format.split_blobs(payload, list(header["lengths"]), "encrypted batch")
                ),
                packing=header.get("packing", Packing.THROUGHPUT),
            )
        if (
            not 0 < batch.n_images <= batch.profile.slots
            or not batch.ciphertexts
            or (batch.packing is Packing.SINGLE and batch.n_images != 1)
        ):
            raise CKKSFormatError("serialized CKKS encrypted batch has invalid sizes")
        return batch

    def __repr__(self) -> str:
        return (
            f"EncryptedBatch({self.stage}, {self.packing}, images={self.n_images}, "
            f"ciphertexts={self.n_features}, "
            f"levels={self.levels}, bytes={self.nbytes})"
        )
