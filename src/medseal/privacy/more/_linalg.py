"""Vectorised kernels on stacks of small matrices, the arithmetic under ``MoreTensor``.

Every function here works on raw float64 arrays whose two trailing axes are the
``(n, n)`` MORE ciphertext matrices; the leading axes are tensor axes and
broadcast like NumPy. ``n = 2`` (the default key size) takes closed-form paths
that avoid LAPACK calls per element; ``n = 3, 4`` have vectorised eigenvalues
(LAPACK only for near-repeated ones); other operations for ``n > 2`` use batched
``numpy.linalg`` calls over the whole stack. Matrix functions for ``n > 2`` are interpolation polynomials evaluated
with batched ``matmul`` (no eigenvectors). Nothing here knows about keys: these
are the operations the compute host runs.
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
    "real_eigvals",
    "spectral_interp",
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

# n > 2: eigenvalues closer than _CLUSTER_RTOL of their size plus _CLUSTER_ATOL of the
# matrix's largest eigenvalue are one repeated eigenvalue split by rounding. Rounding
# is absolute, relative to the largest slot: a product of ciphertexts (Adam's g * g)
# leaves slots that should be equal ~1e-11 of the largest slot apart (cond(S) <= 10),
# and interpolating a non-smooth f (sqrt at 0) through such split nodes amplifies
# it without bound. Merging genuinely distinct slots that close costs at most
# ~|f'| * 1e-9 * (largest slot) in the later of them.
_CLUSTER_RTOL = 1e-11
_CLUSTER_ATOL = 1e-9

# n = 3 closed-form eigenvalues: |r| = 1 is a repeated root; within this of it LAPACK
# takes over (the closed form's root error grows like rounding / (1 - |r|)).
_CUBIC_FALLBACK = 1e-4
# n = 4 closed-form path: roots (of the matrix scaled to spectral spread 1) closer
# than this go to LAPACK (the characteristic polynomial's root error grows as the
# roots approach each other).
_QUARTIC_GAP = 1e-2


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
        product: F64 = np.matmul(a, b)
        return product
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
        # LU with pivoting (LAPACK): Adam divides by ciphertexts whose hidden slots
        # are ~eps next to an O(1) plaintext; an adjugate / determinant formula loses
        # ~cond * 1e-16 of the plaintext slot there (1e-7 here), LU does not.
        try:
            return np.asarray(np.linalg.inv(a), dtype=np.float64)
        except np.linalg.LinAlgError:
            # Like n = 2 and 3: a singular matrix (a zero slot) gives non-finite
            # entries instead of failing the whole tensor.
            singular = np.linalg.det(a) == 0.0
            safe = np.where(singular[..., None, None], np.eye(n), a)
            out = np.asarray(np.linalg.inv(safe), dtype=np.float64)
            out[singular] = np.nan
            return out
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
        Its derivative, used when two eigenvalues coincide (``n = 2`` only; the
        ``n > 2`` path needs no derivative); when omitted a central difference
        is used there instead.

    Notes
    -----
    ``n = 2`` uses the closed form ``f(C) = (f1 + f2)/2 I + (f1 - f2)/(l1 - l2) (C - m I)``
    with ``m`` the mean eigenvalue, which needs no eigenvectors and stays exact
    as the eigenvalues merge. ``n > 2`` evaluates the interpolation polynomial
    of ``f`` at the distinct eigenvalues (:func:`spectral_interp`), also without
    eigenvectors, so coinciding hidden slots (saturated activations) are exact.
    """
    n = a.shape[-1]
    if n == 2:
        return _spectral_2x2(a, f, df)
    return spectral_interp(a, f)


