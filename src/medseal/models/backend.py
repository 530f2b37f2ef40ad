"""Array backends: one small ops namespace for NumPy float64 arrays and for MORE ciphertexts.

Where it sits: models stage, on top of :mod:`medseal.privacy.more`. The
sequence networks (:mod:`medseal.models.nets.conv_bilstm`,
:mod:`~medseal.models.nets.cnn_lstm`, :mod:`~medseal.models.nets.cnn_baseline`)
and the Adam trainer (:mod:`medseal.models.more_train`) are written once,
against this namespace, with hand-written backward passes. Running them with
:class:`NumpyBackend` is plaintext training; running them with
:class:`MoreBackend` is training on MORE ciphertexts, through the *same* code
path, so the two runs agree to float64 rounding.

Both backends' tensors support ``+ - * / @``, ``-x``, ``.T``, ``.sum(axis,
keepdims=)``, ``.mean``, ``.reshape``, ``.transpose`` and indexing with
slices; everything else (activations, convolution, pooling, joining,
constants) goes through the backend's methods.

Only analytic functions are offered: a MORE ciphertext is transformed as a
matrix function, so ``f`` must be smooth where the hidden slots land (the
seed's ReLU and max-pooling are replaced by ``tanh`` and average pooling).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from medseal.errors import InputError
from medseal.privacy import more
from medseal.privacy.more import AlgebraProjector, MorePublicContext, MoreTensor

__all__ = [
    "Array",
    "ArrayBackend",
    "MoreBackend",
    "NumpyBackend",
    "blas_single_thread",
    "stable_sigmoid",
    "stable_softplus",
]

F64 = NDArray[np.float64]
Array: TypeAlias = Any
"""A backend tensor: ``ndarray`` (float64) for NumPy, :class:`MoreTensor` for MORE."""
Shape4: TypeAlias = tuple[int, int, int, int]


def stable_sigmoid(x: F64) -> F64:
    """Overflow-free logistic sigmoid (the same formula the MORE tensor uses)."""
    z = np.exp(-np.abs(x))
    return np.asarray(np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z)), dtype=np.float64)


def stable_softplus(x: F64) -> F64:
    """Overflow-free ``log(1 + exp(x))``."""
    return np.asarray(np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0), dtype=np.float64)


@contextmanager
def blas_single_thread() -> Iterator[None]:
    """Run the block with one BLAS thread.

    The networks' products are skinny (a few output channels against tens of
    thousands of im2col rows); multi-threaded OpenBLAS splits them badly and
    was measured 300x slower than one thread on a loaded 2-core host. Uses
    ``threadpoolctl`` (a scikit-learn dependency) when installed.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _sqrt_nonneg(x: F64) -> F64:
    # Every slot of Adam's second moment is a sum of squares (>= 0); rounding of a
    # tiny plaintext slot next to a large hidden one can leave it at -1e-20, so clamp.
    return np.sqrt(np.maximum(x, 0.0))


def _safe_half_rsqrt(x: F64) -> F64:
    # Derivative of sqrt used only where a ciphertext's two slots coincide; at an
    # exact 0 (a parameter whose gradient is 0 in every slot) C is the zero matrix,
    # so any finite slope gives sqrt(C) = 0 instead of inf * 0 = NaN.
    return 0.5 / np.sqrt(np.maximum(x, 1e-300))


class ArrayBackend:
    """The operations a network needs beyond the operators both tensor types share.

    Subclasses: :class:`NumpyBackend` (plaintext float64) and :class:`MoreBackend`
    (MORE ciphertexts under one public context).
    """

    name: str = "abstract"
    encrypted: bool = False

    # -- elementwise analytic functions -----------------------------------------
    def tanh(self, x: Array) -> Array:
        raise NotImplementedError

    def sigmoid(self, x: Array) -> Array:
        raise NotImplementedError

    def softplus(self, x: Array) -> Array:
        raise NotImplementedError

    def exp(self, x: Array) -> Array:
        raise NotImplementedError

    def sqrt(self, x: Array) -> Array:
        raise NotImplementedError

    # -- convolution and pooling (NCHW, stride 1) ---------------------------------
    def conv2d(self, x: Array, w: Array, b: Array | None, *, padding: int) -> Array:
        raise NotImplementedError

    def conv2d_weight_grad(
        self, x: Array, grad_out: Array, kernel_size: tuple[int, int], *, padding: int
    ) -> Array:
        raise NotImplementedError

    def conv2d_input_grad(
        self, grad_out: Array, w: Array, input_shape: Shape4, *, padding: int
    ) -> Array:
        """The input gradient of :meth:`conv2d`: a full correlation of ``grad_out`` with the
        flipped, transposed kernel, so any backend with an exact ``conv2d`` has it."""
        kh, kw = w.shape[2], w.shape[3]
        if padding > min(kh, kw) - 1:
            raise InputError("conv2d_input_grad: padding larger than kernel - 1 is unsupported")
        flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        out = self.conv2d(grad_out, flipped, None, padding=kh - 1 - padding)
        return np.ascontiguousarray(out[:, :, : input_shape[2], : input_shape[3]])

    def avg_pool2d(self, x: Array, k: int) -> Array:
        raise NotImplementedError

    def avg_pool2d_grad(self, grad_out: Array, k: int) -> Array:
        """Spread each pooled gradient evenly over its ``k x k`` window."""
        n_, c, h, w = grad_out.shape
        g = grad_out.reshape(n_, c, h, 1, w, 1)
        full = self.broadcast_to(g, (n_, c, h, k, w, k))
        return full.reshape(n_, c, h * k, w * k) * (1.0 / (k * k))

    # -- bookkeeping ----------------------------------------------------------------
    def concatenate(self, xs: Sequence[Array], axis: int = 0) -> Array:
        raise NotImplementedError

    def stack(self, xs: Sequence[Array], axis: int = 0) -> Array:
        raise NotImplementedError

    def broadcast_to(self, x: Array, shape: tuple[int, ...]) -> Array:
        raise NotImplementedError

    def zeros(self, shape: tuple[int, ...]) -> Array:
        """Zeros (for MORE: trivial encryptions of 0, the zero matrix: no data in them)."""
        raise NotImplementedError

    def is_tensor(self, x: object) -> bool:
        """Whether ``x`` is this backend's tensor type."""
        raise NotImplementedError

    def refresh(self, x: Array) -> Array:
        """Remove numerical drift from a tensor kept across training steps (identity here)."""
        return x


