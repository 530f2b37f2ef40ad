"""The figures of the seed-000 report page, drawn with matplotlib (Agg) as base64 PNGs.

Where it sits: under :mod:`medseal.evaluate.report`, which embeds them, so
the page opens anywhere without its neighbours.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from medseal.evaluate.metrics import roc_curve  # noqa: E402

__all__ = ["gallery_figure", "inverse_figure", "roc_figure"]


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def roc_figure(result: Mapping[str, Any]) -> str | None:
    arrays = result.get("_arrays", {})
    y, probs = arrays.get("labels"), arrays.get("probs")
    if y is None or not probs:
        return None
    if any(np.asarray(p).ndim == 2 for p in probs.values()):
        return None  # multi-class: macro AUC, no single ROC curve
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    names = {
        "plain": "plaintext ResNet-18",
        "masked": "Masked-CNN (masked)",
        "aes": "AES ciphertext control",
    }
    for key, p in probs.items():
        fpr, tpr, _ = roc_curve(y, p)
        r = result["results"][key]
        ax.plot(
            fpr,
            tpr,
            label=f"{names.get(key, key)}: {r['auc']:.3f} [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}]",
        )
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("ROC, test split (AUC, bootstrap 95% CI)", fontsize=9)
    return _png(fig)


def gallery_figure(result: Mapping[str, Any]) -> str | None:
    gallery: dict[str, np.ndarray] = result.get("_arrays", {}).get("gallery", {})
    if not gallery:
        return None
    cols = list(gallery)
    rows = min(len(v) for v in gallery.values())
    if rows == 0:
        return None
    fig, axes = plt.subplots(rows, len(cols), figsize=(1.35 * len(cols), 1.4 * rows), squeeze=False)
    for j, name in enumerate(cols):
        for i in range(rows):
            ax = axes[i][j]
            ax.imshow(gallery[name][i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name.replace("_", "\n"), fontsize=7)
    return _png(fig)


def inverse_figure(result: Mapping[str, Any]) -> str | None:
    inv = result.get("attacks", {}).get("learned_inverse")
    if not inv:
        return None
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    for rep, rows in inv.items():
        if rows:
            ax.plot(
                [r["n_pairs"] for r in rows],
                [r["ssim"] for r in rows],
                "o-",
                label=f"decoder on {rep}",
            )
    ax.axhline(
        result["attacks"].get("mean_image_ssim", np.nan),
        color="k",
        ls=":",
        lw=0.8,
        label="mean training image",
    )
    ax.set_xscale("log")
    ax.set_xlabel("known pairs N")
    ax.set_ylabel("SSIM(reconstruction, truth)")
    ax.set_ylim(-0.05, 1.02)
    ax.legend(fontsize=7)
    ax.set_title("Learned inverse vs number of known pairs", fontsize=9)
    return _png(fig)
