"""NumPy-style free functions on :class:`MoreTensor`: joining, convolution, pooling.

``conv2d`` is a cross-correlation over NCHW tensors (PyTorch's convention)
done as im2col + one ``@``; its two gradients (``conv2d_input_grad``,
``conv2d_weight_grad``) are provided so a small CNN can be trained entirely on
ciphertexts with the operations of :class:`MoreTensor` alone. Either operand
of a convolution may be plaintext (an ``ndarray``); at least one is encrypted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from medseal.errors import InputError
from medseal.privacy.more._shape import matmul_data, normalize_axis
from medseal.privacy.more.context import MorePublicContext
from medseal.privacy.more.errors import MoreShapeError
from medseal.privacy.more.tensor import MoreTensor

__all__ = [
    "avg_pool2d",
    "concatenate",
    "conv2d",
    "conv2d_input_grad",
    "conv2d_weight_grad",
    "exp",
    "log",
    "matmul",
    "relu",
    "sigmoid",
    "softplus",
    "stack",
    "tanh",
]

F64 = NDArray[np.float64]
Operand = MoreTensor | ArrayLike


def _common_context(tensors: Sequence[object], what: str) -> MorePublicContext:
    ctx: MorePublicContext | None = None
    for t in tensors:
        if isinstance(t, MoreTensor):
            if ctx is None:
                ctx = t.context
            else:
                ctx.check_same(t.context, what)
    if ctx is None:
        raise InputError(f"{what}: at least one operand must be a MoreTensor")
    return ctx


def concatenate(tensors: Sequence[MoreTensor], axis: int = 0) -> MoreTensor:
    """Join tensors of one context along an existing tensor axis."""
    if not tensors or not all(isinstance(t, MoreTensor) for t in tensors):
        raise InputError("concatenate expects a non-empty sequence of MoreTensors")
    ctx = _common_context(tensors, "concatenated tensors")
    nd = tensors[0].ndim
    if nd == 0 or any(t.ndim != nd for t in tensors):
        shapes = [t.shape for t in tensors]
        raise MoreShapeError(f"concatenate needs tensors of equal rank >= 1, got shapes {shapes}")
    ax = normalize_axis(axis, nd)
    try:
        data = np.concatenate([t.data for t in tensors], axis=ax)
    except ValueError:
        shapes = [t.shape for t in tensors]
        raise MoreShapeError(f"cannot concatenate shapes {shapes} along axis {axis}") from None
    return MoreTensor._wrap(data, ctx)


def stack(tensors: Sequence[MoreTensor], axis: int = 0) -> MoreTensor:
    """Join tensors of one context and equal shape along a new tensor axis."""
    if not tensors or not all(isinstance(t, MoreTensor) for t in tensors):
        raise InputError("stack expects a non-empty sequence of MoreTensors")
    ctx = _common_context(tensors, "stacked tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise MoreShapeError(f"stack needs equal shapes, got {sorted(shapes)}")
    ax = normalize_axis(axis, tensors[0].ndim + 1)
    return MoreTensor._wrap(np.stack([t.data for t in tensors], axis=ax), ctx)


def matmul(a: Operand, b: Operand) -> MoreTensor:
    """``a @ b`` over tensor axes; either side may be plaintext."""
    out = a @ b  # type: ignore[operator]
    if not isinstance(out, MoreTensor):
        raise InputError("matmul: at least one operand must be a MoreTensor")
    return out


# Elementwise matrix functions as free functions (NumPy style): the tensor's own methods.
exp = MoreTensor.exp
log = MoreTensor.log
tanh = MoreTensor.tanh
sigmoid = MoreTensor.sigmoid
softplus = MoreTensor.softplus
relu = MoreTensor.relu


# -- convolution ---------------------------------------------------------------------
def _as_operand(x: Operand) -> tuple[bool, F64]:
    if isinstance(x, MoreTensor):
        return True, x.data
    arr = np.asarray(x, dtype=np.float64)
    return False, arr


def _tshape(is_c: bool, arr: F64) -> tuple[int, ...]:
    return tuple(arr.shape[:-2]) if is_c else tuple(arr.shape)


def _pair(v: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (v, v) if isinstance(v, int | np.integer) else tuple(v)
    if len(pair) != 2 or any(int(p) < 0 for p in pair):
        raise InputError(f"{name} must be a non-negative int or a pair of them")
    return int(pair[0]), int(pair[1])


def _im2col(
    is_c: bool, x: F64, kh: int, kw: int, stride: tuple[int, int], padding: tuple[int, int]
) -> tuple[F64, tuple[int, int, int]]:
    """(N, C, H, W[, n, n]) -> columns (N*Ho*Wo, C*kh*kw[, n, n]) and (N, Ho, Wo)."""
    extra = 2 if is_c else 0
    ph, pw = padding
    if ph or pw:
        x = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)] + [(0, 0)] * extra)
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))  # (N, C, Ho1, Wo1, *e, kh, kw)
    win = win[:, :, :: stride[0], :: stride[1]]
    n_, c_, ho, wo = win.shape[:4]
    order = (0, 2, 3, 1, 4 + extra, 5 + extra) + tuple(range(4, 4 + extra))
    cols = win.transpose(order).reshape(n_ * ho * wo, c_ * kh * kw, *x.shape[4:])
    return cols, (n_, ho, wo)


def _conv_geometry(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> tuple[int, int]:
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise MoreShapeError(
            f"conv2d needs input (N, C, H, W) and kernel (O, C, kh, kw), got {x_shape} and {w_shape}"
        )
    if x_shape[1] != w_shape[1]:
        raise MoreShapeError(f"conv2d: input channels of {x_shape} do not match kernel {w_shape}")
    if min(stride) < 1:
        raise InputError("conv2d: stride must be >= 1")
    ho = (x_shape[2] + 2 * padding[0] - w_shape[2]) // stride[0] + 1
    wo = (x_shape[3] + 2 * padding[1] - w_shape[3]) // stride[1] + 1
    if ho < 1 or wo < 1:
        raise MoreShapeError(f"conv2d: kernel {w_shape} is larger than padded input {x_shape}")
    return ho, wo


def _to_nchw(out: F64, n_: int, ho: int, wo: int) -> F64:
    """(N*Ho*Wo, O[, n, n]) -> (N, O, Ho, Wo[, n, n])."""
    o = out.shape[1]
    rest = out.shape[2:]
    out = out.reshape(n_, ho, wo, o, *rest)
    order = (0, 3, 1, 2) + tuple(range(4, 4 + len(rest)))
    return np.ascontiguousarray(out.transpose(order))


def _tensor_t(arr: F64) -> F64:
    """Swap the two tensor axes of a 2-D operand."""
    return np.swapaxes(arr, 0, 1)


def conv2d(
    x: Operand,
    weight: Operand,
    bias: Operand | None = None,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> MoreTensor:
    """2-D cross-correlation of an NCHW tensor with an ``(O, C, kh, kw)`` kernel.

    Parameters
    ----------
    x : MoreTensor or ndarray, shape (N, C, H, W)
    weight : MoreTensor or ndarray, shape (O, C, kh, kw)
    bias : MoreTensor or ndarray, shape (O,), optional
    stride, padding : int or (int, int)
        Zero padding pads with the zero matrix, an encryption of 0.

    Returns
    -------
    MoreTensor, shape (N, O, Ho, Wo)
        ``out[b, o, i, j] = sum_{c,u,v} x[b, c, s i + u - p, s j + v - p] * w[o, c, u, v] + bias[o]``.
    """
    ctx = _common_context([x, weight, bias], "conv2d operands")
    xc, xd = _as_operand(x)
    wc, wd = _as_operand(weight)
    st, pad = _pair(stride, "stride"), _pair(padding, "padding")
    w_shape = _tshape(wc, wd)
    _conv_geometry(_tshape(xc, xd), w_shape, st, pad)
    o, c, kh, kw = w_shape
    cols, (n_, ho, wo) = _im2col(xc, xd, kh, kw, st, pad)
    w2 = _tensor_t(wd.reshape(o, c * kh * kw, *wd.shape[4:]))
    if xc or wc:
        out = matmul_data(xc, cols, wc, w2)
    else:  # pragma: no cover - a MoreTensor operand exists (bias only)
        out = (cols @ w2)[..., None, None] * np.eye(ctx.n)
    result = MoreTensor._wrap(_to_nchw(out, n_, ho, wo), ctx)
    if bias is not None:
        if isinstance(bias, MoreTensor):
            if bias.shape != (o,):
                raise MoreShapeError(f"conv2d: bias shape {bias.shape} must be ({o},)")
            result = result + bias.reshape(1, o, 1, 1)
        else:
            b = np.asarray(bias, dtype=np.float64)
            if b.shape != (o,):
                raise MoreShapeError(f"conv2d: bias shape {b.shape} must be ({o},)")
            result = result + b.reshape(1, o, 1, 1)
    return result


def conv2d_weight_grad(
    x: Operand,
    grad_out: Operand,
    kernel_size: tuple[int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> MoreTensor:
    """Gradient of a loss w.r.t. the kernel of :func:`conv2d`, shape ``(O, C, kh, kw)``.

    ``dW[o, c, u, v] = sum_{b,i,j} grad_out[b, o, i, j] * x_padded[b, c, s i + u, s j + v]``.
    """
    ctx = _common_context([x, grad_out], "conv2d_weight_grad operands")
    xc, xd = _as_operand(x)
    gc, gd = _as_operand(grad_out)
    kh, kw = _pair(kernel_size, "kernel_size")
    st, pad = _pair(stride, "stride"), _pair(padding, "padding")
    x_shape, g_shape = _tshape(xc, xd), _tshape(gc, gd)
    if len(g_shape) != 4 or g_shape[0] != x_shape[0]:
        raise MoreShapeError(f"conv2d_weight_grad: input {x_shape} and grad {g_shape} disagree")
    ho, wo = _conv_geometry(x_shape, (g_shape[1], x_shape[1], kh, kw), st, pad)
    if g_shape[2:] != (ho, wo):
        raise MoreShapeError(
            f"conv2d_weight_grad: grad {g_shape} does not match output size ({ho}, {wo})"
        )
    cols, _ = _im2col(xc, xd, kh, kw, st, pad)  # (M, K)
    o = g_shape[1]
    order = (0, 2, 3, 1) + ((4, 5) if gc else ())
    g2 = gd.transpose(order).reshape(-1, o, *gd.shape[4:])  # (M, O)
    dw = matmul_data(gc, _tensor_t(g2), xc, cols)  # (O, K)
    return MoreTensor._wrap(dw.reshape(o, x_shape[1], kh, kw, ctx.n, ctx.n), ctx)


def conv2d_input_grad(
    grad_out: Operand,
    weight: Operand,
    input_shape: tuple[int, int, int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> MoreTensor:
    """Gradient of a loss w.r.t. the input of :func:`conv2d`, shape ``input_shape``."""
    ctx = _common_context([grad_out, weight], "conv2d_input_grad operands")
    gc, gd = _as_operand(grad_out)
    wc, wd = _as_operand(weight)
    st, pad = _pair(stride, "stride"), _pair(padding, "padding")
    w_shape, g_shape = _tshape(wc, wd), _tshape(gc, gd)
    ho, wo = _conv_geometry(tuple(input_shape), w_shape, st, pad)
    o, c, kh, kw = w_shape
    if len(g_shape) != 4 or g_shape != (input_shape[0], o, ho, wo):
        raise MoreShapeError(
            f"conv2d_input_grad: grad {g_shape} does not match output "
            f"{(input_shape[0], o, ho, wo)} of input {tuple(input_shape)} and kernel {w_shape}"
        )
    order = (0, 2, 3, 1) + ((4, 5) if gc else ())
    g2 = gd.transpose(order).reshape(-1, o, *gd.shape[4:])  # (M, O)
    w2 = wd.reshape(o, c * kh * kw, *wd.shape[4:])  # (O, K)
    dcols = matmul_data(gc, g2, wc, w2)  # (M, K, n, n)
    nn = dcols.shape[-2:]
    n_ = input_shape[0]
    dcols = dcols.reshape(n_, ho, wo, c, kh, kw, *nn)
    hp, wp = input_shape[2] + 2 * pad[0], input_shape[3] + 2 * pad[1]
    acc = np.zeros((n_, c, hp, wp, *nn))
    for u in range(kh):
        for v in range(kw):
            patch = dcols[:, :, :, :, u, v].transpose(0, 3, 1, 2, 4, 5)
            acc[
                :,
                :,
                u : u + st[0] * (ho - 1) + 1 : st[0],
                v : v + st[1] * (wo - 1) + 1 : st[1],
            ] += patch
    out = acc[:, :, pad[0] : pad[0] + input_shape[2], pad[1] : pad[1] + input_shape[3]]
    return MoreTensor._wrap(np.ascontiguousarray(out), ctx)


def avg_pool2d(x: MoreTensor, kernel_size: int) -> MoreTensor:
    """Non-overlapping average pooling of an NCHW tensor (H, W divisible by the size)."""
    k = int(kernel_size)
    if x.ndim != 4 or k < 1 or x.shape[2] % k or x.shape[3] % k:
        raise MoreShapeError(f"avg_pool2d: shape {x.shape} is not NCHW divisible by {k}")
    n_, c, h, w = x.shape
    return x.reshape(n_, c, h // k, k, w // k, k).mean(axis=(3, 5))
