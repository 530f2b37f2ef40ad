"""``MoreKey``: the data owner's secret MORE key (Kipnis & Hibshoosh), encrypt and decrypt.

The secret is an invertible ``n x n`` real matrix ``S``. A scalar ``x`` is
encrypted as ``C = S diag(x, r_1, ..., r_{n-1}) S^-1`` with fresh random
``r_i``; it is decrypted as ``(S^-1 C S)[0, 0]``. Both are linear maps of the
diagonal, so the key keeps them as two precomputed ``(n, n*n)`` / ``(n*n,)``
matrices and (de)cryption of a whole tensor is one BLAS call.

This object stays with the data owner. The compute host gets
:meth:`MoreKey.public_context` and :class:`~medseal.privacy.more.MoreTensor`
bytes. MORE gives **no** confidentiality against a host that computes
eigenvalues (see ``docs/more.md`` and :mod:`medseal.evaluate.attacks`).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medseal.crypto import KeyRing, WrappedKey, seal, unseal
from medseal.errors import DecryptionError, InputError
from medseal.privacy.more import serialize
from medseal.privacy.more.context import MAX_N, MorePublicContext
from medseal.privacy.more.errors import MoreFormatError, MoreKeyPickleError
from medseal.privacy.more.tensor import MoreTensor, flat_matrices

__all__ = [
    "DEFAULT_MAX_CONDITION",
    "DEFAULT_NOISE_RANGE",
    "SEALED_FORMAT",
    "MoreKey",
    "is_clear_key",
]

F64 = NDArray[np.float64]

DEFAULT_NOISE_RANGE: tuple[float, float] = (0.25, 1.0)
"""Hidden slots are drawn i.i.d. uniform on this interval: positive (``log``, ``sqrt``
and ``1/x`` stay defined on fresh ciphertexts), away from 0, and on the scale of
normalised image data, so hidden slots stay as tame as the data through a network."""

DEFAULT_MAX_CONDITION = 10.0
"""Draws of ``S`` whose (column-equilibrated) 2-norm condition number exceeds this
are rejected, bounding the rounding error of every operation."""

_MAX_DRAWS = 10_000


def _check_noise_range(noise_range: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in noise_range)
    except (TypeError, ValueError):
        raise InputError("noise_range must be two numbers (low, high)") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise InputError("noise_range must be finite with low < high")
    return low, high


class MoreKey:
    """Secret MORE key: an invertible matrix ``S`` (held privately) and its inverse.

    Create one with :meth:`generate`; restore one with :meth:`from_bytes`.
    ``repr`` shows only ``n`` and the key id. Pickling is refused: export is
    explicit through :meth:`to_bytes`.

    Examples
    --------
    >>> import numpy as np
    >>> from medseal.privacy.more import MoreKey
    >>> key = MoreKey.generate(n=2, seed=7)
    >>> c = key.encrypt(np.array([[0.5, -1.25]]), rng=np.random.default_rng(0))
    >>> c.shape, c.data.shape
    ((1, 2), (1, 2, 2, 2))
    >>> np.allclose(key.decrypt(c.exp()), np.exp([[0.5, -1.25]]))
    True
    """

    __slots__ = ("_ctx", "_dec", "_enc", "_noise", "_rng", "_s", "_s_inv")

    def __init__(
        self,
        s: ArrayLike,
        *,
        key_id: str,
        noise_range: tuple[float, float] = DEFAULT_NOISE_RANGE,
        rng: np.random.Generator | None = None,
    ) -> None:
        mat = np.array(s, dtype=np.float64, copy=True)
        if mat.ndim != 2 or mat.shape[0] != mat.shape[1] or not 2 <= mat.shape[0] <= MAX_N:
            raise InputError(f"a MORE key is a square n x n matrix with 2 <= n <= {MAX_N}")
        if not np.all(np.isfinite(mat)):
            raise InputError("a MORE key matrix must be finite")
        try:
            inv = np.asarray(np.linalg.inv(mat), dtype=np.float64)
        except np.linalg.LinAlgError:
            raise InputError("a MORE key matrix must be invertible") from None
        n = mat.shape[0]
        self._ctx = MorePublicContext(n=n, key_id=key_id)
        self._s: F64 = mat
        self._s_inv: F64 = inv
        # Projectors P_i = S[:, i] (x) S^-1[i, :]; C = sum_i d_i P_i for diagonal d.
        proj = np.einsum("ji,ik->ijk", mat, inv)
        self._enc: F64 = proj.reshape(n, n * n)
        # x = (S^-1 C S)[0, 0] = sum_jk S^-1[0, j] C[j, k] S[k, 0] = <P_0^T, C>.
        self._dec: F64 = np.ascontiguousarray(proj[0].T).reshape(n * n)
        self._noise = _check_noise_range(noise_range)
        self._rng = rng if rng is not None else np.random.default_rng()

    # -- construction ------------------------------------------------------
    @classmethod
    def generate(
        cls,
        n: int = 2,
        *,
        seed: int | np.random.SeedSequence | None = None,
        max_condition: float = DEFAULT_MAX_CONDITION,
        noise_range: tuple[float, float] = DEFAULT_NOISE_RANGE,
    ) -> MoreKey:
        """Draw a fresh key.

        Parameters
        ----------
        n : int
            Matrix size (2 by default; each value then costs 4 float64).
        seed : int or SeedSequence, optional
            Seeds the key draw and the key's default encryption randomness.
            ``None`` takes OS entropy.
        max_condition : float
            Reject draws of ``S`` (standard normal entries, columns scaled to
            unit norm) whose condition number exceeds this.
        noise_range : (float, float)
            Interval of the uniform hidden slots ``r_i``.
        """
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_N:
            raise InputError(f"n must be an integer in [2, {MAX_N}]")
        if not max_condition > 1.0:
            raise InputError("max_condition must be > 1")
        rng = np.random.default_rng(seed)
        for _ in range(_MAX_DRAWS):
            s = rng.standard_normal((n, n))
            # Column scale of S cancels in S D S^-1; normalising it makes cond() meaningful.
            s /= np.linalg.norm(s, axis=0, keepdims=True)
            if np.linalg.cond(s) <= max_condition:
                break
        else:  # pragma: no cover - needs an absurdly small max_condition
            raise InputError(f"no key with condition <= {max_condition} in {_MAX_DRAWS} draws")
        key_id = rng.bytes(16).hex()
        return cls(s, key_id=key_id, noise_range=noise_range, rng=rng)

    # -- public facts ----------------------------------------------------------
    @property
    def n(self) -> int:
        """Matrix size."""
        return self._ctx.n

    @property
    def key_id(self) -> str:
        """Random public identifier of the key (not derived from the secret)."""
        return self._ctx.key_id

    @property
    def noise_range(self) -> tuple[float, float]:
        """Interval of the uniform hidden slots drawn at encryption."""
        return self._noise

    @property
    def condition_number(self) -> float:
        """2-norm condition number of ``S`` (bounds the rounding error)."""
        return float(np.linalg.cond(self._s))

    def public_context(self) -> MorePublicContext:
        """What the compute host may hold: ``n``, dtype and key id; no secret."""
        return self._ctx

    def __repr__(self) -> str:
        return f"MoreKey(n={self.n}, key_id='{self.key_id[:8]}…')"

    def __reduce__(self) -> tuple[object, ...]:
        raise MoreKeyPickleError(
            "a MoreKey is secret and is not picklable; use key.to_bytes() deliberately"
        )

    # -- encrypt / decrypt -------------------------------------------------------
    def encrypt(
        self,
        x: ArrayLike,
        *,
        rng: np.random.Generator | None = None,
        noise_range: tuple[float, float] | None = None,
    ) -> MoreTensor:
        """Encrypt every value of ``x`` with fresh hidden randomness.

        Parameters
        ----------
        x : array_like or float
            Finite real values; the result has ``shape == np.shape(x)``.
        rng : numpy.random.Generator, optional
            Source of the hidden slots; defaults to the key's own generator
            (seeded by :meth:`generate`'s ``seed``).
        noise_range : (float, float), optional
            Override of the key's uniform interval for the hidden slots.

        Returns
        -------
        MoreTensor
            Storage ``np.shape(x) + (n, n)`` float64.
        """
        arr = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise InputError("cannot encrypt NaN or infinite values")
        low, high = self._noise if noise_range is None else _check_noise_range(noise_range)
        gen = self._rng if rng is None else rng
        n = self.n
        diag = np.empty(arr.shape + (n,), dtype=np.float64)
        diag[..., 0] = arr
        diag[..., 1:] = gen.uniform(low, high, size=arr.shape + (n - 1,))
        # einsum beats BLAS here: the (values, n) @ (n, n*n) product is too skinny for gemm.
        data = np.einsum("ki,ij->kj", diag.reshape(-1, n), self._enc).reshape(arr.shape + (n, n))
        return MoreTensor._wrap(data, self._ctx)

    def encrypt_reference(self, *, rng: np.random.Generator | None = None) -> MoreTensor:
        """An encryption of 0 whose hidden slots are well separated, for :class:`AlgebraProjector`.

        Hidden slot ``i`` (of ``n - 1``) is drawn uniformly from the middle half of
        the ``i``-th of ``n - 1`` equal parts of the noise range, so any two slots
        differ by at least half a part and the powers of the ciphertext span the
        ciphertext algebra with a well-conditioned basis. Like every ciphertext
        it hides nothing from an eigenvalue attacker (docs/more.md); it reveals
        no more than a fresh encryption of 0 does.
        """
        gen = self._rng if rng is None else rng
        low, high = self._noise
        n = self.n
        part = (high - low) / (n - 1)
        starts = low + part * (np.arange(n - 1) + 0.25)
        diag = np.empty(n)
        diag[0] = 0.0
        diag[1:] = starts + 0.5 * part * gen.random(n - 1)
        data = (diag @ self._enc).reshape(n, n)
        return MoreTensor._wrap(data, self._ctx)

    def decrypt(self, c: MoreTensor) -> F64:
        """Recover the plaintext values, an array of shape ``c.shape``."""
        flat = flat_matrices(c, self._ctx, "decrypt", "the key and the tensor")
        return np.asarray(flat @ self._dec, dtype=np.float64).reshape(c.shape)

    # -- export ----------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Export the SECRET key as unprotected bytes.

        Warning
        -------
        The result contains ``S`` in clear: whoever holds it decrypts every
        tensor made under this key. Store :meth:`seal` output instead; never
        send either to the compute host.
        """
        header = self._ctx.header()
        header["noise_range"] = list(self._noise)
        return serialize.pack(
            serialize.KIND_KEY, header, np.ascontiguousarray(self._s, dtype="<f8").tobytes()
        )

    @classmethod
    def from_bytes(
        cls,
        blob: bytes | bytearray | memoryview,
        *,
        rng: np.random.Generator | None = None,
    ) -> MoreKey:
        """Restore a key exported with :meth:`to_bytes`.

        ``rng`` becomes the key's default encryption randomness (OS entropy when omitted).
        """
        header, payload = serialize.unpack(blob, serialize.KIND_KEY)
        ctx = MorePublicContext.from_header(header)
        if len(payload) != ctx.n * ctx.n * 8:
            raise MoreFormatError("serialized MORE key has a payload of the wrong length")
        s = np.frombuffer(payload, dtype="<f8").reshape(ctx.n, ctx.n)
        noise = header.get("noise_range", list(DEFAULT_NOISE_RANGE))
        if not isinstance(noise, list) or len(noise) != 2:
            raise MoreFormatError("serialized MORE key has an invalid noise range")
        try:
            return cls(s, key_id=ctx.key_id, noise_range=(noise[0], noise[1]), rng=rng)
        except InputError as exc:
            raise MoreFormatError("serialized MORE key is not a valid key") from exc

    # -- sealed under the key ring ------------------------------------------
    def seal(self, keyring: KeyRing) -> bytes:
        """The secret key sealed under ``keyring`` (AES-256-GCM, data key wrapped by its KEK).

        JSON bytes safe to store at rest (the form ``medseal more keygen``
        writes); only :meth:`unseal` with the same key ring opens them. After
        ``keyring.rotate()``, :meth:`rewrap_sealed` moves the data key to the
        new KEK without touching the sealed bytes (``medseal keys rotate --rewrap``).
        The key id and ``n`` stay readable: they are public (the compute host
        gets them in the public context).
        """
        blob = seal(self.to_bytes(), keyring=keyring, associated_data=_sealed_aad(self.key_id))
        doc = {
            "format": SEALED_FORMAT,
            "version": 1,
            "key_id": self.key_id,
            "n": self.n,
            "wrapped_key": blob.wrapped_key.to_json(),
            "data": base64.b64encode(bytes(blob.data)).decode("ascii"),
        }
        return json.dumps(doc, sort_keys=True).encode("utf-8")

    @classmethod
    def unseal(
        cls, sealed: bytes, keyring: KeyRing, *, rng: np.random.Generator | None = None
    ) -> MoreKey:
        """Open :meth:`seal` output.

        :class:`~medseal.errors.DecryptionError` when the bytes were sealed under
        another key ring or altered; :class:`MoreFormatError` when they are not a
        sealed MORE key (a key in clear included: see :func:`is_clear_key`).
        """
        doc = _sealed_doc(sealed)
        try:
            data = base64.b64decode(str(doc["data"]).encode("ascii"), validate=True)
            wrapped = WrappedKey.from_json(doc["wrapped_key"])
        except (ValueError, KeyError, TypeError):
            raise MoreFormatError("the sealed MORE key is damaged") from None
        raw = unseal(
            data, wrapped, keyring=keyring, associated_data=_sealed_aad(str(doc["key_id"]))
        )
        key = cls.from_bytes(raw, rng=rng)
        if key.key_id != doc["key_id"]:  # pragma: no cover - bound by the associated data
            raise DecryptionError("the sealed MORE key does not match its label")
        return key

    @staticmethod
    def rewrap_sealed(sealed: bytes, keyring: KeyRing) -> bytes:
        """The same sealed key with its data key re-wrapped under the ring's current KEK."""
        doc = _sealed_doc(sealed)
        try:
            wrapped = WrappedKey.from_json(doc["wrapped_key"])
        except (ValueError, KeyError, TypeError):
            raise MoreFormatError("the sealed MORE key is damaged") from None
        doc["wrapped_key"] = keyring.rewrap(wrapped).to_json()
        return json.dumps(doc, sort_keys=True).encode("utf-8")


SEALED_FORMAT = "medseal-more-sealed-key"
"""The ``format`` field of a sealed MORE key (:meth:`MoreKey.seal`)."""


def is_clear_key(blob: bytes | bytearray | memoryview) -> bool:
    """Whether ``blob`` starts like a MORE key exported in clear (:meth:`MoreKey.to_bytes`)."""
    head = bytes(blob[: len(serialize.MAGIC) + 1])
    return head == serialize.MAGIC + serialize.KIND_KEY


def _sealed_aad(key_id: str) -> bytes:
    return b"medseal/more-secret-key/" + key_id.encode("ascii", "replace")


def _sealed_doc(sealed: bytes | bytearray | memoryview) -> dict[str, Any]:
    if is_clear_key(sealed):
        raise MoreFormatError(
            "this is a MORE key in clear, not a sealed one (`medseal more seal-key` seals it)"
        )
    try:
        doc = json.loads(bytes(sealed).decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != SEALED_FORMAT:
            raise ValueError
        if doc.get("version") != 1 or not isinstance(doc.get("key_id"), str):
            raise ValueError
    except (UnicodeDecodeError, ValueError):
        raise MoreFormatError("not a sealed MORE key (or an unknown version)") from None
    return doc