class NumpyBackend(ArrayBackend):
    """Plaintext float64 NumPy arrays."""

    name = "numpy"
    encrypted = False

    def tanh(self, x: Array) -> Array:
        return np.tanh(x)

    def sigmoid(self, x: Array) -> Array:
        return stable_sigmoid(x)

    def softplus(self, x: Array) -> Array:
        return stable_softplus(x)

    def exp(self, x: Array) -> Array:
        return np.exp(x)

    def sqrt(self, x: Array) -> Array:
        return np.sqrt(x)

    @staticmethod
    def _im2col(x: F64, kh: int, kw: int, padding: int) -> tuple[F64, tuple[int, int, int]]:
        """``(N, C, H, W)`` -> columns ``(N*Ho*Wo, C*kh*kw)`` (one copy) and ``(N, Ho, Wo)``."""
        if padding:
            x = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
        win = sliding_window_view(x, (kh, kw), axis=(2, 3))  # N,C,Ho,Wo,kh,kw
        n_, c, ho, wo = win.shape[:4]
        cols = np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(n_ * ho * wo, -1)
        return cols, (n_, ho, wo)

    def conv2d(self, x: Array, w: Array, b: Array | None, *, padding: int) -> Array:
        if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
            raise InputError(f"conv2d: input {x.shape} and kernel {w.shape} do not match")
        cols, (n_, ho, wo) = self._im2col(x, w.shape[2], w.shape[3], padding)
        out = cols @ w.reshape(w.shape[0], -1).T  # (N*Ho*Wo, O)
        out = np.ascontiguousarray(out.reshape(n_, ho, wo, -1).transpose(0, 3, 1, 2))
        if b is not None:
            out = out + np.asarray(b).reshape(1, -1, 1, 1)
        return out

    def conv2d_weight_grad(
        self, x: Array, grad_out: Array, kernel_size: tuple[int, int], *, padding: int
    ) -> Array:
        cols, _ = self._im2col(x, kernel_size[0], kernel_size[1], padding)
        o = grad_out.shape[1]
        g2 = grad_out.transpose(0, 2, 3, 1).reshape(-1, o)  # (N*Ho*Wo, O)
        return (g2.T @ cols).reshape(o, x.shape[1], kernel_size[0], kernel_size[1])

    def avg_pool2d(self, x: Array, k: int) -> Array:
        n_, c, h, w = x.shape
        if h % k or w % k:
            raise InputError(f"avg_pool2d: shape {x.shape} is not divisible by {k}")
        return x.reshape(n_, c, h // k, k, w // k, k).mean(axis=(3, 5))

    def concatenate(self, xs: Sequence[Array], axis: int = 0) -> Array:
        return np.concatenate(list(xs), axis=axis)

    def stack(self, xs: Sequence[Array], axis: int = 0) -> Array:
        return np.stack(list(xs), axis=axis)

    def broadcast_to(self, x: Array, shape: tuple[int, ...]) -> Array:
        return np.broadcast_to(x, shape).copy()

    def zeros(self, shape: tuple[int, ...]) -> Array:
        return np.zeros(shape)

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, np.ndarray)


