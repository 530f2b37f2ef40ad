"""``SequenceNet``: the interface and parameter set-up shared by the seed 003 networks.

Where it sits: models stage. A network object holds only hyper-parameters;
its parameters are a ``dict`` of named arrays (plaintext) or ciphertexts, so one
object serves both backends of :mod:`medseal.models.backend`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medseal.errors import InputError
from medseal.models.backend import Array, ArrayBackend
from medseal.models.nets.sequence_layers import (
    Params,
    bce_with_logits,
    conv_features_backward,
    conv_features_forward,
    glorot,
)

__all__ = ["SequenceNet"]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class _Geometry:
    conv_channels: tuple[int, ...]
    frames: int
    in_channels: int
    size: int
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
        self.geometry = _Geometry(
            tuple(conv_channels), frames=frames, in_channels=in_channels, size=size,
            kernel_size=kernel_size,
        )  # fmt: skip
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

    def _features(self, be: ArrayBackend, params: Params, x: Array) -> tuple[Array, list[Any]]:
        """The checked input's ``(B, T, D)`` frame features, through the conv blocks, and their cache."""
        self._check_input(x)
        return conv_features_forward(be, params, x, len(self.geometry.conv_channels))

    @staticmethod
    def _features_backward(
        be: ArrayBackend, params: Params, cache: list[Any], dfeats: Array, grads: Params
    ) -> Params:
        """Add the conv blocks' gradients (``dfeats``: ``(B, T, D)``) to ``grads``; returns it."""
        conv_features_backward(be, params, cache, dfeats, grads)
        return grads

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
