"""CNN baseline of seed paper 003: convolutional blocks, then flatten instead of recurrence.

Where it sits: models stage. The frames of a sequence go through the same
convolutional blocks as :class:`~medseal.models.nets.conv_bilstm.ConvBiLSTM`;
their features are concatenated (``T * D`` values), then a dense ``tanh``
layer of ``hidden`` units and a dense output give one logit. Runs on plaintext
and on MORE ciphertexts through :mod:`medseal.models.backend`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from medseal.models.backend import Array, ArrayBackend
from medseal.models.nets.sequence_layers import Params, dense_grads, dense_params
from medseal.models.nets.sequence_net import SequenceNet

__all__ = ["CNNBaseline"]

F64 = NDArray[np.float64]


class CNNBaseline(SequenceNet):
    """Conv blocks per frame, flatten over time, dense ``tanh`` layer, dense logit.

    Called as :class:`~medseal.models.nets.conv_bilstm.ConvBiLSTM` is (see its
    example); after the conv blocks, two dense layers (``T * D = 2 * 32`` inputs):

    >>> params = CNNBaseline(frames=2, size=8, conv_channels=(2,), hidden=3).init_params(seed=0)
    >>> [k for k in params if k.startswith("fc")], params["fc1.w"].shape
    (['fc1.w', 'fc1.b', 'fc2.w', 'fc2.b'], (64, 3))
    """

    name = "cnn"

    def init_params(self, seed: int) -> dict[str, F64]:
        rng = np.random.default_rng(seed)
        params = self._conv_params(rng)
        flat = self.geometry.frames * self.geometry.feature_dim
        params.update(dense_params(rng, "fc1", flat, self.hidden))
        params.update(dense_params(rng, "fc2", self.hidden, 1))
        return params

    def forward(self, be: ArrayBackend, params: Params, x: Array) -> tuple[Array, Any]:
        feats, conv_cache = self._features(be, params, x)
        b, t_len, d = feats.shape
        flat = feats.reshape(b, t_len * d)
        h = be.tanh(flat @ params["fc1.w"] + params["fc1.b"])
        z = (h @ params["fc2.w"]).reshape(b) + params["fc2.b"]
        return z, (conv_cache, flat, h, b, t_len, d)

    def backward(self, be: ArrayBackend, params: Params, cache: Any, dlogits: Array) -> Params:
        conv_cache, flat, h, b, t_len, d = cache
        grads: Params = {}
        dh = dense_grads(params, "fc2", h, dlogits.reshape(b, 1), grads)
        dflat = dense_grads(params, "fc1", flat, dh * (1.0 - h * h), grads)
        return self._features_backward(be, params, conv_cache, dflat.reshape(b, t_len, d), grads)