def spectral_interp(a: F64, f: ScalarFn) -> F64:
    """``f(C)`` for every diagonalisable ``C`` with real spectrum, as ``p(C)``: any ``n``, no eigenvectors.

    ``p`` is the Newton interpolation polynomial of ``f`` on the *distinct*
    eigenvalues of ``C``. For a diagonalisable matrix the minimal polynomial has
    only those roots, so ``p(C) = f(C)`` exactly; eigenvalues that coincide
    (two hidden slots saturated to 1.0 by ``tanh``, gradients whose hidden slots
    are exactly 0) need no special case and no derivative, where the
    eigenvector route ``V f(D) V^-1`` meets a singular ``V``.

    The whole stack is processed at once: eigenvalues of every matrix
    (:func:`real_eigvals`), a divided
    difference table over ``(..., n)`` arrays and ``n - 1`` batched ``matmul``
    calls (Horner's scheme in Newton form).

    Eigenvalues whose gap is within rounding (``_CLUSTER_RTOL`` of their size
    plus ``_CLUSTER_ATOL`` of the largest eigenvalue of the matrix) are merged
    into one node (the smallest of them): slots that should be equal come out
    of ciphertext products that far apart. Genuinely distinct but close eigenvalues stay
    separate nodes; their divided differences lose relative accuracy, but the
    table is self-consistent, so ``p`` still interpolates ``f`` at every node to
    rounding.
    """
    n = a.shape[-1]
    lead = a.shape[:-2]
    flat = np.ascontiguousarray(a, dtype=np.float64).reshape(-1, n, n)
    m = flat.shape[0]
    if m == 0:
        return np.empty(a.shape, dtype=np.float64)
    w = real_eigvals(flat)  # (m, n) ascending
    scale = np.max(np.abs(w), axis=-1, keepdims=True)
    gap = np.diff(w, axis=-1)
    size = np.maximum(np.abs(w[:, 1:]), np.abs(w[:, :-1]))
    merge = gap <= _CLUSTER_RTOL * size + _CLUSTER_ATOL * scale  # (m, n - 1)
    # Keep the first eigenvalue of every run of merged ones, compacted to the left;
    # the padding after the ``count`` real nodes repeats the last one and gets
    # coefficient 0 below.
    dropped = np.concatenate([np.zeros((m, 1), dtype=bool), merge], axis=-1)
    order = np.argsort(dropped, axis=-1, kind="stable")
    nodes = np.take_along_axis(w, order, axis=-1)
    count = n - np.sum(dropped, axis=-1)
    valid = np.arange(n) < count[:, None]
    last = nodes[np.arange(m), count - 1]
    nodes = np.where(valid, nodes, last[:, None])
    coef = np.asarray(f(nodes), dtype=np.float64).copy()
    # In-place divided differences: coef[:, i] becomes f[z_0, ..., z_i].
    for k in range(1, n):
        num = coef[:, k:] - coef[:, k - 1 : -1]
        den = nodes[:, k:] - nodes[:, : n - k]
        ok = valid[:, k:]
        with np.errstate(divide="ignore", invalid="ignore"):
            coef[:, k:] = np.where(ok, num / np.where(ok, den, 1.0), 0.0)
    # p(C) = c0 I + (C - z0 I)(c1 I + (C - z1 I)(c2 I + ...)), Horner from the top.
    eye = np.eye(n)
    out = coef[:, n - 1, None, None] * eye
    for k in range(n - 2, -1, -1):
        shifted = flat - nodes[:, k, None, None] * eye
        out = np.matmul(shifted, out)
        out += coef[:, k, None, None] * eye
    return out.reshape(*lead, n, n)


