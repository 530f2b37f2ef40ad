"""The data owner's side of MORE training: the key, encryption, decryption, the stopping oracle.

Where it sits: models stage, beside :mod:`medseal.models.more_train` (the
server's loop). :class:`MoreClient` holds the secret
:class:`~medseal.privacy.more.MoreKey`; the compute host gets its public
context, a public reference ciphertext for the backend, and ciphertexts.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medseal.models.backend import MoreBackend
from medseal.models.more_train import EarlyStopping, Monitor
from medseal.models.nets.sequence_layers import Params
from medseal.privacy.more import MoreKey, MorePublicContext, MoreTensor

__all__ = ["MoreClient"]

F64 = NDArray[np.float64]


class MoreClient:
    """The data owner: holds the secret :class:`MoreKey`; encrypts inputs and decrypts results.

    The compute host gets :attr:`context` (public) and ciphertexts only.
    """

    def __init__(self, key: MoreKey, *, rng: np.random.Generator | None = None) -> None:
        self._key = key
        self._rng = rng

    def __repr__(self) -> str:
        return f"MoreClient({self._key!r})"

    @property
    def context(self) -> MorePublicContext:
        """The key's public context (for the server's :class:`MoreBackend`)."""
        return self._key.public_context()

    def backend(self) -> MoreBackend:
        """A :class:`MoreBackend` for the server: public context plus one ciphertext of 0.

        The ciphertext is the public reference that
        :meth:`MoreBackend.refresh <medseal.models.backend.MoreBackend.refresh>`
        needs to project rounding drift away during long training runs
        (:meth:`MoreKey.encrypt_reference <medseal.privacy.more.MoreKey.encrypt_reference>`:
        an encryption of 0 with well-separated hidden slots, which for ``n >= 3``
        spans the ciphertext algebra with its powers).
        """
        if self._key.n == 2:
            return MoreBackend(self.context, reference=self.encrypt(np.zeros(())))
        return MoreBackend(self.context, reference=self._key.encrypt_reference(rng=self._rng))

    def encrypt(self, x: ArrayLike) -> MoreTensor:
        """Encrypt an array (fresh hidden slots)."""
        return self._key.encrypt(np.asarray(x, dtype=np.float64), rng=self._rng)

    def decrypt(self, c: MoreTensor) -> F64:
        """Decrypt a tensor."""
        return self._key.decrypt(c)

    def encrypt_params(self, params: dict[str, F64]) -> Params:
        """Encrypt every parameter (the initial weights the client chose)."""
        return {k: self.encrypt(v) for k, v in params.items()}

    def decrypt_params(self, params: Params) -> dict[str, F64]:
        """Decrypt trained parameters."""
        return {k: self.decrypt(v) for k, v in params.items()}

    def monitor(
        self, y_val: ArrayLike, *, patience: int = 10, min_delta: float = 1e-3, curves: bool = True
    ) -> Monitor:
        """An early-stopping :class:`Monitor` that decrypts with this key."""
        return Monitor(
            decrypt=self.decrypt,
            y_val=np.asarray(y_val, dtype=np.float64),
            stopping=EarlyStopping(patience, min_delta),
            curves=curves,
        )
