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
from medseal.privacy.more import _linalg, serialize
from medseal.privacy.more.context import MorePublicContext
from medseal.privacy.more.errors import MoreFormatError, MoreIndexError, MoreShapeError

__all__ = ["MoreTensor"]

F64 = NDArray[np.float64]
Axis = int | tuple[int, ...] | None


# -- scalar functions with stable forms and their derivatives (for merged eigenvalues) --
def _sigmoid(x: F64) -> F64:
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def _dsigmoid(x: F64) -> F64:
    s = _sigmoid(x)
    return s * (1.0 - s)


def _softplus(x: F64) -> F64:
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


def _dtanh(x: F64) -> F64:
    return 1.0 - np.tanh(x) ** 2


def _relu(x: F64) -> F64:
    return np.maximum(x, 0.0)


def _step(x: F64) -> F64:
    return (x > 0).astype(np.float64)


def _zero(x: F64) -> F64:
    return np.zeros_like(x)


def _sign(x: F64) -> F64:
    return np.sign(x)


def _reciprocal_sq(x: F64) -> F64:
    return -1.0 / (x * x)


def _reciprocal(x: F64) -> F64:
    return 1.0 / x


def _half_rsqrt(x: F64) -> F64:
    return 0.5 / np.sqrt(x)


def _normalize_axis(axis: int, ndim: int, *, what: str = "axis") -> int:
    if not -ndim <= axis < ndim:
        raise MoreShapeError(f"{what} {axis} is out of range for a tensor with {ndim} axes")
    return axis % ndim


def _broadcast(s1: tuple[int, ...], s2: tuple[int, ...], op: str) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(s1, s2))
    except ValueError:
        raise MoreShapeError(f"{op}: shapes {s1} and {s2} do not broadcast") from None


