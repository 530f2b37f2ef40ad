"""The public side of a MORE key: what the compute host receives instead of the secret.

A :class:`MorePublicContext` names the key (a random id, not derived from the
secret) and the matrix size ``n``. It is enough to check that tensors belong
together and to build *trivial* (unencrypted) constants; it holds no secret,
the way TenSEAL's ``make_context_public()`` drops the secret key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from medseal.privacy.more import serialize
from medseal.privacy.more.errors import MoreContextMismatchError, MoreFormatError

if TYPE_CHECKING:  # pragma: no cover
    from medseal.privacy.more.tensor import MoreTensor

__all__ = ["MAX_N", "MorePublicContext"]

MAX_N = 16
_KEY_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class MorePublicContext:
    """Public parameters of one MORE key: matrix size and key id, no secret.

    Parameters
    ----------
    n : int
        Ciphertext matrix size; every value is stored as ``n * n`` float64.
    key_id : str
        32 lowercase hex digits drawn at key generation; only identifies the key.
    dtype : str
        Storage dtype, always ``"float64"``.

    Examples
    --------
    >>> from medseal.privacy.more import MoreKey
    >>> ctx = MoreKey.generate(n=2, seed=0).public_context()
    >>> ctx.n, ctx.dtype
    (2, 'float64')
    """

    n: int
    key_id: str
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int | np.integer):
            raise MoreFormatError("MORE context: n must be an integer")
        if not 2 <= int(self.n) <= MAX_N:
            raise MoreFormatError(f"MORE context: n must be in [2, {MAX_N}], got {self.n}")
        object.__setattr__(self, "n", int(self.n))
        if not isinstance(self.key_id, str) or not _KEY_ID.match(self.key_id):
            raise MoreFormatError("MORE context: key_id must be 32 lowercase hex digits")
        if self.dtype != "float64":
            raise MoreFormatError(f"MORE context: unsupported dtype {self.dtype!r}")

    def __repr__(self) -> str:
        return f"MorePublicContext(n={self.n}, key_id='{self.key_id[:8]}…')"

    def check_same(self, other: MorePublicContext, what: str = "operands") -> None:
        """Raise :class:`MoreContextMismatchError` unless ``other`` is this context."""
        if other != self:
            raise MoreContextMismatchError(
                f"{what} come from different MORE contexts "
                f"(key {self.key_id[:8]}…, n={self.n} vs key {other.key_id[:8]}…, n={other.n}); "
                "encrypt them under one key"
            )

    # -- trivial constants -------------------------------------------------
    def encode(self, x: ArrayLike) -> MoreTensor:
        """Embed plaintext values as *trivial, unencrypted* ciphertexts ``x * I``.

        Useful for constants and server-initialised weights that must be mixed
        with ciphertexts. Anyone can read them back (every eigenvalue is ``x``).
        """
        from medseal.privacy.more.tensor import MoreTensor

        arr = np.asarray(x, dtype=np.float64)
        data = arr[..., None, None] * np.eye(self.n)
        return MoreTensor(data, self)

    def zeros(self, shape: int | tuple[int, ...]) -> MoreTensor:
        """A tensor of trivial encryptions of 0 (the zero matrix)."""
        from medseal.privacy.more.tensor import MoreTensor

        shp = (shape,) if isinstance(shape, int) else tuple(shape)
        return MoreTensor(np.zeros(shp + (self.n, self.n)), self)

    # -- serialization -----------------------------------------------------
    def header(self) -> dict[str, Any]:
        """The JSON-able public fields (used inside tensor headers too)."""
        return {"n": self.n, "key_id": self.key_id, "dtype": self.dtype}

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> MorePublicContext:
        """Rebuild from :meth:`header` output; :class:`MoreFormatError` if invalid."""
        try:
            return cls(n=header["n"], key_id=header["key_id"], dtype=header.get("dtype", "float64"))
        except (KeyError, TypeError) as exc:
            raise MoreFormatError("MORE context header is missing fields") from exc

    def to_bytes(self) -> bytes:
        """Versioned bytes of the public context (no secret inside)."""
        return serialize.pack(serialize.KIND_CONTEXT, self.header())

    @classmethod
    def from_bytes(cls, blob: bytes | bytearray | memoryview) -> MorePublicContext:
        """Inverse of :meth:`to_bytes`; :class:`MoreFormatError` on bad input."""
        header, payload = serialize.unpack(blob, serialize.KIND_CONTEXT)
        if len(payload):
            raise MoreFormatError("serialized MORE public context has unexpected payload")
        return cls.from_header(header)
