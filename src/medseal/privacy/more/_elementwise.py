"""Scalar functions (stable forms) and their derivatives, for MORE's matrix functions.

Where it sits: privacy/more, used by :class:`~medseal.privacy.more.tensor.MoreTensor`.
A matrix function evaluates ``f`` on every eigenvalue of a ciphertext (the
plaintext slot and the hidden random ones); where two eigenvalues merge it
needs ``f'``, given here beside each ``f``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "dsigmoid",
    "dtanh",
    "half_rsqrt",
    "reciprocal",
    "relu",
    "sigmoid",
    "sign",
    "softplus",
    "step",
    "zero",
]

F64 = NDArray[np.float64]


def sigmoid(x: F64) -> F64:
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def dsigmoid(x: F64) -> F64:
    s = sigmoid(x)
    return s * (1.0 - s)


def softplus(x: F64) -> F64:
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


def dtanh(x: F64) -> F64:
    return 1.0 - np.tanh(x) ** 2


def relu(x: F64) -> F64:
    return np.maximum(x, 0.0)


def step(x: F64) -> F64:
    return (x > 0).astype(np.float64)


def zero(x: F64) -> F64:
    return np.zeros_like(x)


def sign(x: F64) -> F64:
    return np.sign(x)


def reciprocal(x: F64) -> F64:
    return 1.0 / x


def half_rsqrt(x: F64) -> F64:
    return 0.5 / np.sqrt(x)
