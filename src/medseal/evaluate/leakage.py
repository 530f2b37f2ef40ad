"""How much of a plaintext image shows through a protected representation.

Where it sits: evaluate stage. Each function compares a plaintext image with
another representation of it (AES ciphertext bytes, a masked image, an
attack's reconstruction), all ``uint8`` ``(H, W)`` or batches ``(N, H, W)``.

- **SSIM** and **PSNR**: :func:`skimage.metrics.structural_similarity` and
  :func:`skimage.metrics.peak_signal_noise_ratio` with ``data_range=255``.
- **NPCR / UACI** (Wu, Noonan, Agaian 2011): share of differing pixels and
  mean absolute difference over 255, in percent. For two independent uniform
  8-bit images the expected values are 99.6094 % and 33.4635 %.
- **Entropy**: Shannon entropy of the 256-bin histogram (8 bits is the maximum).
- **pHash distance**: Hamming distance of the 64-bit DCT perceptual hashes of
  :mod:`imagehash`; independent images give about 32, identical ones 0, and
  imagehash's own rule of thumb calls <= 10 "similar".

These are the metrics seed 000 quotes. None of them is a proof of privacy:
a masked image can have SSIM near 0 with its plaintext and still be inverted
exactly (see ``evaluate/attacks``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import imagehash
import numpy as np
from PIL import Image as PILImage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from medseal.errors import InputError

__all__ = [
    "NPCR_RANDOM",
    "UACI_RANDOM",
    "compare",
    "entropy",
    "npcr",
    "phash_distance",
    "psnr",
    "ssim",
    "uaci",
]

#: expected NPCR / UACI (%) of two independent uniform 8-bit images
NPCR_RANDOM = 100.0 * (1 - 1 / 256)
UACI_RANDOM = 100.0 * (257 / (3 * 256))


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise InputError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise InputError(f"leakage metrics take uint8 images, got {a.dtype} and {b.dtype}")
    return a, b


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two ``uint8`` images (scikit-image, ``data_range=255``)."""
    a, b = _pair(a, b)
    win = min(7, *a.shape[-2:])
    win -= 1 - win % 2  # odd window for tiny images
    return float(structural_similarity(a, b, data_range=255, win_size=win))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB (``inf`` for identical images)."""
    a, b = _pair(a, b)
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=255))


def npcr(a: np.ndarray, b: np.ndarray) -> float:
    """Number of pixels change rate, in percent."""
    a, b = _pair(a, b)
    return float(100.0 * np.mean(a != b))


def uaci(a: np.ndarray, b: np.ndarray) -> float:
    """Unified average changing intensity, in percent."""
    a, b = _pair(a, b)
    return float(100.0 * np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))) / 255.0)


def entropy(x: np.ndarray) -> float:
    """Shannon entropy (bits) of the 256-bin histogram of a ``uint8`` image."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise InputError(f"entropy takes uint8 images, got {x.dtype}")
    counts = np.bincount(x.ravel(), minlength=256).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def phash_distance(a: np.ndarray, b: np.ndarray) -> int:
    """Hamming distance between the 64-bit perceptual hashes (imagehash.phash)."""
    a, b = _pair(a, b)
    ha = imagehash.phash(PILImage.fromarray(a))
    hb = imagehash.phash(PILImage.fromarray(b))
    return int(ha - hb)


_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "ssim": ssim,
    "psnr": psnr,
    "npcr": npcr,
    "uaci": uaci,
    "phash": phash_distance,
}


def compare(plain: np.ndarray, other: np.ndarray, *, limit: int | None = None) -> dict[str, Any]:
    """Mean (and max for SSIM) of every metric over a batch of image pairs.

    Parameters
    ----------
    plain, other
        ``uint8`` ``(N, H, W)`` (or one ``(H, W)`` pair).
    limit
        Use only the first ``limit`` pairs.

    Returns
    -------
    dict
        ``ssim``, ``ssim_max``, ``psnr`` (finite values only), ``npcr``, ``uaci``,
        ``phash`` (mean Hamming distance), ``phash_min``, ``entropy_plain``,
        ``entropy_other``, ``n``.
    """
    a, b = _pair(plain, other)
    if a.ndim == 2:
        a, b = a[None], b[None]
    if limit is not None:
        a, b = a[:limit], b[:limit]
    rows = {
        name: np.array([f(x, y) for x, y in zip(a, b, strict=True)], dtype=np.float64)
        for name, f in _METRICS.items()
    }
    finite = rows["psnr"][np.isfinite(rows["psnr"])]
    return {
        "ssim": float(rows["ssim"].mean()),
        "ssim_max": float(rows["ssim"].max()),
        "psnr": float(finite.mean()) if len(finite) else float("inf"),
        "npcr": float(rows["npcr"].mean()),
        "uaci": float(rows["uaci"].mean()),
        "phash": float(rows["phash"].mean()),
        "phash_min": float(rows["phash"].min()),
        "entropy_plain": float(np.mean([entropy(x) for x in a])),
        "entropy_other": float(np.mean([entropy(y) for y in b])),
        "n": int(len(a)),
    }
