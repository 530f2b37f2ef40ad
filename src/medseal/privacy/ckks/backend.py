"""The small interface every CKKS library hides behind, and how one is chosen.

medseal's client/server code calls only these methods; the one implementation
today is TenSEAL 0.3.18 (Microsoft SEAL 4.x underneath), chosen by measurement
(``docs/he.md``). A backend deals in opaque handles: a *state* (a key or
public context loaded into the library) and *ciphertexts*. Backends are
imported only when used; a missing one raises
:class:`~medseal.privacy.ckks.errors.CKKSBackendUnavailableError` naming the
package to install.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray

from medseal.privacy.ckks.errors import CKKSBackendUnavailableError
from medseal.privacy.ckks.profiles import CKKSProfile

__all__ = [
    "AffineWeights",
    "CKKSBackend",
    "FusedLayers",
    "TapsWeights",
    "available_backends",
    "ckks_backend",
]

F64 = NDArray[np.float64]


class AffineWeights(NamedTuple):
    """An affine layer for a backend: ``out[j] = sum_k data[k] * x[indices[k]] + bias[j]``.

    CSR rows: the entries of output ``j`` are ``indptr[j]:indptr[j + 1]``.
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int64]
    data: F64
    bias: F64


class FusedLayers(NamedTuple):
    """``affine -> square -> affine`` evaluated as one step (the server's workers split it)."""

    first: AffineWeights
    relinearize: bool
    """Relinearise the squares (another square follows later)."""
    second: AffineWeights


class TapsWeights(NamedTuple):
    """The single-image packing's first layer for a backend.

    ``sum_t weights[t] * cts[t]`` slotwise, rescale, fold the blocks (add the
    rotations by ``fold_steps``: of the sum so far when ``fold_doubling``, else
    of the unfolded sum), add ``bias``.
    """

    weights: F64
    bias: F64
    fold_steps: tuple[int, ...]
    fold_doubling: bool


class CKKSBackend(Protocol):
    """What a CKKS library must provide (rotations only for the single-image packing)."""

    name: str
    version: str

    def keygen(self, profile: CKKSProfile) -> Any:
        """A fresh secret state (secret, public and relinearisation keys) from OS entropy."""

    def export_secret(self, state: Any) -> bytes:
        """The whole secret state as bytes (handle like a key)."""

    def import_secret(self, blob: bytes) -> Any:
        """Inverse of :meth:`export_secret`."""

    def export_public(self, state: Any, *, relin_keys: bool) -> bytes:
        """Parameters plus only the evaluation keys asked for: never the secret key."""

    def import_public(self, blob: bytes) -> Any:
        """Load a public context; the state can evaluate but not decrypt."""

    def has_secret(self, state: Any) -> bool:
        """Whether ``state`` holds a secret key."""

    def slots(self, state: Any) -> int:
        """Values per ciphertext."""

    def encrypt(self, state: Any, values: F64, *, levels: int, scale: float) -> Any:
        """One ciphertext of up to ``slots`` values, ``levels`` rescales left, at ``scale``."""

    def encrypt_to_bytes(
        self, state: Any, columns: Sequence[F64], *, levels: int, scale: float
    ) -> list[bytes]:
        """Encrypt each vector and serialize it, compactly (seeded) where the library can."""

    def export_galois(self, state: Any, steps: Sequence[int]) -> bytes:
        """Galois (rotation) keys for exactly ``steps`` (needs the secret)."""

    def import_galois(self, state: Any, blob: bytes, steps: Sequence[int]) -> Any:
        """``state`` with the keys of :meth:`export_galois` attached (checked to cover ``steps``)."""

    def decrypt(self, state: Any, ct: Any) -> F64:
        """All slots of ``ct`` (needs the secret)."""

    def levels(self, state: Any, ct: Any) -> int:
        """Rescales left in ``ct``."""

    def residues(self, state: Any, ct: Any) -> tuple[NDArray[np.uint64], int]:
        """First RNS limb of each polynomial of ``ct`` (NTT form) and its prime."""

    def encoding_residues(
        self, state: Any, values: F64, *, levels: int, scale: float
    ) -> tuple[NDArray[np.uint64], int]:
        """The same view of an unencrypted encoding (control for leakage measurements)."""

    def to_bytes(self, cts: Sequence[Any]) -> list[bytes]:
        """Serialize ciphertexts."""

    def from_bytes(self, state: Any, blobs: Sequence[bytes]) -> list[Any]:
        """Load ciphertexts, checking them against ``state``'s parameters."""

    def mod_switch(self, state: Any, cts: Sequence[Any], *, levels: int) -> list[Any]:
        """Drop primes (no rescale) until ``levels`` rescales are left."""

    def affine(self, state: Any, cts: Sequence[Any], layer: AffineWeights) -> list[Any]:
        """``layer`` applied to ``cts`` (one ciphertext per input), then rescale."""

    def square(self, state: Any, cts: Sequence[Any], *, relinearize: bool) -> list[Any]:
        """Square every ciphertext, optionally relinearise, then rescale."""

    def affine_square_affine(
        self, state: Any, cts: Sequence[Any], fused: FusedLayers, *, workers: int
    ) -> list[Any]:
        """The three layers fused, the middle units split over ``workers`` processes."""

    def taps_affine(self, state: Any, cts: Sequence[Any], taps: TapsWeights) -> Any:
        """Single-image packing: the first layer on the tap ciphertexts (one ciphertext out)."""

    def dot_rotate(
        self, state: Any, ct: Any, rows: F64, bias: F64, steps: Sequence[int]
    ) -> list[Any]:
        """Single-image packing: one ciphertext per row, ``<row, ct> + bias`` in slot 0."""


_BACKENDS = {"tenseal": ("medseal.privacy.ckks._tenseal", "TenSEALBackend", "tenseal==0.3.18")}


def available_backends() -> dict[str, str | None]:
    """Every known backend and why it is unavailable (``None`` when it imports)."""
    out: dict[str, str | None] = {}
    for name in _BACKENDS:
        try:
            ckks_backend(name)
        except CKKSBackendUnavailableError as exc:
            out[name] = str(exc)
        else:
            out[name] = None
    return out


def ckks_backend(name: str = "tenseal") -> CKKSBackend:
    """The named backend, imported now; :class:`CKKSBackendUnavailableError` if missing."""
    try:
        module, cls, pip_name = _BACKENDS[name]
    except KeyError:
        raise CKKSBackendUnavailableError(
            f"unknown CKKS backend {name!r} (known: {', '.join(_BACKENDS)})"
        ) from None
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise CKKSBackendUnavailableError(
            f"CKKS backend {name!r} needs {pip_name.split('==')[0]}: "
            f"pip install 'medseal[he]' (or {pip_name})"
        ) from exc
    backend: CKKSBackend = getattr(mod, cls)()
    return backend
