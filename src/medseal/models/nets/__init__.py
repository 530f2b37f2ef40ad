"""Network architectures, one per file (models stage).

- :class:`ResNet18` (``resnet.py``): the plaintext baseline, ResNet-18 adapted to 28/64 px.
- :class:`MaskedCNN` (``masked_cnn.py``): block-wise first layer for keyed masked images.
- :class:`ConvBiLSTM` (``conv_bilstm.py``): the NumPy sequence network of the MORE study.
- ``he_cnn.py``: the CKKS-friendly CNN (:func:`compile_he` turns it into an ``HEProgram``;
  :func:`save_he_cnn` / :func:`load_he_cnn` store it).

Other modules here hold the NumPy networks of the MORE experiments. The torch
networks are imported lazily, so importing this package does not need torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medseal._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from medseal.models.nets.conv_bilstm import ConvBiLSTM
    from medseal.models.nets.he_cnn import compile_he, load_he_cnn, save_he_cnn
    from medseal.models.nets.masked_cnn import MaskedCNN
    from medseal.models.nets.resnet import BasicBlock, ResNet18

_LAZY = {
    "BasicBlock": "medseal.models.nets.resnet",
    "ResNet18": "medseal.models.nets.resnet",
    "MaskedCNN": "medseal.models.nets.masked_cnn",
    "ConvBiLSTM": "medseal.models.nets.conv_bilstm",
    "compile_he": "medseal.models.nets.he_cnn",
    "load_he_cnn": "medseal.models.nets.he_cnn",
    "save_he_cnn": "medseal.models.nets.he_cnn",
}

__all__ = [
    "BasicBlock",
    "ConvBiLSTM",
    "MaskedCNN",
    "ResNet18",
    "build",
    "compile_he",
    "load_he_cnn",
    "save_he_cnn",
]


__getattr__ = lazy_exports(__name__, _LAZY)


def build(config: dict[str, Any]) -> torch.nn.Module:
    """Rebuild a torch network from its ``config`` dict (as saved next to its weights)."""
    from medseal.errors import InputError
    from medseal.models.nets.masked_cnn import MaskedCNN
    from medseal.models.nets.resnet import ResNet18

    cfg = dict(config)
    arch = cfg.pop("arch", None)
    if arch == "masked_cnn":
        return MaskedCNN(int(cfg.pop("block")), **cfg)
    if arch == "resnet18":
        return ResNet18(**cfg)
    raise InputError(f"unknown architecture {arch!r} (known: masked_cnn, resnet18)")
