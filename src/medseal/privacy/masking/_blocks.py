"""Cutting images into M x M blocks and back (pure reshapes, no copies of key material).

Sits under :mod:`medseal.privacy.masking`; the schemes work on the
``(N, n_blocks, M*M*C)`` view built here.

Layout convention (as in scikit-image): the two spatial axes are the last two
axes once the channel axis is taken out; ``channel_axis=None`` means there is
no channel axis; every axis before the spatial ones is a batch axis.

==================  ================  ===========================
input shape         ``channel_axis``  read as
==================  ================  ===========================
``(H, W)``          ``None``          one grey image
``(N, H, W)``       ``None``          N grey images
``(H, W, C)``       ``-1``            one image, channels last
``(N, H, W, C)``    ``-1``            N images, channels last
``(C, H, W)``       ``0``             one image, channels first
``(N, C, H, W)``    ``1``             N images, channels first
==================  ================  ===========================

Inside a block, the ``M*M*C`` values are ordered row-major as
``(row in block, column in block, channel)``; blocks are numbered row-major.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from math import prod

import numpy as np

from medseal.errors import InputError

__all__ = [
    "Layout",
    "PadMode",
    "blockify",
    "from_blocks",
    "pad_to_block",
    "to_blocks",
    "unblockify",
]


class PadMode(StrEnum):
    """How :meth:`MaskingScheme.mask` pads images whose sides are not multiples of the block."""

    EDGE = "edge"  # repeat the last row/column (numpy "edge")
    ZERO = "zero"  # pad with zeros


@dataclass(frozen=True)
class Layout:
    """Where an input's batch, spatial and channel axes are, so blocks can be put back."""

    shape: tuple[int, ...]
    channel_axis: int | None  # normalised to a non-negative index, or None
    block: int

    @property
    def channels(self) -> int:
        return 1 if self.channel_axis is None else self.shape[self.channel_axis]

    @property
    def spatial(self) -> tuple[int, int]:
        rest = self._without_channel()
        return rest[-2], rest[-1]

    @property
    def batch(self) -> tuple[int, ...]:
        return self._without_channel()[:-2]

    @property
    def grid(self) -> tuple[int, int]:
        h, w = self.spatial
        return h // self.block, w // self.block

    @property
    def n_blocks(self) -> int:
        return prod(self.grid)

    @property
    def block_size(self) -> int:
        """Values per block, ``M * M * C``."""
        return self.block * self.block * self.channels

    def _without_channel(self) -> tuple[int, ...]:
        if self.channel_axis is None:
            return self.shape
        return self.shape[: self.channel_axis] + self.shape[self.channel_axis + 1 :]


def _check_block(block: int) -> int:
    if isinstance(block, bool) or not isinstance(block, int | np.integer) or block < 1:
        raise InputError(f"block size must be a positive integer, got {block!r}")
    return int(block)


def _normalise_channel_axis(
    ndim: int, shape: tuple[int, ...], channel_axis: int | None
) -> int | None:
    if channel_axis is None:
        if ndim < 2:
            raise InputError(f"expected an image of at least 2 dims (H, W), got shape {shape}")
        return None
    if ndim < 3:
        raise InputError(
            f"channel_axis={channel_axis} needs at least 3 dims (H, W, C), got shape {shape}"
        )
    if not -ndim <= channel_axis < ndim:
        raise InputError(f"channel_axis={channel_axis} is out of range for shape {shape}")
    return channel_axis % ndim


def layout_of(shape: tuple[int, ...], block: int, channel_axis: int | None) -> Layout:
    """Describe ``shape``; raise :class:`InputError` naming both shapes if blocks do not fit."""
    block = _check_block(block)
    shape = tuple(int(s) for s in shape)
    layout = Layout(shape, _normalise_channel_axis(len(shape), shape, channel_axis), block)
    h, w = layout.spatial
    if h % block or w % block or h == 0 or w == 0:
        raise InputError(
            f"image shape (H, W) = ({h}, {w}) (input shape {shape}) is not a multiple of the "
            f"block shape ({block}, {block}); crop the image or pass pad='edge' or pad='zero'"
        )
    return layout


def _to_hwc(x: np.ndarray, layout: Layout) -> np.ndarray:
    """View as ``(N, H, W, C)``."""
    if layout.channel_axis is None:
        x = x[..., np.newaxis]
    else:
        x = np.moveaxis(x, layout.channel_axis, -1)
    h, w = layout.spatial
    return x.reshape((prod(layout.batch), h, w, layout.channels))


