"""The base class of every keyed block-wise masking scheme: masking, unmasking, description.

Where it sits: privacy stage. A scheme reduces to three arrays, a block
order, an in-block permutation and in-block flips (:meth:`MaskingScheme.block_transform`);
subclasses in :mod:`medseal.privacy.masking.schemes` provide them, and this
class applies them to images (numpy or torch, any batch and channel layout).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from types import EllipsisType
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np

from medseal.errors import InputError
from medseal.privacy.masking import _arrays
from medseal.privacy.masking._blocks import (
    Layout,
    PadMode,
    from_blocks,
    layout_of,
    pad_to_block,
    to_blocks,
)
from medseal.privacy.masking.claims import claims

__all__ = ["BlockTransform", "MaskingScheme"]

ArrayT = TypeVar("ArrayT")


class BlockTransform(NamedTuple):
    """What a scheme does inside every block of ``K = M*M*C`` values.

    ``y[k] = x[perm[k]]``, then ``y[k] = top - y[k]`` where ``flip[k]``
    (``top = 2**L - 1`` for integers, ``1`` for floats). Values are indexed
    (row in block, column in block, channel), row-major, as in :func:`blockify`.
    """

    perm: np.ndarray
    flip: np.ndarray


class MaskingScheme(ABC):
    """Common behaviour of every keyed block-wise masking scheme.

    A scheme is immutable once built; it computes its permutations lazily per
    image geometry and caches them. Its ``repr`` and :meth:`describe` show a key
    fingerprint, never the key.
    """

    name: ClassVar[str] = "scheme"

    def __init__(self, *, block: int, bit_depth: int, channel_axis: int | None) -> None:
        if isinstance(block, bool) or not isinstance(block, int) or block < 1:
            raise InputError(f"block size must be a positive integer, got {block!r}")
        if (
            isinstance(bit_depth, bool)
            or not isinstance(bit_depth, int)
            or not 1 <= bit_depth <= 32
        ):
            raise InputError(f"bit_depth must be an integer in [1, 32], got {bit_depth!r}")
        self._block = block
        self._bit_depth = bit_depth
        self._channel_axis = channel_axis
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    # -- properties -------------------------------------------------------
    @property
    def block(self) -> int:
        """Block side ``M`` in pixels."""
        return self._block

    @property
    def bit_depth(self) -> int:
        """``L``: integer images are taken to hold values in ``[0, 2**L - 1]``."""
        return self._bit_depth

    @property
    def channel_axis(self) -> int | None:
        """Default channel axis of inputs (``None``: grey images)."""
        return self._channel_axis

    @property
    @abstractmethod
    def key_id(self) -> str | None:
        """Public fingerprint of the key (``None`` for a composition of several keys)."""

    @property
    def steps(self) -> tuple[str, ...]:
        """Elementary schemes applied, in order."""
        return (self.name,)

    # -- what subclasses provide -------------------------------------------
    @abstractmethod
    def _parts(self, n_blocks: int, k: int) -> _arrays.Parts:
        """(block order, in-block permutation, in-block flips); ``None`` means identity."""

    @abstractmethod
    def for_image(self, image_id: str | bytes) -> MaskingScheme:
        """The same scheme under the per-image key ``HKDF(key, info=b"medseal/mask/image/" + id)``.

        Per-image keys stop one known plain/masked pair from unmasking the
        whole dataset, but a block-wise layer can then no longer learn a single
        permutation: use them for sharing/storage, not for Masked-CNN training.
        """

    # -- public geometry ---------------------------------------------------
    def block_order(self, n_blocks: int) -> np.ndarray:
        """Block positions for an image of ``n_blocks`` blocks: masked block ``j`` is input block ``order[j]``."""
        order, _, _ = self._parts(n_blocks, 1)
        return np.arange(n_blocks) if order is None else order.copy()

    def block_transform(self, channels: int = 1) -> BlockTransform:
        """The in-block permutation and flips for blocks of ``M*M*channels`` values."""
        k = self._block * self._block * channels
        _, perm, flip = self._parts(1, k)
        return BlockTransform(
            np.arange(k) if perm is None else perm.copy(),
            np.zeros(k, dtype=bool) if flip is None else flip.copy(),
        )

    def pixel_permutation(self, channels: int = 1) -> np.ndarray:
        """Index array ``p`` with ``masked_block[k] = block[p[k]]`` (before any flips)."""
        return self.block_transform(channels).perm

    # -- masking -----------------------------------------------------------
    def mask(
        self,
        x: ArrayT,
        *,
        channel_axis: int | None | EllipsisType = ...,
        pad: PadMode | str | None = None,
        image_ids: Sequence[str | bytes] | None = None,
    ) -> ArrayT:
        """Mask an image or a batch; returns the same type, dtype and device.

        Parameters
        ----------
        x : numpy.ndarray or torch.Tensor
            ``(H, W)``, ``(N, H, W)``, or with a channel axis (see ``channel_axis``).
            Integer images must lie in ``[0, 2**bit_depth - 1]`` and float images
            in ``[0, 1]`` when the scheme flips values.
        channel_axis : int or None, keyword-only
            Channel axis of ``x`` (scikit-image convention); default: the scheme's.
        pad : {"edge", "zero"} or None, keyword-only
            Pad the bottom/right up to multiples of the block instead of
            refusing; :meth:`unmask` with ``crop=`` undoes it.
        image_ids : sequence of str or bytes, keyword-only
            One id per image (batch axes flattened): each image is masked under
            its own per-image key (see :meth:`for_image`).

        Returns
        -------
        Same type as ``x``. Torch tensors are processed on the host and
        returned detached, on their original device.

        Raises
        ------
        InputError
            H or W not a multiple of the block (the message names both shapes),
            values outside the range, wrong number of image ids.
        UnsupportedImageError
            A dtype the scheme cannot flip exactly (bool, complex, too narrow).
        """
        arr, back = _arrays.as_numpy(x)
        axis = self._channel_axis if channel_axis is ... else channel_axis
        if pad is not None:
            arr = pad_to_block(arr, self._block, channel_axis=axis, mode=pad)
        layout = layout_of(tuple(arr.shape), self._block, axis)
        out = self._run(arr, layout, image_ids, inverse=False)
        return back(out)

    def unmask(
        self,
        y: ArrayT,
        *,
        channel_axis: int | None | EllipsisType = ...,
        crop: tuple[int, int] | None = None,
        image_ids: Sequence[str | bytes] | None = None,
    ) -> ArrayT:
        """Invert :meth:`mask` (bit-exact for integers and for permutation-only schemes).

        ``crop=(H, W)`` cuts the spatial axes back to the size before padding.
        Float negative-positive computes ``1 - (1 - x)``, which equals ``x``
        exactly when ``x`` is a multiple of the dtype's epsilon/2 (e.g. any
        ``k / 2**n`` with ``n <= 24`` in float32) and is within ``eps`` of it
        otherwise.
        """
        arr, back = _arrays.as_numpy(y)
        axis = self._channel_axis if channel_axis is ... else channel_axis
        layout = layout_of(tuple(arr.shape), self._block, axis)
        out = self._run(arr, layout, image_ids, inverse=True)
        if crop is not None:
            out = _arrays.crop(out, layout, crop)
        return back(out)

    def _run(
        self,
        arr: np.ndarray,
        layout: Layout,
        image_ids: Sequence[str | bytes] | None,
        *,
        inverse: bool,
    ) -> np.ndarray:
        blocks = to_blocks(arr, layout)
        n_blocks, k = layout.n_blocks, layout.block_size
        if image_ids is None:
            schemes: list[MaskingScheme] = [self]
            slices = [slice(None)]
        else:
            ids = list(image_ids)
            if isinstance(image_ids, str | bytes) or len(ids) != blocks.shape[0]:
                raise InputError(
                    f"image_ids must list one id per image: {blocks.shape[0]} images "
                    f"in input shape {layout.shape}"
                )
            schemes = [self.for_image(i) for i in ids]
            slices = [slice(i, i + 1) for i in range(len(ids))]
        top: int | float = 0
        checked = False
        results = []
        for scheme, sl in zip(schemes, slices, strict=True):
            order, perm, flip = scheme._parts(n_blocks, k)
            if flip is not None and flip.any() and not checked:
                top = _arrays.top_value(arr.dtype, self._bit_depth)
                _arrays.check_range(arr, top, self._bit_depth)
                checked = True
            part = blocks[sl]
            if flip is not None and not flip.any():
                flip = None
            if not inverse and _arrays.is_identity(order, perm, flip):
                raise InputError(
                    f"masking scheme {'+'.join(self.steps)!r} (block={self._block}) would leave "
                    f"every value of input shape {layout.shape} in place ({n_blocks} block(s) "
                    f"of {k} values under this key): refusing to store an unmasked copy; use "
                    "a smaller block, a larger image or an in-block step (shuffle, negpos)"
                )
            if not inverse:
                part = _arrays.take(part, order, perm)
                if flip is not None:
                    part = _arrays.negate(part, flip, top)
            else:
                if flip is not None:
                    part = _arrays.negate(part, flip, top)
                part = _arrays.take(part, _arrays.inverse_perm(order), _arrays.inverse_perm(perm))
            results.append(part)
        out = from_blocks(results[0] if len(results) == 1 else np.concatenate(results), layout)
        # an identity-like scheme on a one-block image can come back as a view of the input
        return out.copy() if np.may_share_memory(out, arr) else out

    # -- reporting -----------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """PHI-free, key-free summary: name, geometry, key fingerprint, and the honest claims."""
        hides, reveals = claims(self.steps, self._negpos_fraction())
        return {
            "scheme": "+".join(self.steps),
            "steps": list(self.steps),
            "block": self._block,
            "bit_depth": self._bit_depth,
            "channel_axis": self._channel_axis,
            "key_id": self.key_id,
            "per_image_key": self._image_bound(),
            "hides": hides,
            "does_not_hide": reveals,
            "semantically_secure": False,
            "learnable_blockwise": not self._image_bound(),
            "negpos_fraction": self._negpos_fraction(),
        }

    def _negpos_fraction(self) -> float | None:
        return None

    def _image_bound(self) -> bool:
        return False

    def _cached(self, kind: str, n: int, make: Callable[[], np.ndarray]) -> np.ndarray:
        value = self._cache.get((kind, n))
        if value is None:
            value = make()
            value.setflags(write=False)
            self._cache[(kind, n)] = value
        return value

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(block={self._block}, bit_depth={self._bit_depth}, "
            f"key_id={self.key_id!r})"
        )
