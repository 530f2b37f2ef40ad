"""Keyed block-wise masking schemes ("learnable image encryption").

Sits in the ``privacy`` stage, after the vault: the data owner masks images
with a secret key before handing them to an analyst or a compute host, which
trains/infers on the masked images (e.g. with a Masked-CNN whose first layer
works block by block). Nothing here is semantically secure; every class says
what it hides and what it does not, and ``evaluate/attacks`` measures it.

The family follows Tanaka (2018) and Madono et al. (2020): the image is cut
into ``M x M`` blocks, and

1. :class:`BlockScramble` permutes the positions of the blocks;
2. :class:`PixelShuffle` permutes the ``M*M*C`` values inside every block with
   one keyed permutation shared by all blocks;
3. :class:`NegativePositive` maps ``x -> (2**L - 1) - x`` (``1 - x`` for floats)
   at a keyed subset of the positions within a block, the same for all blocks;
4. :class:`Compose` chains them, first to last.

No scheme may be the identity: parameters that cannot change a pixel
(``block=1`` for the in-block steps, a negative-positive fraction that flips
nothing or everything) are refused when the scheme is built, and
:meth:`MaskingScheme.mask` refuses an image whose geometry leaves every value
in place (e.g. block scrambling of a one-block image).

Every scheme reduces to three arrays: a block order, an in-block permutation
and an in-block flip mask (see :meth:`MaskingScheme.block_transform`). The
in-block part is the same for every block, which is what lets a block-wise
first layer (kernel ``M``, stride ``M``) absorb it; the block order acts on
block positions only, so it commutes with the in-block part.

References
----------
M. Tanaka, "Learnable Image Encryption", IEEE ICCE-TW 2018, arXiv:1804.00490.
K. Madono, M. Tanaka, M. Onishi, T. Ogawa, "Block-wise Scrambled Image
Recognition Using Adaptation Network", AAAI-WS AIoT 2020, arXiv:2001.07761.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from types import EllipsisType
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np

from medseal.errors import InputError, UnsupportedImageError
from medseal.privacy.masking import _keys
from medseal.privacy.masking._blocks import (
    Layout,
    PadMode,
    from_blocks,
    layout_of,
    pad_to_block,
    to_blocks,
)

__all__ = [
    "DEFAULT_SCHEME",
    "BlockScramble",
    "BlockTransform",
    "Compose",
    "MaskKind",
    "MaskingScheme",
    "NegativePositive",
    "PixelShuffle",
    "claims",
    "make_scheme",
]

ArrayT = TypeVar("ArrayT")
_Parts = tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]


class MaskKind(StrEnum):
    """The elementary schemes, by the names :func:`make_scheme` accepts."""

    BLOCK = "block"
    SHUFFLE = "shuffle"
    NEGPOS = "negpos"


DEFAULT_SCHEME = "shuffle+negpos"


class BlockTransform(NamedTuple):
    """What a scheme does inside every block of ``K = M*M*C`` values.

    ``y[k] = x[perm[k]]``, then ``y[k] = top - y[k]`` where ``flip[k]``
    (``top = 2**L - 1`` for integers, ``1`` for floats). Values are indexed
    (row in block, column in block, channel), row-major, as in :func:`blockify`.
    """

    perm: np.ndarray
    flip: np.ndarray


# ---------------------------------------------------------------- array plumbing


def _as_numpy(x: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """Numpy view of ``x`` and a function turning a result back into ``x``'s type/device."""
    if isinstance(x, np.ndarray):
        return x, lambda a: a
    torch = sys.modules.get("torch")  # never import torch ourselves: numpy must work without it
    if torch is not None and isinstance(x, torch.Tensor):
        if x.dtype in (torch.bfloat16, torch.complex64, torch.complex128):
            raise UnsupportedImageError(f"cannot mask tensors of dtype {x.dtype}")
        device = x.device
        host = x.detach().cpu().numpy()
        return host, lambda a: torch.from_numpy(a).to(device)
    raise TypeError(f"expected a numpy array or torch tensor, got {type(x).__name__}")


def _top(dtype: np.dtype, bit_depth: int) -> int | float:
    """The value negative-positive reflects against, after checking the dtype can hold it."""
    if dtype.kind == "f":
        return 1.0
    if dtype.kind in "ui":
        usable = dtype.itemsize * 8 - (dtype.kind == "i")
        if bit_depth > usable:
            raise UnsupportedImageError(
                f"bit_depth={bit_depth} does not fit dtype {dtype} ({usable} value bits)"
            )
        return (1 << bit_depth) - 1
    raise UnsupportedImageError(f"negative-positive cannot handle dtype {dtype}")