def to_blocks(x: np.ndarray, layout: Layout) -> np.ndarray:
    """``(N, n_blocks, M*M*C)`` copy of ``x`` (blocks row-major, values (row, col, channel))."""
    m = layout.block
    hb, wb = layout.grid
    hwc = _to_hwc(x, layout)
    n, c = hwc.shape[0], hwc.shape[3]
    six = hwc.reshape(n, hb, m, wb, m, c).transpose(0, 1, 3, 2, 4, 5)
    return six.reshape(n, hb * wb, m * m * c)


def from_blocks(blocks: np.ndarray, layout: Layout) -> np.ndarray:
    """Inverse of :func:`to_blocks`: an array of ``layout.shape``."""
    m = layout.block
    hb, wb = layout.grid
    n, c = blocks.shape[0], layout.channels
    hwc = (
        blocks.reshape(n, hb, wb, m, m, c)
        .transpose(0, 1, 3, 2, 4, 5)
        .reshape((*layout.batch, hb * m, wb * m, c))
    )
    ca = layout.channel_axis
    return np.ascontiguousarray(hwc[..., 0] if ca is None else np.moveaxis(hwc, -1, ca))


def pad_to_block(
    x: np.ndarray, block: int, *, channel_axis: int | None = None, mode: PadMode | str = "edge"
) -> np.ndarray:
    """Pad the spatial axes at the bottom/right up to multiples of ``block``."""
    block = _check_block(block)
    mode = PadMode(mode)
    ca = _normalise_channel_axis(x.ndim, tuple(x.shape), channel_axis)
    spatial_axes = [a for a in range(x.ndim) if a != ca][-2:]
    widths = [(0, 0)] * x.ndim
    for axis in spatial_axes:
        widths[axis] = (0, (-x.shape[axis]) % block)
    if not any(after for _, after in widths):
        return x
    if mode is PadMode.EDGE:
        return np.pad(x, widths, mode="edge")
    return np.pad(x, widths, mode="constant", constant_values=0)


def blockify(x: np.ndarray, block: int, *, channel_axis: int | None = None) -> np.ndarray:
    """Cut images into ``block x block`` tiles: returns ``(N, H/M, W/M, M*M*C)``.

    Parameters
    ----------
    x : numpy.ndarray
        ``(H, W)``, ``(N, H, W)``, or with a channel axis named by ``channel_axis``.
        All axes before the spatial ones are flattened into ``N`` (``N = 1`` when
        there are none).
    block : int
        Block side ``M``; ``H`` and ``W`` must be multiples of it.
    channel_axis : int or None, keyword-only
        Which axis holds channels (scikit-image convention); ``None`` for grey.

    Returns
    -------
    numpy.ndarray
        A new array; within a block the values are ordered (row, column, channel).

    Examples
    --------
    >>> import numpy as np
    >>> blockify(np.arange(16).reshape(4, 4), 2)[0, 0, 1]  # block at row 0, column 1
    array([2, 3, 6, 7])
    """
    layout = layout_of(tuple(x.shape), block, channel_axis)
    hb, wb = layout.grid
    return to_blocks(np.asarray(x), layout).reshape(-1, hb, wb, layout.block_size)


def unblockify(blocks: np.ndarray, block: int, *, channel_axis: int | None = None) -> np.ndarray:
    """Inverse of :func:`blockify`: ``(N, H/M, W/M, M*M*C)`` -> ``(N, H, W)`` or with channels.

    With ``channel_axis=None`` the blocks must hold ``M*M`` values (grey) and the
    result is ``(N, H, W)``; otherwise the result is ``(N, H, W, C)`` with the
    channel axis moved to ``channel_axis`` (``-1`` or ``1`` are the usual picks).
    """
    block = _check_block(block)
    if blocks.ndim != 4:
        raise InputError(f"expected blocks of shape (N, H/M, W/M, M*M*C), got {blocks.shape}")
    n, hb, wb, k = blocks.shape
    if k % (block * block):
        raise InputError(
            f"blocks of {k} values do not hold whole {block}x{block} tiles (shape {blocks.shape})"
        )
    c = k // (block * block)
    if channel_axis is None and c != 1:
        raise InputError(
            f"blocks of shape {blocks.shape} hold {c} channels; pass channel_axis for colour"
        )
    hwc = (
        np.asarray(blocks)
        .reshape(n, hb, wb, block, block, c)
        .transpose(0, 1, 3, 2, 4, 5)
        .reshape(n, hb * block, wb * block, c)
    )
    if channel_axis is None:
        return np.ascontiguousarray(hwc[..., 0])
    return np.ascontiguousarray(np.moveaxis(hwc, -1, channel_axis))
