"""Shape rules of :class:`~medseal.privacy.more.tensor.MoreTensor`: axes, broadcasting, indexing, ``@``.

Where it sits: privacy/more. Pure functions on shapes and ciphertext storage
(``shape + (n, n)`` float64 arrays), shared by the tensor type and the free
functions of :mod:`medseal.privacy.more.functions`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from medseal.errors import InputError
from medseal.privacy.more import _linalg
from medseal.privacy.more.errors import MoreIndexError, MoreShapeError

__all__ = ["broadcast_shapes", "full_index", "matmul_data", "normalize_axis"]

F64 = NDArray[np.float64]


def normalize_axis(axis: int, ndim: int, *, what: str = "axis") -> int:
    if not -ndim <= axis < ndim:
        raise MoreShapeError(f"{what} {axis} is out of range for a tensor with {ndim} axes")
    return axis % ndim


def broadcast_shapes(s1: tuple[int, ...], s2: tuple[int, ...], op: str) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(s1, s2))
    except ValueError:
        raise MoreShapeError(f"{op}: shapes {s1} and {s2} do not broadcast") from None


def matmul_data(a_c: bool, a: F64, b_c: bool, b: F64) -> F64:
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


def full_index(key: Any, shape: tuple[int, ...], tensor_type: type) -> tuple[Any, ...]:
    """A NumPy index over the tensor axes ``shape``, extended over the two storage axes.

    ``tensor_type`` (``MoreTensor``) is refused as an index: its values are encrypted.
    """
    ndim = len(shape)
    if isinstance(key, tensor_type):
        raise InputError("a MoreTensor cannot be used as an index (its values are encrypted)")
    parts = key if isinstance(key, tuple) else (key,)
    consumed = 0
    ellipses = 0
    for k in parts:
        if k is None:
            continue
        if k is Ellipsis:
            ellipses += 1
        elif isinstance(k, tensor_type):
            raise InputError("a MoreTensor cannot be used as an index")
        elif isinstance(k, np.ndarray) and k.dtype == np.bool_:
            consumed += k.ndim
        else:
            consumed += 1
    if ellipses > 1:
        raise MoreIndexError("an index can only have a single ellipsis ('...')")
    if consumed > ndim:
        raise MoreIndexError(f"too many indices for a tensor of shape {shape}: {consumed} were given")
    fill = (slice(None),) * (ndim - consumed)
    if ellipses:
        i = next(j for j, k in enumerate(parts) if k is Ellipsis)
        parts = parts[:i] + fill + parts[i + 1 :]
    else:
        parts = parts + fill
    return parts + (slice(None), slice(None))
