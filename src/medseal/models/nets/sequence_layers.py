"""Layers of the seed 003 sequence networks, forward and backward, in backend operations.

Where it sits: models stage, under :mod:`medseal.models.nets.conv_bilstm`,
:mod:`~medseal.models.nets.cnn_lstm` and :mod:`~medseal.models.nets.cnn_baseline`.
Every function works on plaintext NumPy arrays and on MORE ciphertexts through
:mod:`medseal.models.backend`: the convolutional blocks (``conv -> tanh -> 2x2
average pooling``), dense layers, one LSTM with back-propagation through time,
and the binary cross-entropy with logits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from medseal.errors import InputError
from medseal.models.backend import Array, ArrayBackend

__all__ = [
    "Params",
    "bce_with_logits",
    "conv_features_backward",
    "conv_features_forward",
    "dense_backward",
    "dense_grads",
    "dense_params",
    "glorot",
    "lstm_backward",
    "lstm_forward",
]

F64 = NDArray[np.float64]
Params = dict[str, Array]


def glorot(rng: np.random.Generator, fan_in: int, fan_out: int, shape: tuple[int, ...]) -> F64:
    """Glorot/Xavier uniform initialisation."""
    limit = float(np.sqrt(6.0 / (fan_in + fan_out)))
    return rng.uniform(-limit, limit, size=shape)


def bce_with_logits(be: ArrayBackend, z: Array, y: Array) -> tuple[Array, Array]:
    """Mean binary cross-entropy ``softplus(z) - y z`` and its gradient ``(sigmoid(z) - y) / B``.

    Both are analytic in ``z`` (no ``log`` of a probability), so they hold on
    every hidden slot of a ciphertext.
    """
    b = z.shape[0]
    loss = (be.softplus(z) - y * z).mean()
    grad = (be.sigmoid(z) - y) * (1.0 / b)
    return loss, grad


# -- convolutional feature extractor -----------------------------------------------------
def conv_features_forward(
    be: ArrayBackend, params: Params, x: Array, n_blocks: int
) -> tuple[Array, list[Any]]:
    """``(B, T, C, S, S)`` frames -> ``(B, T, D)`` features and the cache for backward."""
    b, t = x.shape[0], x.shape[1]
    a = x.reshape(b * t, *x.shape[2:])
    cache: list[Any] = []
    for i in range(n_blocks):
        w = params[f"conv{i}.w"]
        z = be.conv2d(a, w, params[f"conv{i}.b"], padding=w.shape[2] // 2)
        h = be.tanh(z)
        cache.append((a, h))
        a = be.avg_pool2d(h, 2)
    cache.append(a.shape)
    return a.reshape(b, t, -1), cache


def conv_features_backward(
    be: ArrayBackend, params: Params, cache: list[Any], dfeat: Array, grads: Params
) -> None:
    """Accumulate the conv parameters' gradients into ``grads`` (input gradient not needed)."""
    pooled_shape = cache[-1]
    b, t = dfeat.shape[0], dfeat.shape[1]
    da = dfeat.reshape(b * t, *pooled_shape[1:])
    n_blocks = len(cache) - 1
    for i in reversed(range(n_blocks)):
        a_prev, h = cache[i]
        w = params[f"conv{i}.w"]
        pad = w.shape[2] // 2
        dh = be.avg_pool2d_grad(da, 2)
        dz = dh * (1.0 - h * h)
        grads[f"conv{i}.w"] = be.conv2d_weight_grad(
            a_prev, dz, (w.shape[2], w.shape[3]), padding=pad
        )
        grads[f"conv{i}.b"] = dz.sum(axis=(0, 2, 3))
        if i > 0:
            da = be.conv2d_input_grad(dz, w, tuple(a_prev.shape), padding=pad)


# -- dense layers ------------------------------------------------------------------
def dense_params(
    rng: np.random.Generator, prefix: str, fan_in: int, fan_out: int
) -> dict[str, F64]:
    """``{prefix}.w`` (Glorot, ``(fan_in, fan_out)``) and ``{prefix}.b`` (zeros) of a dense layer."""
    return {
        f"{prefix}.w": glorot(rng, fan_in, fan_out, (fan_in, fan_out)),
        f"{prefix}.b": np.zeros(fan_out),
    }


def dense_backward(x: Array, w: Array, dy: Array, *, need_input: bool = True) -> tuple[Array, ...]:
    """Gradients of ``y = x @ w + b``: ``(dw, db[, dx])``."""
    dw = x.T @ dy
    db = dy.sum(axis=0)
    if not need_input:
        return dw, db
    return dw, db, dy @ w.T


