"""Key-free augmentation that commutes with in-block masking: what an analyst may do alone.

Where it sits: privacy stage, beside the schemes. An analyst who holds only
masked images (and no key) can still augment them, provided the map ``a``
commutes with the masking: ``mask(a(x)) = a'(mask(x))`` where ``a'`` is of the
same family (same law). Then training on ``a(mask(x))`` is training on the
masking of augmented plaintext, and no copy made by the key holder is needed.
For ``shuffle``, ``negpos`` and ``shuffle+negpos`` (one permutation and one set
of flips ``v -> 255 - v`` applied inside every block) these qualify:

- **pointwise maps symmetric about mid-grey**, ``f(255 - v) = 255 - f(v)``:
  they commute with any permutation of pixels and with every flip, exactly.
  Here a per-image contrast factor and a symmetric gamma on ``|2v - 255|``,
  rounded to the nearest odd value of ``2v - 255`` so the symmetry is exact
  in ``uint8`` (:meth:`KeyFreeAugment.lut`);
- **additive noise symmetric in law** (rounded Gaussian, then clipped to
  ``[0, 255]``): ``mask(clip(x + n)) = clip(mask(x) + n')`` with ``n'`` the noise
  permuted and negated at flipped positions, which has the law of ``n``;
- **mixup of two images masked under the same key**: the masking is affine
  per position (``v`` or ``1 - v`` after scaling to ``[0, 1]``), so
  ``mask(l a + (1 - l) b) = l mask(a) + (1 - l) mask(b)``;
- **whole-block cyclic shifts** (multiples of the block): blocks move whole,
  and the same in-block transform applies to every block. Not with block
  scrambling (``block``), whose order is tied to block positions.

Nothing here needs or touches a key; the same maps (same laws) are given to
the plaintext baseline, so the comparison is fair. The tests prove each
commutation (``tests/privacy/test_masking_augment.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from medseal.errors import InputError

__all__ = ["KeyFreeAugment", "mixup_pairs", "symmetric_lut"]


def symmetric_lut(contrast: float, gamma: float) -> np.ndarray:
    """A ``uint8`` look-up table ``f`` with ``f[255 - v] = 255 - f[v]`` exactly.

    ``d = 2v - 255`` (an odd number in ``[-255, 255]``) maps to the odd number
    nearest ``sign(d) * 255 * min(1, contrast * (|d| / 255) ** gamma)``.
    ``contrast = gamma = 1`` gives the identity.
    """
    if not (contrast > 0 and gamma > 0):
        raise InputError("contrast and gamma must be > 0")
    v = np.arange(256, dtype=np.int64)
    d = 2 * v - 255
    a = np.abs(d) / 255.0
    r = 255.0 * np.minimum(1.0, contrast * a**gamma)
    odd = np.clip(2 * np.floor(r / 2.0) + 1, 1, 255).astype(np.int64)
    out = (np.sign(d) * odd + 255) // 2
    return out.astype(np.uint8)


def mixup_pairs(n: int, alpha: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Partner index and weight ``l`` (Beta(alpha, alpha), folded to ``l >= 0.5``) per sample."""
    partner = rng.permutation(n)
    lam = rng.beta(alpha, alpha, size=n)
    return partner, np.maximum(lam, 1.0 - lam)


@dataclass(frozen=True)
class KeyFreeAugment:
    """Random key-free maps applied to each training image (see the module docstring).

    Parameters
    ----------
    shift, shift_step
        Cyclic shifts by random multiples of ``shift_step`` up to ``shift`` pixels
        in each axis; with ``shift_step`` = the block size they commute with
        ``shuffle``/``negpos``.
    contrast
        Contrast factor drawn uniformly from ``[1 - contrast, 1 + contrast]``.
    gamma
        Gamma ``exp(U(-gamma, gamma))`` on the distance from mid-grey.
    noise
        Standard deviation (grey levels) of rounded Gaussian noise; 0 = none.
    mixup
        Beta parameter of mixup (0 = none); applied to batches by the training
        loop (:func:`mixup_pairs`), labels mixed alike.
    """

    shift: int = 0
    shift_step: int = 1
    contrast: float = 0.0
    gamma: float = 0.0
    noise: float = 0.0
    mixup: float = 0.0

    def __post_init__(self) -> None:
        if self.shift < 0 or self.shift_step < 1:
            raise InputError("shift must be >= 0 and shift_step >= 1")
        if not (0 <= self.contrast < 1) or self.gamma < 0 or self.noise < 0 or self.mixup < 0:
            raise InputError("need 0 <= contrast < 1 and gamma, noise, mixup >= 0")

    @property
    def active(self) -> bool:
        return bool(
            self.shift >= self.shift_step or self.contrast or self.gamma or self.noise or self.mixup
        )

    def for_steps(self, steps: Sequence[str]) -> KeyFreeAugment:
        """The part of this augmentation that commutes with a scheme of these steps.

        Whole-block shifts do not commute with block scrambling and are dropped
        for it; the pointwise maps, noise and mixup commute with every step.
        """
        if "block" in steps and self.shift:
            return replace(self, shift=0)
        return self

    def describe(self) -> str:
        parts = []
        if self.shift >= self.shift_step:
            parts.append(
                f"cyclic shifts by multiples of {self.shift_step} px up to {self.shift} px"
            )
        if self.contrast or self.gamma:
            parts.append(
                f"mid-grey-symmetric intensity map (contrast ±{self.contrast:g}, gamma e^±{self.gamma:g})"
            )
        if self.noise:
            parts.append(f"symmetric Gaussian noise (sd {self.noise:g} grey levels)")
        if self.mixup:
            parts.append(f"mixup (Beta({self.mixup:g}, {self.mixup:g}))")
        return "; ".join(parts) if parts else "none"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    # -- the maps ----------------------------------------------------------
    def lut(self, rng: np.random.Generator) -> np.ndarray:
        """One random symmetric look-up table (identity when contrast and gamma are 0)."""
        c = 1.0 + rng.uniform(-self.contrast, self.contrast) if self.contrast else 1.0
        g = float(np.exp(rng.uniform(-self.gamma, self.gamma))) if self.gamma else 1.0
        return symmetric_lut(c, g)

    def pointwise(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Per-image random symmetric intensity map, then symmetric noise; ``uint8`` in and out."""
        a = np.asarray(x)
        if a.dtype != np.uint8:
            raise InputError(f"expected uint8 images, got {a.dtype}")
        out = a.copy()
        if self.contrast or self.gamma:
            for i in range(len(out)):
                out[i] = self.lut(rng)[out[i]]
        if self.noise:
            n = np.rint(rng.normal(0.0, self.noise, size=out.shape)).astype(np.int16)
            out = np.clip(out.astype(np.int16) + n, 0, 255).astype(np.uint8)
        return out

    def shifts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, 2)`` random offsets, multiples of ``shift_step`` up to ``shift``."""
        if self.shift < self.shift_step:
            return np.zeros((n, 2), dtype=np.int64)
        k = self.shift // self.shift_step
        return rng.integers(-k, k + 1, size=(n, 2)) * self.shift_step

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Shift, intensity map and noise for a batch ``(N, H, W)`` (or ``(N, C, H, W)``) of ``uint8``."""
        out = self.pointwise(x, rng)
        if self.shift >= self.shift_step:
            offs = self.shifts(len(out), rng)
            for i, (dy, dx) in enumerate(offs):
                if dy or dx:
                    out[i] = np.roll(out[i], (int(dy), int(dx)), axis=(-2, -1))
        return out
