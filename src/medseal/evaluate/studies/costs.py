"""The cost step of a study: inference latency and storage per image.

Where it sits: evaluate stage, shared by the studies.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from medseal import codec
from medseal.crypto import sealed_size
from medseal.models.inference import predict_proba, torch_threads
from medseal.types import Image

__all__ = ["latency", "storage"]


def latency(
    model: torch.nn.Module, x: np.ndarray, threads: int, n_single: int = 32
) -> dict[str, float]:
    """Batched ms/image with ``threads`` threads; single-image ms (median) with one thread.

    One image is too little work to split: a second thread only adds
    synchronisation, which on a busy machine costs 10x more than the convolution.
    """
    with torch_threads(threads):
        predict_proba(model, x[:64])  # warm up
        t = time.perf_counter()
        predict_proba(model, x)
        batched = (time.perf_counter() - t) / max(len(x), 1) * 1000
    singles = []
    with torch_threads(1):
        predict_proba(model, x[:1])
        for i in range(min(n_single, len(x))):
            t = time.perf_counter()
            predict_proba(model, x[i : i + 1])
            singles.append((time.perf_counter() - t) * 1000)
    return {
        "batched_ms": batched,
        "single_ms": float(np.median(singles)) if singles else float("nan"),
    }


def _j2k_bytes(a: np.ndarray) -> tuple[int, int]:
    """Lossless classic JPEG 2000 size of one ``uint8`` image, and its sealed packed size."""
    enc = codec.encode(
        Image(pixels=np.ascontiguousarray(a), bits_stored=8), codec="j2k", lossless=True
    )
    return enc.nbytes, sealed_size(len(codec.pack(enc)))


def storage(x: np.ndarray, masked: np.ndarray, n: int) -> dict[str, float]:
    """Bytes per image: raw, J2K lossless, sealed J2K (AES-256-GCM), and J2K of masked images.

    Classic JPEG 2000 (Part 1) by name, the codec the seed measures, whatever the
    vault's default codec is.
    """
    raw = j2k = sealed = j2k_masked = 0
    for a, m in zip(x[:n], masked[:n], strict=True):
        size, sealed_one = _j2k_bytes(a)
        raw += a.nbytes
        j2k += size
        sealed += sealed_one
        j2k_masked += _j2k_bytes(m)[0]
    k = max(min(n, len(x)), 1)
    out = {
        "raw_bytes": raw / k,
        "j2k_bytes": j2k / k,
        "sealed_j2k_bytes": sealed / k,
        "masked_j2k_bytes": j2k_masked / k,
        "n": k,
    }
    out["sealed_over_j2k"] = out["sealed_j2k_bytes"] / out["j2k_bytes"] - 1
    out["sealed_over_raw"] = out["sealed_j2k_bytes"] / out["raw_bytes"] - 1
    out["masked_j2k_over_j2k"] = out["masked_j2k_bytes"] / out["j2k_bytes"] - 1
    return out
