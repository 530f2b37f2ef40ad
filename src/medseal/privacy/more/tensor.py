"""``MoreTensor``: a NumPy-like tensor of MORE ciphertexts, the compute host's data type.

Each plaintext value ``x`` is stored as one ``n x n`` float64 matrix
``C = S diag(x, r_1, ..., r_{n-1}) S^-1`` (see :mod:`medseal.privacy.more.key`),
so a tensor of shape ``s`` stores an array of shape ``s + (n, n)``. All
ciphertexts under one key share the eigenvectors ``S``; that is what makes the
arithmetic below homomorphic, and also what breaks MORE's security
(:mod:`medseal.evaluate.attacks.more_eigenvalue`).

============================  =================================================
plaintext operation           ciphertext operation (per element)
============================  =================================================
``x + y``, ``x - y``          ``Cx + Cy``, ``Cx - Cy``
``x + p`` (plain ``p``)       ``Cx + p I``
``x * y``                     ``Cx @ Cy``
``x * p``                     ``p Cx``
``x / y``                     ``Cx @ inv(Cy)``
``f(x)`` (exp, log, tanh...)  matrix function ``f(Cx)``
``X @ Y`` over tensor axes    ``sum_k X[i, k] @ Y[k, j]``
============================  =================================================

The stage sits after the vault: the data owner decrypts a vault object,
encrypts it with :class:`~medseal.privacy.more.MoreKey` and ships the tensor
(``to_bytes``) with the :class:`~medseal.privacy.more.MorePublicContext` to the
compute host, which only ever holds ``MoreTensor`` objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medseal.errors import InputError
from medseal.privacy.more import _elementwise as ew
from medseal.privacy.more import _linalg, serialize
from medseal.privacy.more._axes import TensorAxes
from medseal.privacy.more._shape import broadcast_shapes, full_index, matmul_data
from medseal.privacy.more.context import MorePublicContext
from medseal.privacy.more.errors import MoreFormatError, MoreShapeError

__all__ = ["MoreTensor", "flat_matrices"]

F64 = NDArray[np.float64]
_DataOp = Callable[[F64, F64], F64]


def _times_plain(data: F64, b: F64) -> F64:
    """Ciphertext storage times a plain array broadcast over the tensor axes."""
    return data * b[..., None, None]


class MoreTensor(TensorAxes):
    """A tensor of MORE ciphertexts with NumPy-like arithmetic.

    Parameters
    ----------
    data : array_like, shape ``shape + (n, n)``
        The ciphertext matrices (float64). Normally produced by
        :meth:`MoreKey.encrypt <medseal.privacy.more.MoreKey.encrypt>` or by
        operations on other tensors; a compute host may wrap matrices it
        received by other means.
    context : MorePublicContext
        The public context of the key the matrices were made under.

    Notes
    -----
    Operands of a binary operation must share one context, otherwise
    :class:`~medseal.privacy.more.errors.MoreContextMismatchError` is raised.
    Plain operands (scalars, arrays) broadcast over the tensor axes. ``*`` is
    elementwise (a per-element matrix product), ``@`` contracts tensor axes.
    Storage is exactly ``n * n`` float64 per value (:attr:`nbytes`).

    Precision: values are exact up to float64 rounding amplified by the key's
    condition number (bounded at generation) and by the magnitude of the hidden
    random slots; tests hold every operation to ``1e-9`` relative error.

    Examples
    --------
    >>> import numpy as np
    >>> from medseal.privacy.more import MoreKey
    >>> key = MoreKey.generate(n=2, seed=1)
    >>> a = key.encrypt(np.array([1.0, 2.0]), rng=np.random.default_rng(2))
    >>> b = key.encrypt(np.array([3.0, 0.5]), rng=np.random.default_rng(3))
    >>> np.round(key.decrypt(a * b + 1.0), 9)
    array([4., 2.])
    """

    __slots__ = ("_ctx", "_data")
    # Make NumPy arrays defer to our reflected operators (ndarray * MoreTensor).
    __array_ufunc__ = None

    def __init__(self, data: ArrayLike, context: MorePublicContext) -> None:
        if not isinstance(context, MorePublicContext):
            raise InputError("MoreTensor needs a MorePublicContext")
        arr = np.asarray(data, dtype=np.float64)
        n = context.n
        if arr.ndim < 2 or arr.shape[-2:] != (n, n):
            raise MoreShapeError(
                f"MoreTensor storage shape {arr.shape} must end in ({n}, {n}) for n={n}"
            )
        self._data: F64 = arr
        self._ctx = context

    @classmethod
    def _wrap(cls, data: F64, context: MorePublicContext) -> MoreTensor:
        obj = cls.__new__(cls)
        obj._data = data
        obj._ctx = context
        return obj

    def _new(self, data: F64) -> MoreTensor:
        return MoreTensor._wrap(data, self._ctx)

    # -- properties --------------------------------------------------------
    @property
    def context(self) -> MorePublicContext:
        """The public context (key id and ``n``) the ciphertexts belong to."""
        return self._ctx

    @property
    def n(self) -> int:
        """Ciphertext matrix size."""
        return self._ctx.n

    @property
    def nbytes(self) -> int:
        """Bytes of ciphertext storage: ``size * n * n * 8``."""
        return self.size * self.n * self.n * 8

    @property
    def data(self) -> F64:
        """Read-only view of the ciphertext matrices, shape ``shape + (n, n)``."""
        view = self._data.view()
        view.flags.writeable = False
        return view

    def __repr__(self) -> str:
        return f"MoreTensor(shape={self.shape}, n={self.n}, key_id='{self._ctx.key_id[:8]}…')"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise MoreShapeError("len() of a 0-d MoreTensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[MoreTensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        raise InputError("the truth value of a MoreTensor is undefined: its values are encrypted")

    def __reduce__(self) -> tuple[Any, ...]:
        return (MoreTensor, (self._data, self._ctx))

    def copy(self) -> MoreTensor:
        """A copy with its own storage."""
        return self._new(self._data.copy())

    # -- operand handling --------------------------------------------------
    def _operand(self, other: object) -> tuple[bool, F64] | None:
        if isinstance(other, MoreTensor):
            self._ctx.check_same(other._ctx)
            return True, other._data
        if isinstance(other, str | bytes) or other is None:
            return None
        try:
            arr = np.asarray(other, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        return False, arr

    def _binary(self, other: object, op: str, cipher: _DataOp, plain: _DataOp) -> MoreTensor:
        """``cipher(self, other)`` on ciphertext storage or ``plain(self, other)`` on a plain array.

        ``NotImplemented`` (typed as ``Any`` by the stubs) when ``other`` is no operand.
        """
        opnd = self._operand(other)
        if opnd is None:
            return NotImplemented  # type: ignore[no-any-return]
        is_c, b = opnd
        broadcast_shapes(self.shape, b.shape[:-2] if is_c else b.shape, op)
        return self._new((cipher if is_c else plain)(self._data, b))

    # -- arithmetic --------------------------------------------------------
    def __add__(self, other: object) -> MoreTensor:
        return self._binary(other, "add", np.add, _linalg.add_scalar_diag)

    __radd__ = __add__

    def __sub__(self, other: object) -> MoreTensor:
        return self._binary(
            other, "subtract", np.subtract, lambda a, b: _linalg.add_scalar_diag(a, -b)
        )

    def __rsub__(self, other: object) -> MoreTensor:
        return self._binary(
            other, "subtract", lambda a, b: b - a, lambda a, b: _linalg.add_scalar_diag(-a, b)
        )

    def __neg__(self) -> MoreTensor:
        return self._new(-self._data)

    def __pos__(self) -> MoreTensor:
        return self.copy()

    def __mul__(self, other: object) -> MoreTensor:
        return self._binary(other, "multiply", _linalg.elem_matmul, _times_plain)

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> MoreTensor:
        return self._binary(
            other,
            "divide",
            lambda a, b: _linalg.elem_matmul(a, _linalg.elem_inv(b)),
            lambda a, b: a / b[..., None, None],
        )

    def __rtruediv__(self, other: object) -> MoreTensor:
        return self._binary(
            other,
            "divide",
            lambda a, b: _linalg.elem_matmul(b, _linalg.elem_inv(a)),
            lambda a, b: _times_plain(_linalg.elem_inv(a), b),
        )

    def __pow__(self, exponent: object) -> MoreTensor:
        if isinstance(exponent, bool):
            return NotImplemented
        if isinstance(exponent, int | np.integer):
            return self._new(_linalg.elem_power(self._data, int(exponent)))
        if isinstance(exponent, float | np.floating):
            e = float(exponent)
            if e.is_integer() and abs(e) < 2**31:
                return self._new(_linalg.elem_power(self._data, int(e)))
            return self.apply(lambda x: x**e, lambda x: e * x ** (e - 1.0))
        return NotImplemented

    def __matmul__(self, other: object) -> MoreTensor:
        opnd = self._operand(other)
        if opnd is None:
            return NotImplemented
        is_c, b = opnd
        return self._new(matmul_data(True, self._data, is_c, b))

    def __rmatmul__(self, other: object) -> MoreTensor:
        opnd = self._operand(other)
        if opnd is None:
            return NotImplemented
        _, a = opnd
        return self._new(matmul_data(False, a, True, self._data))

    # -- matrix (spectral) functions ----------------------------------------
    def apply(
        self,
        f: Callable[[F64], F64],
        df: Callable[[F64], F64] | None = None,
    ) -> MoreTensor:
        """Apply a real scalar function to every encrypted value (as a matrix function).

        Parameters
        ----------
        f : callable
            Vectorised function of a float64 array; it is evaluated on the
            plaintext slot *and* on the hidden random slots, so it must be
            defined on both (see ``noise_range`` of the key).
        df : callable, optional
            Derivative of ``f``, used where eigenvalues coincide; a central
            difference replaces it when omitted.
        """
        return self._new(_linalg.spectral(self._data, f, df))

    def exp(self) -> MoreTensor:
        """Elementwise ``exp``."""
        return self.apply(np.exp, np.exp)

    def log(self) -> MoreTensor:
        """Elementwise natural log; needs plaintext and hidden slots ``> 0`` (else NaN)."""
        return self.apply(np.log, ew.reciprocal)

    def tanh(self) -> MoreTensor:
        """Elementwise ``tanh``."""
        return self.apply(np.tanh, ew.dtanh)

    def sigmoid(self) -> MoreTensor:
        """Elementwise logistic sigmoid ``1 / (1 + exp(-x))`` (overflow-safe form)."""
        return self.apply(ew.sigmoid, ew.dsigmoid)

    def softplus(self) -> MoreTensor:
        """Elementwise ``log(1 + exp(x))`` (overflow-safe form)."""
        return self.apply(ew.softplus, ew.sigmoid)

    def sqrt(self) -> MoreTensor:
        """Elementwise square root; needs all slots ``>= 0``."""
        return self.apply(np.sqrt, ew.half_rsqrt)

    def relu(self) -> MoreTensor:
        """Elementwise ``max(x, 0)`` as a spectral function (exact, not a polynomial)."""
        return self.apply(ew.relu, ew.step)

    def step(self) -> MoreTensor:
        """Elementwise Heaviside step ``x > 0`` (1.0 or 0.0): ReLU's derivative.

        Discontinuous at 0, so values within float64 rounding of 0 may land on either side.
        """
        return self.apply(ew.step, ew.zero)

    def __abs__(self) -> MoreTensor:
        return self.apply(np.abs, ew.sign)

    def reciprocal(self) -> MoreTensor:
        """Elementwise ``1 / x`` via the matrix inverse; needs all slots ``!= 0``."""
        return self._new(_linalg.elem_inv(self._data))

    def square(self) -> MoreTensor:
        """Elementwise ``x * x``."""
        return self._new(_linalg.elem_matmul(self._data, self._data))

    # -- indexing ------------------------------------------------------------
    def _full_index(self, key: Any) -> tuple[Any, ...]:
        return full_index(key, self.shape, MoreTensor)

    def __getitem__(self, key: Any) -> MoreTensor:
        return self._new(self._data[self._full_index(key)])

    def __setitem__(self, key: Any, value: MoreTensor) -> None:
        if not isinstance(value, MoreTensor):
            raise InputError(
                "assign MoreTensor values only; wrap plaintext constants with context.encode()"
            )
        self._ctx.check_same(value._ctx)
        target = self._data[self._full_index(key)]
        broadcast_shapes(value.shape, target.shape[:-2], "assign")
        self._data[self._full_index(key)] = value._data

    # -- serialization ---------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Versioned bytes of the ciphertexts and public context (never the key)."""
        header = self._ctx.header()
        header["shape"] = list(self.shape)
        payload = np.ascontiguousarray(self._data, dtype="<f8").tobytes()
        return serialize.pack(serialize.KIND_TENSOR, header, payload)

    @classmethod
    def from_bytes(
        cls,
        blob: bytes | bytearray | memoryview,
        *,
        context: MorePublicContext | None = None,
    ) -> MoreTensor:
        """Inverse of :meth:`to_bytes`.

        Parameters
        ----------
        blob : bytes
            Output of :meth:`to_bytes`.
        context : MorePublicContext, optional
            When given, the tensor must belong to it
            (:class:`~medseal.privacy.more.errors.MoreContextMismatchError` otherwise).

        Raises
        ------
        MoreFormatError
            Malformed, truncated or unknown-version bytes.
        """
        header, payload = serialize.unpack(blob, serialize.KIND_TENSOR)
        ctx = MorePublicContext.from_header(header)
        if context is not None:
            context.check_same(ctx, "the serialized tensor and the given context")
        shape = header.get("shape")
        if not isinstance(shape, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise MoreFormatError("serialized MORE tensor has an invalid shape")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if len(payload) != count * ctx.n * ctx.n * 8:
            raise MoreFormatError("serialized MORE tensor payload length does not match its shape")
        arr = np.frombuffer(payload, dtype="<f8").astype(np.float64, copy=True)
        return cls._wrap(arr.reshape(*shape, ctx.n, ctx.n), ctx)


def flat_matrices(x: object, context: MorePublicContext, caller: str, what: str) -> F64:
    """The ciphertext matrices of ``x`` as rows of ``n * n`` values, checked to be under ``context``."""
    if not isinstance(x, MoreTensor):
        raise InputError(f"{caller} expects a MoreTensor")
    context.check_same(x.context, what)
    return x.data.reshape(-1, x.n * x.n)
