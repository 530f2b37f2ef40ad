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

from collections.abc import Sequence
from typing import Any, ClassVar, Required, TypedDict, Unpack

import numpy as np

from medseal.errors import InputError
from medseal.privacy.masking import _arrays, _keys
from medseal.privacy.masking.base import BlockTransform, MaskingScheme
from medseal.privacy.masking.claims import DEFAULT_SCHEME, MaskKind, claims

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


class KeyArgs(TypedDict, total=False):
    """The constructor arguments every keyed step takes (``key`` required)."""

    key: Required[bytes]
    block: int
    bit_depth: int
    channel_axis: int | None
    _image_bound: bool


class _KeyedScheme(MaskingScheme):
    """An elementary scheme holding one 32-byte key (kept private, never shown)."""

    def __init__(self, **args: Unpack[KeyArgs]) -> None:
        super().__init__(
            block=args.get("block", 8),
            bit_depth=args.get("bit_depth", 8),
            channel_axis=args.get("channel_axis"),
        )
        self._key = _keys.check_key(args["key"])
        self._subkey = _keys.derive_key(self._key, self.name)
        self._key_id = _keys.key_id(self._key)
        self._bound = args.get("_image_bound", False)
        self._check()

    def _check(self) -> None:
        """Refuse parameters that would make this step the identity (subclasses)."""

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

    def _parts(self, n_blocks: int, k: int) -> _arrays.Parts:
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

    def _check(self) -> None:
        if self._block == 1:
            raise InputError(
                "block=1 makes the pixel shuffle the identity (a 1x1 block holds one value "
                "per channel, nothing to shuffle); use block >= 2 (default 8)"
            )
        k = self._block * self._block
        if _arrays.is_identity(None, _keys.keyed_permutation(self._subkey, k), None):
            # 1 key in (M*M)! (1 in 24 for block=2): never hand out an unshuffled copy
            raise InputError(
                f"block={self._block}: this key's in-block permutation of {k} values is the "
                "identity; use a larger block (default 8) or another key"
            )

    def _parts(self, n_blocks: int, k: int) -> _arrays.Parts:
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

    def __init__(self, *, fraction: float = 0.5, **args: Unpack[KeyArgs]) -> None:
        if not 0.0 <= float(fraction) <= 1.0:
            raise InputError(f"fraction must lie in [0, 1], got {fraction}")
        self._fraction = float(fraction)
        super().__init__(**args)

    def _check(self) -> None:
        k = self._block * self._block
        flipped = round(self._fraction * k)
        if flipped in (0, k):
            what = (
                f"none of the {k} values of a block (the identity)"
                if flipped == 0
                else f"all {k} values of a block (plain inversion, readable without the key)"
            )
            raise InputError(
                f"fraction={self._fraction} with block={self._block} flips {what}; use "
                "block >= 2 and a fraction in (0, 1) (default 0.5)"
            )

    @property
    def fraction(self) -> float:
        """Share of the positions in a block that are flipped."""
        return self._fraction

    def _options(self) -> dict[str, Any]:
        return {"fraction": self._fraction}

    def _parts(self, n_blocks: int, k: int) -> _arrays.Parts:
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

    def _parts(self, n_blocks: int, k: int) -> _arrays.Parts:
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