def real_eigvals(flat: F64) -> F64:
    """Eigenvalues of a stack ``(m, n, n)`` of matrices with real spectra, ascending, ``(m, n)``.

    ``n = 3`` uses the closed form of Smith (1961) on ``B = C - tr(C)/3 I``
    (valid for any matrix with a real spectrum: it only needs ``tr(B^2)`` and
    ``det(B)``), vectorised over the stack; matrices within ``1e-4`` of a
    repeated eigenvalue, where the closed form loses accuracy (a double root
    of the characteristic polynomial moves by ``sqrt`` of its rounding), go to
    LAPACK. ``n = 4``: :func:`_eigvals_4x4`, vectorised with the same kind of
    fallback. Other ``n`` use batched ``numpy.linalg.eigvals``. Rounding can give
    a repeated eigenvalue a tiny imaginary part; only the real part is kept.
    """
    n = flat.shape[-1]
    finite = np.all(np.isfinite(flat), axis=(-2, -1))
    if not np.all(finite):
        # NaN/inf values (a log of a negative slot, an overflow) stay NaN, as for n = 2.
        w_all = np.full(flat.shape[:-1], np.nan)
        w_all[finite] = real_eigvals(flat[finite])
        return w_all
    if n == 4 and flat.shape[0] > 0:
        return _eigvals_4x4(flat)
    if n != 3 or flat.shape[0] == 0:
        return np.sort(np.linalg.eigvals(flat).real, axis=-1)
    a = flat
    mid = (a[:, 0, 0] + a[:, 1, 1] + a[:, 2, 2]) / 3.0
    b00, b11, b22 = a[:, 0, 0] - mid, a[:, 1, 1] - mid, a[:, 2, 2] - mid
    b01, b02, b10 = a[:, 0, 1], a[:, 0, 2], a[:, 1, 0]
    b12, b20, b21 = a[:, 1, 2], a[:, 2, 0], a[:, 2, 1]
    # tr(B^2) = sum of the squared eigenvalues of B (real spectrum: >= 0).
    tr2 = b00 * b00 + b11 * b11 + b22 * b22 + 2.0 * (b01 * b10 + b02 * b20 + b12 * b21)
    p = np.sqrt(np.maximum(tr2, 0.0) / 6.0)
    det = (
        b00 * (b11 * b22 - b12 * b21)
        - b01 * (b10 * b22 - b12 * b20)
        + b02 * (b10 * b21 - b11 * b20)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        r = det / (2.0 * p * p * p)
    phi = np.arccos(np.clip(r, -1.0, 1.0)) / 3.0
    w = np.empty((flat.shape[0], 3))
    w[:, 0] = mid + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    w[:, 2] = mid + 2.0 * p * np.cos(phi)
    w[:, 1] = 3.0 * mid - w[:, 0] - w[:, 2]
    hard = ~(np.abs(r) <= 1.0 - _CUBIC_FALLBACK)  # near a repeated root, p = 0, or NaN
    if np.any(hard):
        w[hard] = np.linalg.eigvals(flat[hard]).real
    return np.sort(w, axis=-1)


def _eigvals_4x4(flat: F64) -> F64:
    """Real eigenvalues of a stack of 4x4 matrices, ascending: vectorised, LAPACK where hard.

    With ``B = C - tr(C)/4 I`` and ``s^2 = tr(B^2)`` (all eigenvalues of ``B/s``
    lie in ``[-1, 1]``), the characteristic polynomial of ``B/s`` is
    ``u^4 - u^2/2 + c1 u + c0`` (Newton's identities on ``tr(B^k)``). Laguerre's
    iteration from ``u = 1`` converges monotonically and cubically to the
    largest root of a polynomial with real roots; deflating it leaves a cubic
    solved in closed form. Matrices where this is inaccurate (roots closer than
    ``_QUARTIC_GAP`` of ``s``, no convergence, non-finite) go to LAPACK.
    """
    m = flat.shape[0]
    mid = np.trace(flat, axis1=1, axis2=2) / 4.0
    b = flat - mid[:, None, None] * np.eye(4)
    b2 = np.matmul(b, b)
    bt = np.swapaxes(b, 1, 2)
    p2 = np.einsum("kij,kij->k", b, bt)
    p3 = np.einsum("kij,kij->k", b2, bt)
    p4 = np.einsum("kij,kij->k", b2, np.swapaxes(b2, 1, 2))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = np.sqrt(np.maximum(p2, 0.0))
        c1 = -p3 / (3.0 * s**3)
        c0 = (0.5 - p4 / (p2 * p2)) / 4.0
        u = np.ones(m)
        step = np.zeros(m)
        for _ in range(12):
            pv = ((u * u - 0.5) * u + c1) * u + c0
            d1 = (4.0 * u * u - 1.0) * u + c1
            g = d1 / pv
            h = g * g - (12.0 * u * u - 1.0) / pv
            root = np.sqrt(np.maximum(3.0 * (4.0 * h - g * g), 0.0))
            step = np.where(pv == 0.0, 0.0, 4.0 / (g + np.where(g >= 0, root, -root)))
            u = u - step
        # u^4 - u^2/2 + c1 u + c0 = (u - u1)(u^3 + a2 u^2 + a1 u + a0)
        a2 = u
        a1 = -0.5 + u * a2
        a0 = c1 + u * a1
        pp = a1 - a2 * a2 / 3.0
        qq = 2.0 * a2**3 / 27.0 - a2 * a1 / 3.0 + a0
        arg = (3.0 * qq / (2.0 * pp)) * np.sqrt(-3.0 / pp)
        phi = np.arccos(np.clip(arg, -1.0, 1.0)) / 3.0
        amp = 2.0 * np.sqrt(np.maximum(-pp / 3.0, 0.0))
        roots = np.stack(
            [u] + [amp * np.cos(phi - 2.0 * np.pi * j / 3.0) - a2 / 3.0 for j in range(3)],
            axis=1,
        )
    roots = np.sort(roots, axis=1)
    hard = ~(
        (np.abs(step) <= 1e-12)
        & (pp < 0.0)
        & (np.abs(arg) <= 1.0 - _CUBIC_FALLBACK)
        & (np.min(np.diff(roots, axis=1), axis=1) >= _QUARTIC_GAP)
        & (s > 0.0)
    )
    w: F64 = roots * s[:, None] + mid[:, None]
    if np.any(hard):
        w[hard] = np.sort(np.linalg.eigvals(flat[hard]).real, axis=1)
    return w


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
