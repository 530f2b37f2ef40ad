"""CKKS homomorphic inference: the owner encrypts, the compute host evaluates, the owner decrypts.

Client side: :class:`CKKSKey` (secret) makes a :class:`CKKSPublicContext`,
encrypts batches and decrypts results. Server side: :class:`CKKSServer` holds
only the public context and evaluates an :class:`HEProgram` (affine layers and
squares, compiled from an HE-friendly network by
``medseal.models.nets.he_cnn``) on :class:`EncryptedBatch` ciphertexts.

Every profile states its security level and is checked against the
HomomorphicEncryption.org table (:mod:`.profiles`); a program that does not fit
its profile's modulus chain is refused before anything is encrypted. The
library (TenSEAL / Microsoft SEAL) is an optional extra: ``pip install
'medseal[he]'``; importing this package does not need it. See ``docs/he.md``.

Example
-------
>>> import numpy as np
>>> from medseal.privacy.ckks import AffineLayer, HEProgram, SquareLayer
>>> w = np.array([[0.5, -0.25]])
>>> prog = HEProgram([AffineLayer.from_dense(w, [0.1], scale_bits=36), SquareLayer(1),
...                   AffineLayer.from_dense([[2.0]], [0.0], scale_bits=36)],
...                  profile="128", input_shape=(2,))
>>> prog.depth, prog.needs_relin_keys
(3, False)
>>> round(float(prog.simulate([[1.0, 2.0]])[0, 0]), 6)
0.02
"""

from __future__ import annotations

from medseal.privacy.ckks._format import FORMAT_VERSION
from medseal.privacy.ckks.backend import CKKSBackend, available_backends, ckks_backend
from medseal.privacy.ckks.client import CKKSKey
from medseal.privacy.ckks.context import BatchStage, CKKSPublicContext, EncryptedBatch
from medseal.privacy.ckks.errors import (
    CKKSBackendUnavailableError,
    CKKSContextMismatchError,
    CKKSFormatError,
    CKKSModelMismatchError,
    CKKSPlanError,
    CKKSProfileError,
    CKKSSecretError,
)
from medseal.privacy.ckks.profiles import (
    HE_STANDARD_128,
    PROFILES,
    CKKSProfile,
    ProfileName,
    get_profile,
)
from medseal.privacy.ckks.program import (
    AffineLayer,
    HEProgram,
    Packing,
    SinglePacking,
    SquareLayer,
)
from medseal.privacy.ckks.roundtrip import RoundTrip, round_trip
from medseal.privacy.ckks.server import CKKSServer, EvalStats
from medseal.privacy.ckks.vault_batches import VaultBatch, encrypt_vault_dataset, load_vault_batch

__all__ = [
    "FORMAT_VERSION",
    "HE_STANDARD_128",
    "PROFILES",
    "AffineLayer",
    "BatchStage",
    "CKKSBackend",
    "CKKSBackendUnavailableError",
    "CKKSContextMismatchError",
    "CKKSFormatError",
    "CKKSKey",
    "CKKSModelMismatchError",
    "CKKSPlanError",
    "CKKSProfile",
    "CKKSProfileError",
    "CKKSPublicContext",
    "CKKSSecretError",
    "CKKSServer",
    "EncryptedBatch",
    "EvalStats",
    "HEProgram",
    "Packing",
    "ProfileName",
    "RoundTrip",
    "SinglePacking",
    "SquareLayer",
    "VaultBatch",
    "available_backends",
    "ckks_backend",
    "encrypt_vault_dataset",
    "get_profile",
    "load_vault_batch",
    "round_trip",
]