def _check_range(x: np.ndarray, top: int | float, bit_depth: int) -> None:
    if x.size == 0:
        return
    lo, hi = x.min(), x.max()
    if lo < 0 or hi > top:
        if x.dtype.kind == "f":
            raise InputError("negative-positive needs float images scaled to [0, 1]; rescale first")
        raise InputError(
            f"pixel values exceed [0, {top}] for bit_depth={bit_depth}; pass the image's "
            "real bit depth (e.g. bit_depth=12 for 12-bit CT stored in uint16)"
        )


def _negate(blocks: np.ndarray, flip: np.ndarray, top: int | float) -> np.ndarray:
    """``top - v`` where ``flip`` (last axis), exact for integers (XOR with all-ones)."""
    if blocks.dtype.kind == "f":
        return np.where(flip, blocks.dtype.type(top) - blocks, blocks)
    # For 0 <= v <= 2**L - 1, (2**L - 1) - v == v ^ (2**L - 1): no overflow, no casts.
    xor = np.where(flip, top, 0).astype(blocks.dtype)
    return np.bitwise_xor(blocks, xor)


def _take(blocks: np.ndarray, order: np.ndarray | None, perm: np.ndarray | None) -> np.ndarray:
    """``blocks[:, order][:, :, perm]`` in one gather (``np.take`` on a flat index is ~5x faster)."""
    n, n_blocks, k = blocks.shape
    if order is None:
        return blocks if perm is None else np.take(blocks, perm, axis=2)
    if perm is None:
        perm = np.arange(k)
    flat = (order[:, None] * k + perm[None, :]).ravel()
    return np.take(blocks.reshape(n, n_blocks * k), flat, axis=1).reshape(n, n_blocks, k)


def _is_identity(
    order: np.ndarray | None, perm: np.ndarray | None, flip: np.ndarray | None
) -> bool:
    """Whether (block order, in-block permutation, flips) leaves every value where it was."""
    return (
        (order is None or bool((order == np.arange(order.size)).all()))
        and (perm is None or bool((perm == np.arange(perm.size)).all()))
        and (flip is None or not flip.any())
    )


def _inverse_perm(p: np.ndarray | None) -> np.ndarray | None:
    return None if p is None else np.argsort(p, kind="stable")


# ---------------------------------------------------------------- honest claims


def claims(
    steps: Iterable[str], negpos_fraction: float | None = None
) -> tuple[list[str], list[str]]:
    """What a chain of steps hides and what it does not, as two lists of sentences.

    Each sentence is a claim the tests check (``tests/privacy/test_masking_claims.py``)
    or a known attack that ``evaluate/attacks`` measures.
    """
    present = {MaskKind(s) for s in steps}
    block = MaskKind.BLOCK in present
    shuffle = MaskKind.SHUFFLE in present
    negpos = MaskKind.NEGPOS in present
    hides: list[str] = []
    reveals: list[str] = ["the image size and block grid; this is NOT semantically secure"]
    if block:
        hides.append("the position of each block (the global layout of the image)")
    if shuffle:
        hides.append("the arrangement of values inside each block (edges, fine texture)")
    if negpos:
        hides.append("the sign of (x - mid) at the keyed flipped positions")
    if not negpos:
        reveals.append("the global histogram (values are only moved, never changed)")
        reveals.append(
            "the content of every block, unchanged (the multiset of blocks is preserved)"
            if not shuffle
            else "each block's histogram, mean and variance (a 1/M-resolution thumbnail)"
        )
    else:
        reveals.append(
            "|x - mid| at every value, so each block's multiset of |x - mid| "
            "(a 1/M-resolution contrast thumbnail)"
        )
        if not shuffle:
            reveals.append("the values at the unflipped positions (a regular subsampled image)")
        if negpos_fraction in (0.0, 1.0):
            reveals.append(
                f"negpos_fraction={negpos_fraction}: flips none or all values "
                "(identity or plain inversion)"
            )
    if block:
        reveals.append("edge continuity between blocks: jigsaw solvers re-assemble the image")
    else:
        reveals.append("block positions: the image layout at block resolution")
    if shuffle or negpos:
        reveals.append(
            "one in-block transform for every block and every image under the key: "
            "a single known plain/masked pair reveals it; learned inverses approximate it"
        )
    if block:
        reveals.append("one block order for every image of the same size under the key")
    return hides, reveals


