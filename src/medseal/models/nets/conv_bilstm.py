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
replaces the recurrent and voting layers by flatten + dense layers. The layers
are in :mod:`medseal.models.nets.sequence_layers`, the common interface in
:mod:`medseal.models.nets.sequence_net`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from medseal.models.backend import Array, ArrayBackend
from medseal.models.nets.sequence_layers import (
    Params,
    dense_grads,
    dense_params,
    lstm_backward,
    lstm_forward,
)
from medseal.models.nets.sequence_net import SequenceNet

__all__ = ["ConvBiLSTM"]

F64 = NDArray[np.float64]


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
        params.update(dense_params(rng, "unit", width, 1))
        params["unit.v"] = np.zeros(self.geometry.frames)
        params.update(dense_params(rng, "seq", width, 1))
        params["vote"] = np.array([0.5, 0.5])
        return params

    def forward(self, be: ArrayBackend, params: Params, x: Array) -> tuple[Array, Any]:
        feats, conv_cache = self._features(be, params, x)
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
        dlast = dense_grads(params, "seq", last, dseq.reshape(b, 1), grads)
        # weighted unit votes: U = sum_t a_t u_t, a = softmax(v)
        dunit2 = dunit.reshape(b, 1)
        du = dunit2 * a  # (B, T)
        da = (dunit2 * u).sum(axis=0)  # (T,)
        grads["unit.v"] = a * (da - (da * a).sum())
        dh = dense_grads(params, "unit", hstack, du.reshape(b * t_len, 1), grads)
        dh = dh.reshape(b, t_len, width)
        hid = self.hidden
        dhf: list[Array | None] = [dh[:, t, :hid] for t in range(t_len)]
        dhf[-1] = dhf[-1] + dlast[:, :hid]
        dfeats = lstm_backward(be, params, "lstm_f", cache_f, dhf, grads)
        if self.bidirectional:
            dhb: list[Array | None] = [dh[:, t, hid:] for t in range(t_len)]
            dhb[0] = dhb[0] + dlast[:, hid:]
            dfeats = dfeats + lstm_backward(be, params, "lstm_b", cache_b, dhb, grads)
        return self._features_backward(be, params, conv_cache, dfeats, grads)