class MoreTensor:
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
    def shape(self) -> tuple[int, ...]:
        """Shape of the plaintext tensor (storage has two more axes)."""
        return tuple(self._data.shape[:-2])

    @property
    def ndim(self) -> int:
        """Number of tensor axes."""
        return self._data.ndim - 2

    @property
    def size(self) -> int:
        """Number of encrypted values."""
        return int(np.prod(self.shape, dtype=np.int64))

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

    @property
    def T(self) -> MoreTensor:  # noqa: N802 - NumPy's name
        """Tensor with its axes reversed."""
        return self.transpose()

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

    def _bshape(self, other_shape: tuple[int, ...], op: str) -> tuple[int, ...]:
        return _broadcast(self.shape, other_shape, op)

    # -- arithmetic --------------------------------------------------------
    def __add__(self, other: object) -> MoreTensor:
        opnd = self._operand(other)
        if opnd is None:
            return NotImplemented
        is_c, b = opnd
        if is_c:
            self._bshape(b.shape[:-2], "add")
            return self._new(self._data + b)
        self._bshape(b.shape, "add")
        return self._new(_linalg.add_scalar_diag(self._data, b))

    __radd__ = __add__

    def __sub__(self, other: object) -> MoreTensor:
        opnd = self._operand(other)
        if opnd is None:
            return NotImplemented
        is_c, b = opnd
        if is_c:
            self._bshape(b.shape[:-2], "subtract")
            return self._new(self._data - b)
        self._bshape(b.shape, "subtract")
        return self._new(_linalg.add_scalar_diag(self._data, -b))

    def __rsub__(self, other: object) -> MoreTensor:
        opnd = self._operand(other)
        if opnd is None:
            return NotImplemented
        _, b = opnd  # a MoreTensor on the left would have used its own __sub__
        self._bshape(b.shape, "subtract")
        return self._new(_linalg.add_scalar_diag(-self._data, b))

    def __neg__(self) -> MoreTensor:
        return self._new(-self._data)

    def __pos__(self) -> MoreTensor:
        return self.copy()

    def __mul__(self, other: object) -> MoreTensor:
        opnd = self._operand(other)
        if opnd is None:
            return NotImplemented
        is_c, b = opnd
        if is_c:
            self._bshape(b.shape[:-2], "multiply")
            return self._new(_linalg.elem_matmul(self._data, b))
        self._bshape(b.shape, "multiply")
        return self._new(self._data * b[..., None, None])

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> MoreTensor:
        opnd = self._operand(other)
        if opnd is None:
            return NotImplemented
        is_c, b = opnd
        if is_c:
            self._bshape(b.shape[:-2], "divide")
            return self._new(_linalg.elem_matmul(self._data, _linalg.elem_inv(b)))
        self._bshape(b.shape, "divide")
        return self._new(self._data / b[..., None, None])

    def __rtruediv__(self, other: object) -> MoreTensor:
        opnd = self._operand(other)
        if opnd is None:
            return NotImplemented
        _, b = opnd
        self._bshape(b.shape, "divide")
        return self._new(_linalg.elem_inv(self._data) * b[..., None, None])

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
        return self._new(_matmul_data(True, self._data, is_c, b))

    def __rmatmul__(self, other: object) -> MoreTensor:
        opnd = self._operand(other)
        if opnd is None:
            return NotImplemented
        _, a = opnd
        return self._new(_matmul_data(False, a, True, self._data))

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
        return self.apply(np.log, _reciprocal)

    def tanh(self) -> MoreTensor:
        """Elementwise ``tanh``."""
        return self.apply(np.tanh, _dtanh)

    def sigmoid(self) -> MoreTensor:
        """Elementwise logistic sigmoid ``1 / (1 + exp(-x))`` (overflow-safe form)."""
        return self.apply(_sigmoid, _dsigmoid)

    def softplus(self) -> MoreTensor:
        """Elementwise ``log(1 + exp(x))`` (overflow-safe form)."""
        return self.apply(_softplus, _sigmoid)

    def sqrt(self) -> MoreTensor:
        """Elementwise square root; needs all slots ``>= 0``."""
        return self.apply(np.sqrt, _half_rsqrt)

    def relu(self) -> MoreTensor:
        """Elementwise ``max(x, 0)`` as a spectral function (exact, not a polynomial)."""
        return self.apply(_relu, _step)

    def step(self) -> MoreTensor:
        """Elementwise Heaviside step ``x > 0`` (1.0 or 0.0): ReLU's derivative.

        Discontinuous at 0, so values within float64 rounding of 0 may land on either side.
        """
        return self.apply(_step, _zero)

    def __abs__(self) -> MoreTensor:
        return self.apply(np.abs, _sign)

    def reciprocal(self) -> MoreTensor:
        """Elementwise ``1 / x`` via the matrix inverse; needs all slots ``!= 0``."""
        return self._new(_linalg.elem_inv(self._data))

    def square(self) -> MoreTensor:
        """Elementwise ``x * x``."""
        return self._new(_linalg.elem_matmul(self._data, self._data))

    # -- reductions ----------------------------------------------------------
    def _axes(self, axis: Axis) -> tuple[int, ...]:
        if axis is None:
            return tuple(range(self.ndim))
        axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
        norm = tuple(_normalize_axis(int(a), self.ndim) for a in axes)
        if len(set(norm)) != len(norm):
            raise MoreShapeError(f"repeated axis in {axis}")
        return norm

    def sum(self, axis: Axis = None, *, keepdims: bool = False) -> MoreTensor:
        """Sum over tensor axes (all when ``axis`` is None)."""
        axes = self._axes(axis)
        return self._new(np.sum(self._data, axis=axes, keepdims=keepdims))

    def mean(self, axis: Axis = None, *, keepdims: bool = False) -> MoreTensor:
        """Mean over tensor axes (all when ``axis`` is None)."""
        axes = self._axes(axis)
        count = int(np.prod([self.shape[a] for a in axes], dtype=np.int64))
        if count == 0:
            raise MoreShapeError(f"mean over an empty axis of shape {self.shape}")
        return self._new(np.sum(self._data, axis=axes, keepdims=keepdims) / count)

    # -- shape manipulation --------------------------------------------------
    def reshape(self, *shape: int | tuple[int, ...]) -> MoreTensor:
        """Same values, new tensor shape (one ``-1`` allowed)."""
        shp: tuple[int, ...] = (
            tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], tuple) else shape  # type: ignore[assignment]
        )
        try:
            return self._new(self._data.reshape(*shp, self.n, self.n))
        except ValueError:
            raise MoreShapeError(
                f"cannot reshape a tensor of shape {self.shape} into {shp}"
            ) from None

    def flatten(self) -> MoreTensor:
        """A 1-D copy."""
        return self._new(self._data.reshape(-1, self.n, self.n).copy())

    def transpose(self, *axes: int | tuple[int, ...]) -> MoreTensor:
        """Permute tensor axes (reverse them when none are given)."""
        ax: tuple[int, ...]
        if not axes:
            ax = tuple(reversed(range(self.ndim)))
        elif len(axes) == 1 and isinstance(axes[0], tuple | list):
            ax = tuple(axes[0])
        else:
            ax = tuple(axes)  # type: ignore[arg-type]
        norm = tuple(_normalize_axis(int(a), self.ndim) for a in ax)
        if sorted(norm) != list(range(self.ndim)):
            raise MoreShapeError(f"axes {ax} are not a permutation for shape {self.shape}")
        nd = self.ndim
        return self._new(self._data.transpose(*norm, nd, nd + 1))

    def swapaxes(self, axis1: int, axis2: int) -> MoreTensor:
        """Swap two tensor axes."""
        a1 = _normalize_axis(axis1, self.ndim)
        a2 = _normalize_axis(axis2, self.ndim)
        return self._new(np.swapaxes(self._data, a1, a2))

    def expand_dims(self, axis: int) -> MoreTensor:
        """Insert a length-1 tensor axis at ``axis``."""
        ax = _normalize_axis(axis, self.ndim + 1)
        return self._new(np.expand_dims(self._data, ax))

    def squeeze(self, axis: Axis = None) -> MoreTensor:
        """Drop length-1 tensor axes (all of them when ``axis`` is None)."""
        if axis is None:
            axes = tuple(i for i, s in enumerate(self.shape) if s == 1)
        else:
            axes = self._axes(axis)
            bad = [a for a in axes if self.shape[a] != 1]
            if bad:
                raise MoreShapeError(f"cannot squeeze axes {bad} of shape {self.shape}")
        return self._new(np.squeeze(self._data, axis=axes))

    def broadcast_to(self, shape: tuple[int, ...]) -> MoreTensor:
        """A copy broadcast to ``shape`` (real storage, not a strided view)."""
        shp = tuple(shape)
        if _broadcast(self.shape, shp, "broadcast_to") != shp:
            raise MoreShapeError(f"cannot broadcast shape {self.shape} to {shp}")
        return self._new(np.broadcast_to(self._data, shp + (self.n, self.n)).copy())

    # -- indexing ------------------------------------------------------------
    def _full_index(self, key: Any) -> tuple[Any, ...]:
        if isinstance(key, MoreTensor):
            raise InputError("a MoreTensor cannot be used as an index (its values are encrypted)")
        parts = key if isinstance(key, tuple) else (key,)
        consumed = 0
        ellipses = 0
        for k in parts:
            if k is None:
                continue
            if k is Ellipsis:
                ellipses += 1
            elif isinstance(k, MoreTensor):
                raise InputError("a MoreTensor cannot be used as an index")
            elif isinstance(k, np.ndarray) and k.dtype == np.bool_:
                consumed += k.ndim
            else:
                consumed += 1
        if ellipses > 1:
            raise MoreIndexError("an index can only have a single ellipsis ('...')")
        if consumed > self.ndim:
            raise MoreIndexError(
                f"too many indices for a tensor of shape {self.shape}: {consumed} were given"
            )
        fill = (slice(None),) * (self.ndim - consumed)
        if ellipses:
            i = next(j for j, k in enumerate(parts) if k is Ellipsis)
            parts = parts[:i] + fill + parts[i + 1 :]
        else:
            parts = parts + fill
        return parts + (slice(None), slice(None))

    def __getitem__(self, key: Any) -> MoreTensor:
        return self._new(self._data[self._full_index(key)])

    def __setitem__(self, key: Any, value: MoreTensor) -> None:
        if not isinstance(value, MoreTensor):
            raise InputError(
                "assign MoreTensor values only; wrap plaintext constants with context.encode()"
            )
        self._ctx.check_same(value._ctx)
        target = self._data[self._full_index(key)]
        _broadcast(value.shape, target.shape[:-2], "assign")
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