# ---------------------------------------------------------------- the base class


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
    def _parts(self, n_blocks: int, k: int) -> _Parts:
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
        arr, back = _as_numpy(x)
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
        arr, back = _as_numpy(y)
        axis = self._channel_axis if channel_axis is ... else channel_axis
        layout = layout_of(tuple(arr.shape), self._block, axis)
        out = self._run(arr, layout, image_ids, inverse=True)
        if crop is not None:
            out = _crop(out, layout, crop)
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
                top = _top(arr.dtype, self._bit_depth)
                _check_range(arr, top, self._bit_depth)
                checked = True
            part = blocks[sl]
            if flip is not None and not flip.any():
                flip = None
            if not inverse and _is_identity(order, perm, flip):
                raise InputError(
                    f"masking scheme {'+'.join(self.steps)!r} (block={self._block}) would leave "
                    f"every value of input shape {layout.shape} in place ({n_blocks} block(s) "
                    f"of {k} values under this key): refusing to store an unmasked copy; use "
                    "a smaller block, a larger image or an in-block step (shuffle, negpos)"
                )
            if not inverse:
                part = _take(part, order, perm)
                if flip is not None:
                    part = _negate(part, flip, top)
            else:
                if flip is not None:
                    part = _negate(part, flip, top)
                part = _take(part, _inverse_perm(order), _inverse_perm(perm))
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


def _crop(out: np.ndarray, layout: Layout, crop: tuple[int, int]) -> np.ndarray:
    h, w = (int(c) for c in crop)
    full_h, full_w = layout.spatial
    if not (0 < h <= full_h and 0 < w <= full_w):
        raise InputError(f"crop={crop} does not fit the image shape (H, W) = {layout.spatial}")
    axes = [a for a in range(out.ndim) if a != layout.channel_axis][-2:]
    index: list[slice] = [slice(None)] * out.ndim
    index[axes[0]] = slice(0, h)
    index[axes[1]] = slice(0, w)
    return np.ascontiguousarray(out[tuple(index)])


class _KeyedScheme(MaskingScheme):
    """An elementary scheme holding one 32-byte key (kept private, never shown)."""

    def __init__(
        self,
        *,
        key: bytes,
        block: int = 8,
        bit_depth: int = 8,
        channel_axis: int | None = None,
        _image_bound: bool = False,
    ) -> None:
        super().__init__(block=block, bit_depth=bit_depth, channel_axis=channel_axis)
        self._key = _keys.check_key(key)
        self._subkey = _keys.derive_key(self._key, self.name)
        self._key_id = _keys.key_id(self._key)
        self._bound = _image_bound

    @property
    def key_id(self) -> str:
        return self._key_id

    def _image_bound(self) -> bool:
        return self._bound

    def _options(self) -> dict[str, Any]:
        return {}

    def for_image(self, image_id: str | bytes) -> MaskingScheme:
        return type(self)(
            key=_keys.image_key(self._key, image_id),
            block=self._block,
            bit_depth=self._bit_depth,
            channel_axis=self._channel_axis,
            _image_bound=True,
            **self._options(),
        )


# ---------------------------------------------------------------- the schemes


class BlockScramble(_KeyedScheme):
    """Keyed permutation of the positions of the ``M x M`` blocks.

    Hides where each block sits, so the global layout (the outline of the
    anatomy) is gone. Does NOT hide: the content of every block, which appears
    unchanged (the multiset of blocks is preserved), hence every block's
    histogram, the global histogram and the image size. Jigsaw solvers that
    match block edges re-assemble it, and with one key per dataset the same
    order is used for every image of a given size. It also breaks the
    translation structure a CNN relies on across blocks, which is why the
    default scheme leaves it out.
    """

    name: ClassVar[str] = MaskKind.BLOCK.value

    def _parts(self, n_blocks: int, k: int) -> _Parts:
        order = self._cached(
            "order", n_blocks, lambda: _keys.keyed_permutation(self._subkey, n_blocks)
        )
        return order, None, None


