"""``CKKSKey``: the data owner's CKKS secret key; encrypts inputs, decrypts diagnoses.

This object stays with the data owner. The compute host gets
:meth:`CKKSKey.public_context` (parameters and only the evaluation keys the
compiled program needs) and :class:`~medseal.privacy.ckks.context.EncryptedBatch`
bytes, and runs :class:`~medseal.privacy.ckks.server.CKKSServer`.

Security: CKKS under a profile of :mod:`medseal.privacy.ckks.profiles`
(128-bit classical security by the HomomorphicEncryption.org table) protects
inputs and outputs against a compute host that only sees ciphertexts (IND-CPA).
Decrypted CKKS results leak a little about the key to whoever sees them
(Li & Micciancio, EUROCRYPT 2021): decrypted outputs stay with the owner.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medseal.crypto import KeyRing, WrappedKey, seal, unseal
from medseal.errors import DecryptionError
from medseal.privacy.ckks import _format
from medseal.privacy.ckks.backend import CKKSBackend, ckks_backend
from medseal.privacy.ckks.context import BatchStage, CKKSPublicContext, EncryptedBatch
from medseal.privacy.ckks.errors import (
    CKKSContextMismatchError,
    CKKSFormatError,
    CKKSPlanError,
    CKKSSecretError,
)
from medseal.privacy.ckks.profiles import CKKSProfile, get_profile
from medseal.privacy.ckks.program import HEProgram, Packing

__all__ = ["CKKSKey"]

F64 = NDArray[np.float64]


class CKKSKey:
    """Secret CKKS key of one profile (plus its public and relinearisation keys).

    Create with :meth:`generate`; restore with :meth:`from_bytes`. ``repr``
    shows the key id and profile only; pickling is refused (export is explicit).

    Examples
    --------
    >>> import numpy as np
    >>> key = CKKSKey.generate("128")                       # doctest: +SKIP
    >>> batch = key.encrypt(np.random.rand(10, 784))        # doctest: +SKIP
    """

    __slots__ = ("_backend", "_key_id", "_profile", "_state")

    def __init__(self, backend: CKKSBackend, state: Any, profile: CKKSProfile, key_id: str) -> None:
        self._backend = backend
        self._state = state
        self._profile = profile
        self._key_id = key_id

    @classmethod
    def generate(cls, profile: str | CKKSProfile = "128", *, backend: str = "tenseal") -> CKKSKey:
        """Fresh keys from OS entropy under a checked 128-bit profile."""
        prof = get_profile(profile)
        be = ckks_backend(backend)
        return cls(be, be.keygen(prof), prof, secrets.token_hex(16))

    @property
    def key_id(self) -> str:
        """Random public identifier (not derived from the secret)."""
        return self._key_id

    @property
    def profile(self) -> CKKSProfile:
        return self._profile

    def __repr__(self) -> str:
        return f"CKKSKey(key_id='{self._key_id[:8]}…', profile={self._profile.name!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise CKKSSecretError("a CKKSKey is secret and is not picklable; use key.to_bytes()")

    # -- what the server gets ------------------------------------------------
    def public_context(
        self, program: HEProgram | None = None, *, packing: Packing | str = Packing.THROUGHPUT
    ) -> CKKSPublicContext:
        """Parameters plus the evaluation keys ``program`` needs (none: relinearisation keys).

        Without a program the context carries relinearisation keys, which any
        depth-2+ square chain needs; with one, exactly what its plan for
        ``packing`` lists: for the single-image packing, relinearisation keys
        and Galois keys for its rotation steps only.
        """
        pk = Packing(packing)
        relin = True if program is None else program.needs_relin_keys
        steps: tuple[int, ...] = ()
        if program is not None:
            self._check_program(program)
            if pk is Packing.SINGLE:
                relin, steps = True, program.single_packing().galois_steps
        elif pk is Packing.SINGLE:
            raise CKKSPlanError("the single-image packing needs the compiled program")
        blob = self._backend.export_public(self._state, relin_keys=relin)
        galois = self._backend.export_galois(self._state, steps) if steps else b""
        return CKKSPublicContext(
            self._key_id, self._profile, self._backend.name, relin, blob, steps, galois
        )

    def _check_program(self, program: HEProgram) -> None:
        if program.profile != self._profile:
            raise CKKSContextMismatchError(
                f"the program was compiled for profile {program.profile.name!r}, "
                f"this key is {self._profile.name!r}"
            )

    # -- encrypt / decrypt -----------------------------------------------------
    def encrypt(
        self,
        x: ArrayLike,
        *,
        program: HEProgram | None = None,
        packing: Packing | str = Packing.THROUGHPUT,
    ) -> EncryptedBatch:
        """Encrypt ``B`` inputs in the throughput layout (one ciphertext per feature).

        Parameters
        ----------
        x : array_like, shape (B, ...)
            ``B <= slots`` inputs; each is flattened row-major.
        program : HEProgram, optional
            Encrypt for this program: only the levels it needs (smaller, faster),
            and the batch is tagged so another model refuses it.
        packing : Packing or str
            ``"single"``: one image (``B == 1``) in the single-image layout of
            ``program`` (required): one ciphertext per tap of its first layer.
        """
        if Packing(packing) is Packing.SINGLE:
            return self._encrypt_single(x, program)
        a = np.asarray(x, dtype=np.float64)
        if a.ndim < 2 or a.shape[0] == 0:
            raise CKKSPlanError(f"encrypt takes a batch (B, ...) with B >= 1, got shape {a.shape}")
        if a.shape[0] > self._profile.slots:
            raise CKKSPlanError(
                f"{a.shape[0]} images exceed the {self._profile.slots} slots of a ciphertext "
                f"under profile {self._profile.name!r}; encrypt them in batches"
            )
        if not np.all(np.isfinite(a)):
            raise CKKSPlanError("encrypt takes finite values only")
        flat = a.reshape(a.shape[0], -1)
        levels = self._profile.depth
        pid = None
        if program is not None:
            self._check_program(program)
            if flat.shape[1] != program.n_inputs:
                raise CKKSPlanError(
                    f"inputs have {flat.shape[1]} values, the program takes {program.n_inputs}"
                )
            levels, pid = program.depth, program.program_id
        scale = float(2**self._profile.scale_bits)
        blobs = self._backend.encrypt_to_bytes(
            self._state, [flat[:, i] for i in range(flat.shape[1])], levels=levels, scale=scale
        )
        return EncryptedBatch(
            key_id=self._key_id,
            profile=self._profile,
            n_images=int(flat.shape[0]),
            levels=levels,
            stage=BatchStage.INPUT,
            program_id=pid,
            ciphertexts=tuple(blobs),
        )

    def _encrypt_single(self, x: ArrayLike, program: HEProgram | None) -> EncryptedBatch:
        if program is None:
            raise CKKSPlanError("the single-image packing needs the compiled program")
        self._check_program(program)
        a = np.asarray(x, dtype=np.float64)
        if a.ndim >= 2 and a.shape[0] == 1 and a[0].size == program.n_inputs:
            a = a[0]
        if a.size != program.n_inputs:
            raise CKKSPlanError(
                f"the single-image packing takes one input of {program.n_inputs} values, "
                f"got shape {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise CKKSPlanError("encrypt takes finite values only")
        layout = program.single_packing()
        columns = layout.pack(layout.gather(a))
        blobs = self._backend.encrypt_to_bytes(
            self._state,
            list(columns),
            levels=program.depth,
            scale=float(2**self._profile.scale_bits),
        )
        return EncryptedBatch(
            key_id=self._key_id,
            profile=self._profile,
            n_images=1,
            levels=program.depth,
            stage=BatchStage.INPUT,
            program_id=program.program_id,
            ciphertexts=tuple(blobs),
            packing=Packing.SINGLE,
        )

    def decrypt(self, batch: EncryptedBatch, *, program: HEProgram | None = None) -> F64:
        """``(n_images, n_features)`` values of a batch made under this key.

        With ``program``, the batch must be that program's output
        (:class:`CKKSModelMismatchError` otherwise).
        """
        if program is not None:
            batch.check_program(program.program_id, stage=BatchStage.OUTPUT)
        if batch.key_id != self._key_id or batch.profile != self._profile:
            raise CKKSContextMismatchError(
                f"the batch was encrypted under CKKS key {batch.key_id[:8]}…, "
                f"not under this key {self._key_id[:8]}…"
            )
        cts = self._backend.from_bytes(self._state, batch.ciphertexts)
        cols = [self._backend.decrypt(self._state, ct)[: batch.n_images] for ct in cts]
        return np.stack(cols, axis=1)

    def encoding_view(self, values: ArrayLike) -> tuple[Any, int]:
        """The *unencrypted* CKKS encoding of ``values`` as :meth:`CKKSServer.residues` shows
        a ciphertext: the leaky control of the leakage measurements (never sent anywhere)."""
        return self._backend.encoding_residues(
            self._state,
            np.asarray(values, dtype=np.float64),
            levels=self._profile.depth,
            scale=float(2**self._profile.scale_bits),
        )

    # -- explicit export -------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The secret key as versioned bytes: seal them (key ring / vault) before storing."""
        header = {
            "key_id": self._key_id,
            "profile": self._profile.describe(),
            "backend": self._backend.name,
        }
        return _format.pack(_format.KIND_SECRET, header, self._backend.export_secret(self._state))

    @classmethod
    def from_bytes(cls, blob: bytes | bytearray | memoryview) -> CKKSKey:
        header, payload = _format.unpack(blob, _format.KIND_SECRET)
        with _format.malformed("secret key"):
            prof = CKKSProfile.from_description(header["profile"])
            key_id = str(header["key_id"])
            be = ckks_backend(str(header["backend"]))
        return cls(be, be.import_secret(payload), prof, key_id)

    # -- sealed under the key ring ------------------------------------------
    def seal(self, keyring: KeyRing) -> bytes:
        """The secret key sealed under ``keyring`` (AES-256-GCM, data key wrapped by its KEK).

        JSON bytes safe to store anywhere; only :meth:`unseal` with the same
        key ring opens them. After ``keyring.rotate()``, :meth:`rewrap_sealed`
        moves the data key to the new KEK without touching the sealed bytes.
        """
        blob = seal(self.to_bytes(), keyring=keyring, associated_data=_sealed_aad(self._key_id))
        doc = {
            "format": _SEALED_FORMAT,
            "version": 1,
            "key_id": self._key_id,
            "profile": self._profile.name,
            "wrapped_key": blob.wrapped_key.to_json(),
            "data": base64.b64encode(bytes(blob.data)).decode("ascii"),
        }
        return json.dumps(doc, sort_keys=True).encode("utf-8")

    @classmethod
    def unseal(cls, sealed: bytes, keyring: KeyRing) -> CKKSKey:
        """Open :meth:`seal` output; :class:`~medseal.errors.DecryptionError` on any failure."""
        doc = _sealed_doc(sealed)
        try:
            data = base64.b64decode(doc["data"].encode("ascii"), validate=True)
        except ValueError:
            raise CKKSFormatError("the sealed CKKS secret key is damaged") from None
        raw = unseal(
            data,
            WrappedKey.from_json(doc["wrapped_key"]),
            keyring=keyring,
            associated_data=_sealed_aad(str(doc["key_id"])),
        )
        key = cls.from_bytes(raw)
        if key.key_id != doc["key_id"]:  # pragma: no cover - bound by the associated data
            raise DecryptionError("the sealed CKKS key does not match its label")
        return key

    @staticmethod
    def rewrap_sealed(sealed: bytes, keyring: KeyRing) -> bytes:
        """The same sealed key with its data key re-wrapped under the ring's current KEK."""
        doc = _sealed_doc(sealed)
        doc["wrapped_key"] = keyring.rewrap(WrappedKey.from_json(doc["wrapped_key"])).to_json()
        return json.dumps(doc, sort_keys=True).encode("utf-8")


_SEALED_FORMAT = "medseal-ckks-sealed-key"


def _sealed_aad(key_id: str) -> bytes:
    return b"medseal/ckks-secret-key/" + key_id.encode("ascii", "replace")


def _sealed_doc(sealed: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(bytes(sealed).decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != _SEALED_FORMAT:
            raise ValueError
        if doc.get("version") != 1 or not isinstance(doc.get("data"), str):
            raise ValueError
    except (UnicodeDecodeError, ValueError):
        raise CKKSFormatError("not a sealed CKKS secret key (or an unknown version)") from None
    return doc
