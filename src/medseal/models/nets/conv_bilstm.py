"""Convolutional Bi-LSTM with a weighted unit and sequence voting layer (seed paper 003).

Where it sits: models stage. One implementation, written against
:mod:`medseal.models.backend`, runs on plaintext NumPy arrays and on MORE
ciphertexts; forward and backward passes (back-propagation through time for
the LSTMs) are written out by hand in backend operations so that a training
step on ciphertexts is the very same computation as on plaintext.

Architecture (input ``x`` of shape ``(B, T, C, S, S)``: ``B`` sequences of ``T``
frames):

1. **Convolutional blocks**, shared by all frames: ``conv 3x3 (padding 1) ->
   tanh -> 2x2 average pooling``, once per entry of ``conv_channels``. The
   seed uses ReLU and max pooling; neither is analytic, and a MORE ciphertext
   can only pass through analytic (matrix) functions, so ``tanh`` and average
   pooling stand in. The flattened output is a ``D``-vector per frame.
2. **Bi-LSTM** over the ``T`` feature vectors: a forward and a backward LSTM
   (gates ``sigmoid``, cell ``tanh``), ``hidden`` units each; ``h_t =
   [h_t^f, h_t^b]``.
3. **Weighted unit and sequence voting layer**: every time step casts a unit
   vote ``u_t = w_u . h_t + b_u``; learned unit weights ``a = softmax(v)``
   (``v`` in ``R^T``) combine them into ``U = sum_t a_t u_t``; the sequence
   vote ``s = w_s . [h_T^f, h_1^b] + b_s`` reads the two final states (the
   whole sequence seen from each end); the logit is ``z = beta_1 U + beta_2 s``
   with learned ``beta`` (initialised to ``(0.5, 0.5)``).

The output is one logit per sequence (binary cross-entropy with logits, the
two-class form of the seed's cross-entropy).

:class:`~medseal.models.nets.cnn_lstm.CNNLSTM` is this network with the
backward LSTM removed; :class:`~medseal.models.nets.cnn_baseline.CNNBaseline`
replaces the recurrent and voting layers by flatten + dense layers. The layer
functions here are shared by both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medseal.errors import InputError
from medseal.models.backend import Array, ArrayBackend

__all__ = [
    "ConvBiLSTM",
    "Params",
    "SequenceNet",
    "bce_with_logits",
    "conv_features_backward",
    "conv_features_forward",
    "dense_backward",
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


def dense_backward(x: Array, w: Array, dy: Array, *, need_input: bool = True) -> tuple[Array, ...]:
    """Gradients of ``y = x @ w + b``: ``(dw, db[, dx])``."""
    dw = x.T @ dy
    db = dy.sum(axis=0)
    if not need_input:
        return dw, db
    return dw, db, dy @ w.T


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


# -- the network family -------------------------------------------------------------------
@dataclass(frozen=True)
class _Geometry:
    frames: int
    in_channels: int
    size: int
    conv_channels: tuple[int, ...]
    kernel_size: int

    @property
    def feature_dim(self) -> int:
        side = self.size // (2 ** len(self.conv_channels))
        return self.conv_channels[-1] * side * side


class SequenceNet:
    """Common interface of the three sequence networks.

    Parameters are a ``dict`` of named arrays (plaintext) or ciphertexts; the
    network object itself holds only hyper-parameters, so one object serves
    both backends.

    Parameters
    ----------
    frames : int
        Sequence length ``T``.
    in_channels : int
        Channels per frame.
    size : int
        Frame side ``S`` (divisible by ``2 ** len(conv_channels)``).
    conv_channels : tuple of int
        Output channels of each convolutional block.
    kernel_size : int
        Odd square kernel (``padding = kernel_size // 2`` keeps the size).
    hidden : int
        LSTM units per direction (dense units of the CNN baseline).
    """

    name = "sequence-net"

    def __init__(
        self,
        *,
        frames: int,
        in_channels: int = 1,
        size: int = 16,
        conv_channels: tuple[int, ...] = (4, 8),
        kernel_size: int = 3,
        hidden: int = 8,
    ) -> None:
        if frames < 1 or in_channels < 1 or hidden < 1 or not conv_channels:
            raise InputError("frames, in_channels, hidden and conv_channels must be positive")
        if kernel_size % 2 != 1:
            raise InputError("kernel_size must be odd")
        if size % (2 ** len(conv_channels)):
            raise InputError(f"size {size} must be divisible by 2**{len(conv_channels)}")
        self.geometry = _Geometry(frames, in_channels, size, tuple(conv_channels), kernel_size)
        self.hidden = int(hidden)

    def __repr__(self) -> str:
        g = self.geometry
        return (
            f"{type(self).__name__}(frames={g.frames}, in_channels={g.in_channels}, "
            f"size={g.size}, conv_channels={g.conv_channels}, hidden={self.hidden})"
        )

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """Shape of one sequence ``(T, C, S, S)``."""
        g = self.geometry
        return (g.frames, g.in_channels, g.size, g.size)

    # -- parameters ----------------------------------------------------------------
    def _conv_params(self, rng: np.random.Generator) -> dict[str, F64]:
        g = self.geometry
        out: dict[str, F64] = {}
        cin = g.in_channels
        k = g.kernel_size
        for i, cout in enumerate(g.conv_channels):
            out[f"conv{i}.w"] = glorot(rng, cin * k * k, cout * k * k, (cout, cin, k, k))
            out[f"conv{i}.b"] = np.zeros(cout)
            cin = cout
        return out

    def _lstm_params(self, rng: np.random.Generator, prefix: str, d: int) -> dict[str, F64]:
        h = self.hidden
        bias = np.zeros(4 * h)
        bias[h : 2 * h] = 1.0  # forget gate open at start (Jozefowicz et al. 2015)
        return {
            f"{prefix}.wx": glorot(rng, d, 4 * h, (d, 4 * h)),
            f"{prefix}.wh": glorot(rng, h, 4 * h, (h, 4 * h)),
            f"{prefix}.b": bias,
        }

    def init_params(self, seed: int) -> dict[str, F64]:
        """Plaintext initial parameters, deterministic in ``seed`` (the client encrypts them)."""
        raise NotImplementedError

    @staticmethod
    def n_params(params: Params) -> int:
        """Number of trainable scalars."""
        return int(sum(int(np.prod(p.shape)) for p in params.values()))

    # -- computation -------------------------------------------------------------------
    def _check_input(self, x: Array) -> None:
        if tuple(x.shape[1:]) != self.input_shape:
            raise InputError(
                f"{self.name}: input shape {tuple(x.shape)} must be (B,) + {self.input_shape}"
            )

    def forward(self, be: ArrayBackend, params: Params, x: Array) -> tuple[Array, Any]:
        """Logits ``(B,)`` and the cache :meth:`backward` needs."""
        raise NotImplementedError

    def backward(self, be: ArrayBackend, params: Params, cache: Any, dlogits: Array) -> Params:
        """Gradients of every parameter, given ``d loss / d logits`` ``(B,)``."""
        raise NotImplementedError

    def predict(self, be: ArrayBackend, params: Params, x: Array) -> Array:
        """Logits only."""
        return self.forward(be, params, x)[0]

    def loss_and_grads(
        self, be: ArrayBackend, params: Params, x: Array, y: Array
    ) -> tuple[Array, Params, Array]:
        """Mean BCE loss, gradients and logits of one minibatch."""
        z, cache = self.forward(be, params, x)
        loss, dz = bce_with_logits(be, z, y)
        return loss, self.backward(be, params, cache, dz), z


class ConvBiLSTM(SequenceNet):
    """Conv blocks per frame, Bi-LSTM over time, weighted unit and sequence voting layer.

    Runs on plaintext and on MORE ciphertexts; see the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from medseal.models.backend import NumpyBackend
    >>> net = ConvBiLSTM(frames=3, size=8, conv_channels=(2,), hidden=4)
    >>> params = net.init_params(seed=0)
    >>> x = np.random.default_rng(0).random((5, 3, 1, 8, 8))
    >>> net.predict(NumpyBackend(), params, x).shape
    (5,)
    """

    name = "conv-bilstm"
    bidirectional = True

    def init_params(self, seed: int) -> dict[str, F64]:
        rng = np.random.default_rng(seed)
        params = self._conv_params(rng)
        d = self.geometry.feature_dim
        params.update(self._lstm_params(rng, "lstm_f", d))
        if self.bidirectional:
            params.update(self._lstm_params(rng, "lstm_b", d))
        width = self.hidden * (2 if self.bidirectional else 1)
        params["unit.w"] = glorot(rng, width, 1, (width, 1))
        params["unit.b"] = np.zeros(1)
        params["unit.v"] = np.zeros(self.geometry.frames)
        params["seq.w"] = glorot(rng, width, 1, (width, 1))
        params["seq.b"] = np.zeros(1)
        params["vote"] = np.array([0.5, 0.5])
        return params

    def forward(self, be: ArrayBackend, params: Params, x: Array) -> tuple[Array, Any]:
        self._check_input(x)
        n_blocks = len(self.geometry.conv_channels)
        feats, conv_cache = conv_features_forward(be, params, x, n_blocks)
        b, t_len = feats.shape[0], feats.shape[1]
        hf, cache_f = lstm_forward(be, params, "lstm_f", feats)
        if self.bidirectional:
            hb, cache_b = lstm_forward(be, params, "lstm_b", feats, reverse=True)
            hs = [be.concatenate([hf[t], hb[t]], axis=1) for t in range(t_len)]
            last = be.concatenate([hf[-1], hb[0]], axis=1)
        else:
            hb, cache_b = [], None
            hs = list(hf)
            last = hf[-1]
        width = hs[0].shape[1]
        hstack = be.stack(hs, axis=1).reshape(b * t_len, width)  # (B*T, W)
        # unit votes and their learned weights (softmax over time steps)
        u = (hstack @ params["unit.w"]).reshape(b, t_len) + params["unit.b"]
        e = be.exp(params["unit.v"])
        a = e / e.sum()
        unit = (u * a).sum(axis=1)  # (B,)
        # sequence vote from the final states of both directions
        seq = (last @ params["seq.w"]).reshape(b) + params["seq.b"]
        vote = params["vote"]
        z = vote[0] * unit + vote[1] * seq
        cache = (conv_cache, cache_f, cache_b, hstack, u, a, unit, last, seq, b, t_len, width)
        return z, cache

    def backward(self, be: ArrayBackend, params: Params, cache: Any, dlogits: Array) -> Params:
        conv_cache, cache_f, cache_b, hstack, u, a, unit, last, seq, b, t_len, width = cache
        grads: Params = {}
        vote = params["vote"]
        dz = dlogits
        grads["vote"] = be.stack([(dz * unit).sum(), (dz * seq).sum()])
        dunit = dz * vote[0]
        dseq = dz * vote[1]
        # sequence vote
        dseq2 = dseq.reshape(b, 1)
        dws, dbs, dlast = dense_backward(last, params["seq.w"], dseq2)
        grads["seq.w"], grads["seq.b"] = dws, dbs
        # weighted unit votes: U = sum_t a_t u_t, a = softmax(v)
        dunit2 = dunit.reshape(b, 1)
        du = dunit2 * a  # (B, T)
        da = (dunit2 * u).sum(axis=0)  # (T,)
        grads["unit.v"] = a * (da - (da * a).sum())
        du2 = du.reshape(b * t_len, 1)
        dwu, dbu, dh = dense_backward(hstack, params["unit.w"], du2)
        grads["unit.w"], grads["unit.b"] = dwu, dbu
        dh = dh.reshape(b, t_len, width)
        hid = self.hidden
        dhf: list[Array | None] = [dh[:, t, :hid] for t in range(t_len)]
        dhf[-1] = dhf[-1] + dlast[:, :hid]
        dfeats = lstm_backward(be, params, "lstm_f", cache_f, dhf, grads)
        if self.bidirectional:
            dhb: list[Array | None] = [dh[:, t, hid:] for t in range(t_len)]
            dhb[0] = dhb[0] + dlast[:, hid:]
            dfeats = dfeats + lstm_backward(be, params, "lstm_b", cache_b, dhb, grads)
        conv_features_backward(be, params, conv_cache, dfeats, grads)
        return grads