class PixelShuffle(_KeyedScheme):
    """One keyed permutation of the ``M*M*C`` values of a block, applied to every block.

    Hides the arrangement of values inside each block (edges, texture
    orientation below the block scale). Does NOT hide: each block's histogram,
    mean and variance (a thumbnail at ``1/M`` resolution survives intact), the
    global histogram, or block positions. Because the same permutation serves
    every block and every image, one known plain/masked pair reveals it, and
    block-boundary smoothness statistics narrow it down without any pair.

    Refused at construction (:class:`~medseal.errors.InputError`): ``block=1``,
    where there is nothing to shuffle, and a key whose permutation of a grey
    block is the identity (1 key in ``(M*M)!``).
    """

    name: ClassVar[str] = MaskKind.SHUFFLE.value

    def __init__(
        self,
        *,
        key: bytes,
        block: int = 8,
        bit_depth: int = 8,
        channel_axis: int | None = None,
        _image_bound: bool = False,
    ) -> None:
        if isinstance(block, int) and not isinstance(block, bool) and block == 1:
            raise InputError(
                "block=1 makes the pixel shuffle the identity (a 1x1 block holds one value "
                "per channel, nothing to shuffle); use block >= 2 (default 8)"
            )
        super().__init__(
            key=key,
            block=block,
            bit_depth=bit_depth,
            channel_axis=channel_axis,
            _image_bound=_image_bound,
        )
        k = self._block * self._block
        if _is_identity(None, _keys.keyed_permutation(self._subkey, k), None):
            # 1 key in (M*M)! (1 in 24 for block=2): never hand out an unshuffled copy
            raise InputError(
                f"block={self._block}: this key's in-block permutation of {k} values is the "
                "identity; use a larger block (default 8) or another key"
            )

    def _parts(self, n_blocks: int, k: int) -> _Parts:
        perm = self._cached("perm", k, lambda: _keys.keyed_permutation(self._subkey, k))
        return None, perm, None


class NegativePositive(_KeyedScheme):
    """Keyed negative-positive transform: ``x -> (2**L - 1) - x`` at a subset of block positions.

    Exactly ``round(fraction * M*M*C)`` positions per block are flipped (the
    same positions in every block; ``fraction=0.5`` as in Tanaka 2018). Float
    images in ``[0, 1]`` use ``x -> 1 - x``. Hides the sign of ``x - mid`` at
    flipped positions, so block means and the global histogram get mixed.
    Does NOT hide: ``|x - mid|`` at every position (the "distance from mid-grey"
    image is untouched) and the unflipped positions themselves. The flip
    pattern is shared by all blocks, so it is recoverable from one known pair
    or from local smoothness.

    Refused at construction (:class:`~medseal.errors.InputError`): a
    ``fraction``/``block`` pair that flips none of a grey block's ``M*M``
    values (the identity; e.g. ``block=1``, or ``fraction=0``) or all of them
    (plain inversion, readable without the key; e.g. ``fraction=1``).
    """

    name: ClassVar[str] = MaskKind.NEGPOS.value

    def __init__(
        self,
        *,
        key: bytes,
        block: int = 8,
        bit_depth: int = 8,
        channel_axis: int | None = None,
        fraction: float = 0.5,
        _image_bound: bool = False,
    ) -> None:
        if not 0.0 <= float(fraction) <= 1.0:
            raise InputError(f"fraction must lie in [0, 1], got {fraction}")
        self._fraction = float(fraction)
        super().__init__(
            key=key,
            block=block,
            bit_depth=bit_depth,
            channel_axis=channel_axis,
            _image_bound=_image_bound,
        )
        k = self._block * self._block
        flipped = round(self._fraction * k)
        if flipped == 0:
            raise InputError(
                f"fraction={fraction} with block={self._block} flips none of the {k} values of "
                "a block (the identity); use block >= 2 and a fraction in (0, 1) "
                "(default 0.5)"
            )
        if flipped == k:
            raise InputError(
                f"fraction={fraction} with block={self._block} flips all {k} values of a "
                "block (plain inversion, readable without the key); use block >= 2 and a "
                "fraction in (0, 1) (default 0.5)"
            )

    @property
    def fraction(self) -> float:
        """Share of the positions in a block that are flipped."""
        return self._fraction

    def _options(self) -> dict[str, Any]:
        return {"fraction": self._fraction}

    def _parts(self, n_blocks: int, k: int) -> _Parts:
        flip = self._cached("flip", k, lambda: _keys.keyed_flags(self._subkey, k, self._fraction))
        return None, None, flip

    def _negpos_fraction(self) -> float | None:
        return self._fraction