def _matmul_data(a_c: bool, a: F64, b_c: bool, b: F64) -> F64:
    """``@`` over tensor axes with NumPy's 1-D promotion rules; returns ciphertext storage."""
    a_nd = a.ndim - 2 if a_c else a.ndim
    b_nd = b.ndim - 2 if b_c else b.ndim
    a_shape = a.shape[:-2] if a_c else a.shape
    b_shape = b.shape[:-2] if b_c else b.shape
    if a_nd == 0 or b_nd == 0:
        raise MoreShapeError(
            f"matmul: shapes {a_shape} and {b_shape}: 0-d operands are not allowed, use *"
        )
    drop_left = a_nd == 1
    drop_right = b_nd == 1
    if drop_left:
        a = a[None]
    if drop_right:
        b = b[:, None]
    try:
        if a_c and b_c:
            out = _linalg.tensor_matmul(a, b)
        elif a_c:
            out = _linalg.tensor_matmul_plain_right(a, b)
        else:
            out = _linalg.tensor_matmul_plain_left(a, b)
    except MoreShapeError:
        raise
    except ValueError:  # batch axes that do not broadcast
        raise MoreShapeError(f"matmul: shapes {a_shape} and {b_shape} do not broadcast") from None
    # storage is (..., m, p, n, n): m sits at -4, p at -3
    if drop_left:
        out = np.squeeze(out, axis=-4)
    if drop_right:
        out = np.squeeze(out, axis=-3)
    return out