def dense_grads(params: Params, prefix: str, x: Array, dy: Array, grads: Params) -> Array:
    """Store the gradients of dense layer ``prefix`` (input ``x``) in ``grads``; returns ``dx``."""
    dw, db, dx = dense_backward(x, params[f"{prefix}.w"], dy)
    grads[f"{prefix}.w"], grads[f"{prefix}.b"] = dw, db
    return dx


# -- LSTM ----------------------------------------------------------------------------
def lstm_forward(
    be: ArrayBackend, params: Params, prefix: str, feats: Array, *, reverse: bool = False
) -> tuple[list[Array], list[Any]]:
    """Run one LSTM over ``feats`` ``(B, T, D)``; return ``[h_0 .. h_{T-1}]`` in time order.

    With ``reverse=True`` the recurrence runs from ``t = T-1`` down to 0 (the
    backward half of a Bi-LSTM); outputs are still indexed by time.
    """
    b, t_len, d = feats.shape
    wx, wh, bias = params[f"{prefix}.wx"], params[f"{prefix}.wh"], params[f"{prefix}.b"]
    hid = wh.shape[0]
    # One matmul for the input part of every step (the ciphertext cost is in the @).
    xw = (feats.reshape(b * t_len, d) @ wx).reshape(b, t_len, 4 * hid) + bias
    order = list(range(t_len))[::-1] if reverse else list(range(t_len))
    h: Array | None = None
    c: Array | None = None
    outs: list[Array] = [None] * t_len
    steps: list[Any] = []
    for t in order:
        z = xw[:, t] if h is None else xw[:, t] + h @ wh
        i = be.sigmoid(z[:, :hid])
        f = be.sigmoid(z[:, hid : 2 * hid])
        o = be.sigmoid(z[:, 2 * hid : 3 * hid])
        g = be.tanh(z[:, 3 * hid :])
        c_new = i * g if c is None else f * c + i * g
        tc = be.tanh(c_new)
        h_new = o * tc
        steps.append((t, h, c, i, f, o, g, tc))
        h, c = h_new, c_new
        outs[t] = h_new
    return outs, [feats, steps]


def lstm_backward(
    be: ArrayBackend,
    params: Params,
    prefix: str,
    cache: list[Any],
    dh_out: list[Array | None],
    grads: Params,
) -> Array:
    """Back-propagation through time; accumulates ``{prefix}.wx/.wh/.b`` and returns ``dfeats``."""
    feats, steps = cache
    b, t_len, d = feats.shape
    wx, wh = params[f"{prefix}.wx"], params[f"{prefix}.wh"]
    hid = wh.shape[0]
    dz_by_t: list[Array] = [None] * t_len
    dh_next: Array | None = None
    dc_next: Array | None = None
    dwh: Array | None = None
    for t, h_prev, c_prev, i, f, o, g, tc in reversed(steps):
        dh = dh_out[t]
        if dh_next is not None:
            dh = dh_next if dh is None else dh + dh_next
        if dh is None:  # pragma: no cover - every step feeds the voting layer
            raise InputError("LSTM step without a gradient")
        do = dh * tc
        dc = dh * o * (1.0 - tc * tc)
        if dc_next is not None:
            dc = dc + dc_next
        di = dc * g
        dg = dc * i
        dz_i = di * i * (1.0 - i)
        dz_o = do * o * (1.0 - o)
        dz_g = dg * (1.0 - g * g)
        if c_prev is not None:
            df = dc * c_prev
            dz_f = df * f * (1.0 - f)
            dc_next = dc * f
        else:
            dz_f = be.zeros(dz_i.shape)
            dc_next = None
        dz = be.concatenate([dz_i, dz_f, dz_o, dz_g], axis=1)
        dz_by_t[t] = dz
        if h_prev is not None:
            step_dwh = h_prev.T @ dz
            dwh = step_dwh if dwh is None else dwh + step_dwh
            dh_next = dz @ wh.T
        else:
            dh_next = None
    dz_all = be.stack(dz_by_t, axis=1).reshape(b * t_len, 4 * hid)
    grads[f"{prefix}.wx"] = feats.reshape(b * t_len, d).T @ dz_all
    grads[f"{prefix}.wh"] = dwh if dwh is not None else be.zeros(tuple(wh.shape))
    grads[f"{prefix}.b"] = dz_all.sum(axis=0)
    return (dz_all @ wx.T).reshape(b, t_len, d)
