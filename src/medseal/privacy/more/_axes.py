"""Axes of a MORE tensor: shape, reductions and reshaping (no arithmetic on values).

Where it sits: privacy/more. :class:`TensorAxes` is the part of
:class:`~medseal.privacy.more.tensor.MoreTensor` that only moves ciphertext
matrices around (storage ``shape + (n, n)``); sums and means are sums of
ciphertexts, which is homomorphic addition.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import NDArray

from medseal.privacy.more._shape import broadcast_shapes, normalize_axis
from medseal.privacy.more.errors import MoreShapeError

__all__ = ["Axis", "TensorAxes"]

F64 = NDArray[np.float64]
Axis = int | tuple[int, ...] | None


class TensorAxes:
    """Shape bookkeeping of a tensor of ``n x n`` ciphertext matrices held in ``_data``."""

    __slots__ = ()
    _data: F64

    def _new(self, data: F64) -> Self:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the plaintext tensor (storage has two more axes)."""
        return tuple(self._data.shape[:-2])

    @property
    def ndim(self) -> int:
        """Number of tensor axes."""
        return self._data.ndim - 2

    @property
    def size(self) -> int:
        """Number of encrypted values."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def T(self) -> Self:  # noqa: N802 - NumPy's name
        """Tensor with its axes reversed."""
        return self.transpose()

    # -- reductions ----------------------------------------------------------
    def _axes(self, axis: Axis) -> tuple[int, ...]:
        if axis is None:
            return tuple(range(self.ndim))
        axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
        norm = tuple(normalize_axis(int(a), self.ndim) for a in axes)
        if len(set(norm)) != len(norm):
            raise MoreShapeError(f"repeated axis in {axis}")
        return norm

    def sum(self, axis: Axis = None, *, keepdims: bool = False) -> Self:
        """Sum over tensor axes (all when ``axis`` is None)."""
        axes = self._axes(axis)
        return self._new(np.sum(self._data, axis=axes, keepdims=keepdims))

    def mean(self, axis: Axis = None, *, keepdims: bool = False) -> Self:
        """Mean over tensor axes (all when ``axis`` is None)."""
        axes = self._axes(axis)
        count = int(np.prod([self.shape[a] for a in axes], dtype=np.int64))
        if count == 0:
            raise MoreShapeError(f"mean over an empty axis of shape {self.shape}")
        return self._new(np.sum(self._data, axis=axes, keepdims=keepdims) / count)

    # -- shape manipulation --------------------------------------------------
    def reshape(self, *shape: int | tuple[int, ...]) -> Self:
        """Same values, new tensor shape (one ``-1`` allowed)."""
        shp: tuple[int, ...] = (
            tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], tuple) else shape  # type: ignore[assignment]
        )
        try:
            return self._new(self._data.reshape(*shp, *self._data.shape[-2:]))
        except ValueError:
            raise MoreShapeError(
                f"cannot reshape a tensor of shape {self.shape} into {shp}"
            ) from None

    def flatten(self) -> Self:
        """A 1-D copy."""
        return self._new(self._data.reshape(-1, self._data.shape[-1], self._data.shape[-1]).copy())

    def transpose(self, *axes: int | tuple[int, ...]) -> Self:
        """Permute tensor axes (reverse them when none are given)."""
        ax: tuple[int, ...]
        if not axes:
            ax = tuple(reversed(range(self.ndim)))
        elif len(axes) == 1 and isinstance(axes[0], tuple | list):
            ax = tuple(axes[0])
        else:
            ax = tuple(axes)  # type: ignore[arg-type]
        norm = tuple(normalize_axis(int(a), self.ndim) for a in ax)
        if sorted(norm) != list(range(self.ndim)):
            raise MoreShapeError(f"axes {ax} are not a permutation for shape {self.shape}")
        nd = self.ndim
        return self._new(self._data.transpose(*norm, nd, nd + 1))

    def swapaxes(self, axis1: int, axis2: int) -> Self:
        """Swap two tensor axes."""
        a1 = normalize_axis(axis1, self.ndim)
        a2 = normalize_axis(axis2, self.ndim)
        return self._new(np.swapaxes(self._data, a1, a2))

    def expand_dims(self, axis: int) -> Self:
        """Insert a length-1 tensor axis at ``axis``."""
        ax = normalize_axis(axis, self.ndim + 1)
        return self._new(np.expand_dims(self._data, ax))

    def squeeze(self, axis: Axis = None) -> Self:
        """Drop length-1 tensor axes (all of them when ``axis`` is None)."""
        if axis is None:
            axes = tuple(i for i, s in enumerate(self.shape) if s == 1)
        else:
            axes = self._axes(axis)
            bad = [a for a in axes if self.shape[a] != 1]
            if bad:
                raise MoreShapeError(f"cannot squeeze axes {bad} of shape {self.shape}")
        return self._new(np.squeeze(self._data, axis=axes))

    def broadcast_to(self, shape: tuple[int, ...]) -> Self:
        """A copy broadcast to ``shape`` (real storage, not a strided view)."""
        shp = tuple(shape)
        if broadcast_shapes(self.shape, shp, "broadcast_to") != shp:
            raise MoreShapeError(f"cannot broadcast shape {self.shape} to {shp}")
        return self._new(np.broadcast_to(self._data, shp + self._data.shape[-2:]).copy())