class MoreBackend(ArrayBackend):
    """MORE ciphertexts (:class:`~medseal.privacy.more.MoreTensor`) under one public context.

    Holds only the :class:`~medseal.privacy.more.MorePublicContext`: this is
    what the compute host runs with. Plain constants (learning rates, ``1 -
    x``) mix with ciphertexts as ``p I``.
    """

    name = "more"
    encrypted = True

    def __init__(self, context: MorePublicContext, *, reference: MoreTensor | None = None) -> None:
        if not isinstance(context, MorePublicContext):
            raise InputError("MoreBackend needs a MorePublicContext (never the secret key)")
        self.context = context
        self._basis: F64 | None = None
        self._projector: AlgebraProjector | None = None
        if reference is not None:
            if not isinstance(reference, MoreTensor) or reference.size != 1:
                raise InputError("reference must be one MoreTensor value")
            context.check_same(reference.context, "the backend and its reference ciphertext")
            if context.n == 2:
                k = reference.data.reshape(2, 2).copy()
                k -= 0.5 * np.trace(k) * np.eye(2)
                norm = float(np.sqrt(np.sum(k * k)))
                if not norm > 0:
                    raise InputError("reference ciphertext is degenerate (all slots equal)")
                self._basis = k / norm
            else:
                self._projector = AlgebraProjector(reference)

    def __repr__(self) -> str:
        return f"MoreBackend({self.context!r})"

    def tanh(self, x: Array) -> Array:
        return x.tanh()

    def sigmoid(self, x: Array) -> Array:
        return x.sigmoid()

    def softplus(self, x: Array) -> Array:
        return x.softplus()

    def exp(self, x: Array) -> Array:
        return x.exp()

    def sqrt(self, x: Array) -> Array:
        """Square root of ciphertexts whose slots are all ``>= 0`` (Adam's second moment).

        For ``n = 2`` the closed form ``sqrt(A) = (A + s I) / sqrt(tr A + 2 s)``,
        ``s = sqrt(det A)``, is used instead of the generic spectral function:
        the latter linearises ``f`` where a matrix's two eigenvalues are within
        ``1e-7`` of each other, which is exact enough for smooth activations on
        O(1) values but not for ``sqrt`` of Adam moments of size 1e-12 next to a
        hidden slot near 0. The closed form has no such switch, and the
        plaintext slot it returns is insensitive (to first order) to the
        rounding of ``det`` when the hidden slot is tiny.
        """
        if x.n != 2:
            return x.apply(_sqrt_nonneg, _safe_half_rsqrt)
        a = x.data
        det = a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]
        root_det = np.sqrt(np.maximum(det, 0.0))
        denom = np.sqrt(np.maximum(a[..., 0, 0] + a[..., 1, 1] + 2.0 * root_det, 0.0))
        denom = np.where(denom > 0.0, denom, 1.0)  # A = 0 (both slots 0): result 0
        out = a.copy()
        out[..., 0, 0] += root_det
        out[..., 1, 1] += root_det
        out /= denom[..., None, None]
        return MoreTensor(out, self.context)

    def conv2d(self, x: Array, w: Array, b: Array | None, *, padding: int) -> Array:
        return more.conv2d(x, w, b, padding=padding)

    def conv2d_weight_grad(
        self, x: Array, grad_out: Array, kernel_size: tuple[int, int], *, padding: int
    ) -> Array:
        return more.conv2d_weight_grad(x, grad_out, kernel_size, padding=padding)

    def conv2d_input_grad(
        self, grad_out: Array, w: Array, input_shape: Shape4, *, padding: int
    ) -> Array:
        """MORE's own input gradient: the kernel may be a ciphertext, which NumPy cannot flip."""
        return more.conv2d_input_grad(grad_out, w, input_shape, padding=padding)

    def avg_pool2d(self, x: Array, k: int) -> Array:
        return more.avg_pool2d(x, k)

    def concatenate(self, xs: Sequence[Array], axis: int = 0) -> Array:
        return more.concatenate(list(xs), axis=axis)

    def stack(self, xs: Sequence[Array], axis: int = 0) -> Array:
        return more.stack(list(xs), axis=axis)

    def broadcast_to(self, x: Array, shape: tuple[int, ...]) -> Array:
        return x.broadcast_to(shape)

    def zeros(self, shape: tuple[int, ...]) -> Array:
        return self.context.zeros(shape)

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, MoreTensor)

    def refresh(self, x: Array) -> Array:
        """Project every matrix back onto the ciphertext algebra ``span{I, K}`` (``n = 2``).

        All valid ciphertexts under a key are ``S diag(.) S^-1``, a 2-D algebra
        spanned by ``I`` and the traceless part ``K`` of any one ciphertext (the
        public ``reference``). Rounding adds components outside it; those do not
        decrypt but, over hundreds of training steps, products (Adam's division
        by a ciphertext whose hidden slot is tiny, above all) amplify them until
        they leak into the plaintext slot. The orthogonal (Frobenius) projection
        ``tr(M)/2 I + <M, K> K`` removes them every step. It uses only public
        data (a ciphertext and the identity), no secret and no eigenvectors.
        """
        if not isinstance(x, MoreTensor):
            return x
        if x.n != 2:
            # n >= 3: the same public Frobenius projection onto span{I, C, C^2, ...}
            # of the reference (see AlgebraProjector); identity without a reference.
            return self._projector.project(x) if self._projector is not None else x
        if self._basis is None:
            return x
        a = x.data
        kb = self._basis
        half_tr = 0.5 * (a[..., 0, 0] + a[..., 1, 1])
        coef = np.einsum("...ij,ij->...", a, kb)
        out = half_tr[..., None, None] * np.eye(2) + coef[..., None, None] * kb
        return MoreTensor(out, self.context)