class Compose(MaskingScheme):
    """Apply several schemes in order, first to last (``Compose([a, b])`` masks with ``a`` then ``b``).

    The result is again one (block order, in-block permutation, in-block
    flips) triple, so masking costs one pass whatever the number of steps.
    Order matters between :class:`PixelShuffle` and :class:`NegativePositive`
    (flips land on input positions or on shuffled positions); it does not
    matter for :class:`BlockScramble`, which commutes with in-block steps.
    Hides and leaks what its steps do: shuffle+negpos keeps the block's
    ``|x - mid|`` multiset, and adding block scrambling keeps the multiset of
    those blocks.
    """

    name: ClassVar[str] = "compose"

    def __init__(self, schemes: Sequence[MaskingScheme]) -> None:
        schemes = tuple(schemes)
        if not schemes:
            raise InputError("Compose needs at least one scheme")
        for s in schemes:
            if not isinstance(s, MaskingScheme):
                raise TypeError(f"Compose takes masking schemes, got {type(s).__name__}")
        first = schemes[0]
        for s in schemes[1:]:
            if (s.block, s.bit_depth, s.channel_axis) != (
                first.block,
                first.bit_depth,
                first.channel_axis,
            ):
                raise InputError(
                    "composed schemes must share block, bit_depth and channel_axis: "
                    f"{first!r} vs {s!r}"
                )
        super().__init__(
            block=first.block, bit_depth=first.bit_depth, channel_axis=first.channel_axis
        )
        self._schemes = schemes

    @property
    def schemes(self) -> tuple[MaskingScheme, ...]:
        return self._schemes

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(step for s in self._schemes for step in s.steps)

    @property
    def key_id(self) -> str | None:
        ids = {s.key_id for s in self._schemes}
        return ids.pop() if len(ids) == 1 else None

    def _parts(self, n_blocks: int, k: int) -> _Parts:
        order: np.ndarray | None = None
        perm: np.ndarray | None = None
        flip: np.ndarray | None = None
        for s in self._schemes:
            o, p, f = s._parts(n_blocks, k)
            if o is not None:
                order = o if order is None else order[o]
            if p is not None:
                perm = p if perm is None else perm[p]
                flip = None if flip is None else flip[p]
            if f is not None:
                flip = f if flip is None else flip ^ f
        return order, perm, flip

    def for_image(self, image_id: str | bytes) -> MaskingScheme:
        return Compose([s.for_image(image_id) for s in self._schemes])

    def _image_bound(self) -> bool:
        return any(s._image_bound() for s in self._schemes)

    def _negpos_fraction(self) -> float | None:
        fractions = [f for s in self._schemes if (f := s._negpos_fraction()) is not None]
        return fractions[-1] if fractions else None

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["step_key_ids"] = [s.key_id for s in self._schemes]
        return info

    def __repr__(self) -> str:
        inner = ", ".join(repr(s) for s in self._schemes)
        return f"Compose([{inner}])"


_CLASSES: dict[MaskKind, type[_KeyedScheme]] = {
    MaskKind.BLOCK: BlockScramble,
    MaskKind.SHUFFLE: PixelShuffle,
    MaskKind.NEGPOS: NegativePositive,
}


def make_scheme(
    spec: str | Sequence[MaskKind | str] = DEFAULT_SCHEME,
    *,
    key: bytes,
    block: int = 8,
    bit_depth: int = 8,
    channel_axis: int | None = None,
    negpos_fraction: float = 0.5,
) -> MaskingScheme:
    """Build a scheme from a name such as ``"shuffle+negpos"`` (steps applied left to right).

    Parameters
    ----------
    spec : str or sequence of str
        ``"block"``, ``"shuffle"``, ``"negpos"`` or any ``+``-joined chain of
        them without repeats; default ``"shuffle+negpos"``.
    key : bytes, keyword-only
        32-byte secret (e.g. ``KeyRing.derive("mask/<dataset>")``); each step
        derives its own sub-key with HKDF-SHA256, ``info=b"medseal/mask/<step>"``.
    block, bit_depth, channel_axis, negpos_fraction : keyword-only
        See :class:`MaskingScheme` and :class:`NegativePositive`.

    Examples
    --------
    >>> import numpy as np
    >>> scheme = make_scheme("shuffle+negpos", key=bytes(range(32)), block=4)
    >>> x = np.arange(64, dtype=np.uint8).reshape(8, 8)
    >>> bool((scheme.unmask(scheme.mask(x)) == x).all())
    True
    """
    parts = spec.split("+") if isinstance(spec, str) else list(spec)
    kinds: list[MaskKind] = []
    for part in parts:
        try:
            kind = MaskKind(str(part).strip().lower())
        except ValueError:
            valid = ", ".join(k.value for k in MaskKind)
            raise InputError(f"unknown masking step {str(part)!r}; choose from {valid}") from None
        if kind in kinds:
            raise InputError(f"masking step {kind.value!r} appears twice in {spec!r}")
        kinds.append(kind)
    if not kinds:
        raise InputError("empty masking scheme")
    common: dict[str, Any] = {
        "key": key,
        "block": block,
        "bit_depth": bit_depth,
        "channel_axis": channel_axis,
    }
    built: list[MaskingScheme] = [
        NegativePositive(**common, fraction=negpos_fraction)
        if kind is MaskKind.NEGPOS
        else _CLASSES[kind](**common)
        for kind in kinds
    ]
    return built[0] if len(built) == 1 else Compose(built)
