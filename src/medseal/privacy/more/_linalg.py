"""Vectorised kernels on stacks of small matrices, the arithmetic under ``MoreTensor``.

Every function here works on raw float64 arrays whose two trailing axes are the
``(n, n)`` MORE ciphertext matrices; the leading axes are tensor axes and
broadcast like NumPy. ``n = 2`` (the default key size) takes closed-form paths
that avoid LAPACK calls per element; larger ``n`` falls back to batched
``numpy.linalg``. Nothing here knows about keys: these are the operations the
compute host runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "add_scalar_diag",
    "elem_inv",
    "elem_matmul",
    "elem_power",
    "spectral",
    "tensor_matmul",
    "tensor_matmul_plain_left",
    "tensor_matmul_plain_right",
]

F64 = NDArray[np.float64]
ScalarFn = Callable[[F64], F64]

# Below this half-gap (relative to 1 + |mean eigenvalue|) the two eigenvalues of a
# 2x2 ciphertext are treated as equal and the divided difference becomes f'(mean):
# the error of that switch is O(gap^2 * f'''), far below float64 noise here.
_DEGENERATE_RTOL = 1e-7


def add_scalar_diag(a: F64, p: F64 | float) -> F64:
    """Return ``a + p * I`` (a fresh array), ``p`` broadcasting over the tensor axes."""
    n = a.shape[-1]
    p_arr = np.asarray(p, dtype=np.float64)
    shape = np.broadcast_shapes(a.shape[:-2], p_arr.shape) + (n, n)
    out = np.array(np.broadcast_to(a, shape), dtype=np.float64, copy=True)
    for i in range(n):
        out[..., i, i] += p_arr
    return out


def elem_matmul(a: F64, b: F64) -> F64:
    """Per-element matrix product of two broadcastable stacks of ``(n, n)`` matrices."""
    n = a.shape[-1]
    if n != 2:
        return np.matmul(a, b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    out = np.empty(shape, dtype=np.float64)
    a00, a01, a10, a11 = a[..., 0, 0], a[..., 0, 1], a[..., 1, 0], a[..., 1, 1]
    b00, b01, b10, b11 = b[..., 0, 0], b[..., 0, 1], b[..., 1, 0], b[..., 1, 1]
    # Strided elementwise products beat np.matmul's per-matrix loop ~2x for 2x2.
    out[..., 0, 0] = a00 * b00 + a01 * b10
    out[..., 0, 1] = a00 * b01 + a01 * b11
    out[..., 1, 0] = a10 * b00 + a11 * b10
    out[..., 1, 1] = a10 * b01 + a11 * b11
    return out


def elem_inv(a: F64) -> F64:
    """Per-element matrix inverse (division by a ciphertext); singular -> inf/nan entries."""
    n = a.shape[-1]
    if n != 2:
        return np.asarray(np.linalg.inv(a), dtype=np.float64)
    a00, a01, a10, a11 = a[..., 0, 0], a[..., 0, 1], a[..., 1, 0], a[..., 1, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_det = 1.0 / (a00 * a11 - a01 * a10)
    out = np.empty_like(a)
    out[..., 0, 0] = a11 * inv_det
    out[..., 0, 1] = -a01 * inv_det
    out[..., 1, 0] = -a10 * inv_det
    out[..., 1, 1] = a00 * inv_det
    return out


def elem_power(a: F64, k: int) -> F64:
    """Per-element integer matrix power by repeated squaring (negative: of the inverse)."""
    n = a.shape[-1]
    if k < 0:
        a, k = elem_inv(a), -k
    result: F64 | None = None
    base = a
    while True:
        if k & 1:
            result = base.copy() if result is None else elem_matmul(result, base)
        k >>= 1
        if not k:
            break
        base = elem_matmul(base, base)
    if result is None:
        return np.broadcast_to(np.eye(n), a.shape).copy()
    return result


def spectral(a: F64, f: ScalarFn, df: ScalarFn | None = None) -> F64:
    """Apply the scalar function ``f`` to every matrix as a matrix (spectral) function.

    For a diagonalisable ``C = V diag(l) V^-1`` with real eigenvalues ``l`` this is
    ``V diag(f(l)) V^-1``. MORE ciphertexts always have real eigenvalues (the
    plaintext and the hidden random slots), so ``f`` only ever sees reals.

    Parameters
    ----------
    a : ndarray, shape (..., n, n)
        Stack of ciphertext matrices.
    f : callable
        Vectorised real scalar function.
    df : callable, optional
        Its derivative, used when two eigenvalues coincide (``n = 2`` only); when
        omitted a central difference is used there instead.

    Notes
    -----
    ``n = 2`` uses the closed form ``f(C) = (f1 + f2)/2 I + (f1 - f2)/(l1 - l2) (C - m I)``
    with ``m`` the mean eigenvalue, which needs no eigenvectors and stays exact
    as the eigenvalues merge. ``n > 2`` uses batched ``numpy.linalg.eig``, which
    is accurate while the eigenvalues of each matrix are distinct.
    """
    n = a.shape[-1]
    if n == 2:
        return _spectral_2x2(a, f, df)
    w, v = np.linalg.eig(a)
    # True eigenvalues/eigenvectors are real; rounding can add tiny imaginary parts.
    w = w.real
    v = v.real
    vinv = np.linalg.inv(v)
    fw = np.asarray(f(w), dtype=np.float64)
    return np.asarray(np.matmul(v * fw[..., None, :], vinv), dtype=np.float64)


def _spectral_2x2(a: F64, f: ScalarFn, df: ScalarFn | None) -> F64:
    a00, a01, a10, a11 = a[..., 0, 0], a[..., 0, 1], a[..., 1, 0], a[..., 1, 1]
    mid = 0.5 * (a00 + a11)
    half = 0.5 * (a00 - a11)
    # ((a-d)/2)^2 + bc avoids the cancellation of (tr/2)^2 - det for large traces.
    disc = half * half + a01 * a10
    h = np.sqrt(np.maximum(disc, 0.0))
    f1 = np.asarray(f(mid + h), dtype=np.float64)
    f2 = np.asarray(f(mid - h), dtype=np.float64)
    avg = 0.5 * (f1 + f2)
    degenerate = h <= _DEGENERATE_RTOL * (1.0 + np.abs(mid))
    safe_h = np.where(degenerate, 1.0, h)
    beta = (f1 - f2) / (2.0 * safe_h)
    if np.any(degenerate):
        if df is not None:
            slope = np.asarray(df(mid), dtype=np.float64)
        else:
            step = 1e-6 * (1.0 + np.abs(mid))
            slope = (np.asarray(f(mid + step)) - np.asarray(f(mid - step))) / (2.0 * step)
        beta = np.where(degenerate, slope, beta)
    out = np.empty(a.shape, dtype=np.float64)
    bh = beta * half
    out[..., 0, 0] = avg + bh
    out[..., 1, 1] = avg - bh
    out[..., 0, 1] = beta * a01
    out[..., 1, 0] = beta * a10
    return out


def _check_inner(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    from medseal.privacy.more.errors import MoreShapeError

    if len(a_shape) < 2 or len(b_shape) < 2 or a_shape[-1] != b_shape[-2]:
        raise MoreShapeError(
            f"matmul: shapes {a_shape} and {b_shape} are not aligned "
            f"(need (..., m, k) @ (..., k, p))"
        )


def tensor_matmul(a: F64, b: F64) -> F64:
    """``(..., m, k)`` @ ``(..., k, p)`` over tensor axes of two ciphertext stacks.

    ``out[.., i, j] = sum_k A[.., i, k] @ B[.., k, j]`` (per-element matrix
    products). The sum over ``k`` and the inner ``n`` index are contracted
    together, so the whole product is one BLAS call on ``(m n, k n) @ (k n, p n)``.
    """
    n = a.shape[-1]
    _check_inner(a.shape[:-2], b.shape[:-2])
    *lead_a, m, k = a.shape[:-2]
    *lead_b, _, p = b.shape[:-2]
    # (.., m, k, a, b) -> (.., m, a, k, b) -> (.., m*a, k*b)
    a2 = np.swapaxes(a, -3, -2).reshape(*lead_a, m * n, k * n)
    # (.., k, p, b, c) -> (.., k, b, p, c) -> (.., k*b, p*c)
    b2 = np.swapaxes(b, -3, -2).reshape(*lead_b, k * n, p * n)
    out = np.matmul(a2, b2)
    lead = out.shape[:-2]
    return np.ascontiguousarray(np.swapaxes(out.reshape(*lead, m, n, p, n), -3, -2))


def tensor_matmul_plain_right(a: F64, w: F64) -> F64:
    """Ciphertext ``(..., m, k)`` @ plaintext ``(..., k, p)`` -> ciphertext ``(..., m, p)``."""
    n = a.shape[-1]
    _check_inner(a.shape[:-2], w.shape)
    *lead_a, m, k = a.shape[:-2]
    p = w.shape[-1]
    # (.., m, k, a, b) -> (.., m, a, b, k) -> (.., m*a*b, k)
    a2 = np.moveaxis(a, -3, -1).reshape(*lead_a, m * n * n, k)
    out = np.matmul(a2, w)
    lead = out.shape[:-2]
    return np.ascontiguousarray(np.moveaxis(out.reshape(*lead, m, n, n, p), -1, -3))


def tensor_matmul_plain_left(w: F64, b: F64) -> F64:
    """Plaintext ``(..., m, k)`` @ ciphertext ``(..., k, p)`` -> ciphertext ``(..., m, p)``."""
    n = b.shape[-1]
    _check_inner(w.shape, b.shape[:-2])
    *lead_b, k, p = b.shape[:-2]
    m = w.shape[-2]
    out = np.matmul(w, b.reshape(*lead_b, k, p * n * n))
    lead = out.shape[:-2]
    return np.ascontiguousarray(out.reshape(*lead, m, p, n, n))
