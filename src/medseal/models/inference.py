"""Using a trained network: predict probabilities, save and load it, set torch threads.

Where it sits: models stage, beside :mod:`medseal.models.train` (which
trains); the evaluation studies and the vault prediction workflow call these.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medseal.errors import InputError
from medseal.models.arrays import to_tensor

__all__ = ["load_model", "predict_proba", "save_model", "torch_threads"]


@contextmanager
def torch_threads(n: int | None) -> Any:
    """Use ``n`` torch threads inside the block (``None``: leave as is)."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return out.squeeze(1) if out.shape[1] == 1 else out


@torch.no_grad()
def predict_proba(
    model: nn.Module, x: np.ndarray, *, batch_size: int = 256, threads: int | None = None
) -> np.ndarray:
    """Probability of class 1 for ``uint8`` images ``(N, H, W)``; ``(N, K)`` softmax for ``K`` outputs."""
    with torch_threads(threads):
        model.eval()
        dev = next(model.parameters()).device
        xt = to_tensor(x)
        out = []
        for i in range(0, len(xt), batch_size):
            z = _logits(model, xt[i : i + batch_size].to(dev))
            out.append((torch.softmax(z, 1) if z.ndim == 2 else torch.sigmoid(z)).cpu())
        return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)


def save_model(model: nn.Module, directory: str | os.PathLike[str], info: dict[str, Any]) -> Path:
    """Write ``model.pt`` (weights only) and ``model.json`` (architecture + ``info``).

    ``info`` must not hold keys or pixels: it is meant to carry the masking
    scheme's ``describe()`` (a key fingerprint), metrics and the training record.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise InputError("only medseal networks (with a .config dict) can be saved")
    torch.save(model.state_dict(), out / "model.pt")
    doc = {"format": "medseal-model", "version": 1, "network": config, **info}
    (out / "model.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return out


def load_model(directory: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a network saved by :func:`save_model`; returns it (eval mode) and its JSON."""
    from medseal.models.nets import build

    src = Path(directory)
    try:
        doc = json.loads((src / "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"no readable model at {src}: {type(exc).__name__}") from None
    if doc.get("format") != "medseal-model":
        raise InputError(f"{src} does not hold a medseal model")
    model = build(dict(doc["network"]))
    state = torch.load(src / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model, doc
