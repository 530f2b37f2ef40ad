"""Masked-CNN: a CNN whose first layer works block by block, for keyed masked images.

Where it sits: models stage, after ``privacy.masking``. The analyst trains and
infers on images masked with :func:`medseal.privacy.masking.make_scheme`
(``shuffle``, ``negpos`` or both) and never sees plaintext.

Why it can learn on masked images: the masking schemes apply *one* in-block
transform (a permutation of the ``M*M*C`` values plus sign flips about the
mid-grey) to every block. The first layer here is a convolution with
``kernel = stride = M`` aligned to the block grid, i.e. a linear map of each
whole block. Composing it with the in-block transform gives another linear map
of the block (its weights permuted and negated), so the set of functions the
network can represent is exactly the same on plain and on masked images:
:meth:`MaskedCNN.for_scheme` builds that twin explicitly, and the tests check
that it gives identical outputs. Everything after the first layer sees a
``H/M x W/M`` grid of block features that keeps the image's layout, so a
standard residual body follows.

Two bodies follow the block layer (``body=``):

- ``"grid"``: two residual stages on the ``H/M x W/M`` grid of block features
  (small and fast; the body never sees sub-block resolution);
- ``"resnet18"``: the block-wise *adaptation network* of Madono et al. The
  block layer maps each block to ``M*M*C`` values (square, orthogonal at
  initialisation), a pixel shuffle puts them back at full resolution, and the
  very :class:`~medseal.models.nets.resnet.ResNet18` of the plaintext baseline
  follows. Its function class contains the plaintext ResNet-18 exactly (the
  block layer can learn the inverse in-block transform), so the masked model is
  no weaker a network than the baseline.

Block *scrambling* (``block`` step) is not absorbed: it moves the block
features around, and the body then sees a bag of blocks (see docs/masking.md).

References
----------
M. Tanaka, "Learnable Image Encryption", ICCE-TW 2018 (block-wise adaptation layer).
K. Madono et al., "Block-wise Scrambled Image Recognition Using Adaptation Network", 2020.
"""

from __future__ import annotations

import copy
from enum import StrEnum

import numpy as np
import torch
from torch import nn

from medseal.errors import InputError
from medseal.models.nets.resnet import BasicBlock, ResNet18

__all__ = ["MaskedBody", "MaskedCNN"]


class MaskedBody(StrEnum):
    """The network behind the block-wise layer of a :class:`MaskedCNN`."""

    GRID = "grid"  # small residual body on the block grid
    RESNET18 = "resnet18"  # adaptation network + the plaintext baseline's ResNet-18


class MaskedCNN(nn.Module):
    """Block-wise first layer (kernel = stride = ``block``) plus a residual CNN body.

    Parameters
    ----------
    block : int
        Block side ``M`` of the masking scheme (the image side must be a multiple).
    in_channels : int
        Channels of the input (1 for grey).
    num_classes : int
        1 gives one logit for binary tasks.
    embed_dim : int or None
        Output channels of the block layer; default ``max(64, 2*M*M*C)`` so the
        block map can be full rank.
    width : int
        Channels of the body. ``grid``: two stages of two basic blocks, the
        second doubling the width after a 2x2 average pool when the grid is 8
        or larger. ``resnet18``: the first stage of the ResNet-18.
    body : {"grid", "resnet18"}
        What follows the block layer (see the module docstring).
    image_size : int
        Input side, used by the ``resnet18`` body (stem stride 2 above 32 px).

    Notes
    -----
    Inputs are floats in ``[0, 1]`` (``uint8 / 255``). They are centred as
    ``2x - 1`` before the block layer, so negative-positive flips
    (``x -> 1 - x``) become exact sign changes the layer absorbs.
    """

    def __init__(
        self,
        block: int,
        in_channels: int = 1,
        num_classes: int = 1,
        *,
        embed_dim: int | None = None,
        width: int = 128,
        dropout: float = 0.0,
        body: MaskedBody | str = MaskedBody.GRID,
        image_size: int = 28,
    ) -> None:
        super().__init__()
        if isinstance(block, bool) or not isinstance(block, int) or block < 1:
            raise InputError(f"block must be a positive integer, got {block!r}")
        if body not in tuple(MaskedBody):
            raise InputError(f"body must be 'grid' or 'resnet18', got {body!r}")
        body = MaskedBody(body).value
        k = block * block * in_channels
        if body == "resnet18":
            if embed_dim is not None and embed_dim % (block * block):
                raise InputError(f"embed_dim must be a multiple of block*block={block * block}")
            embed = embed_dim if embed_dim is not None else k
        else:
            embed = embed_dim if embed_dim is not None else max(64, 2 * k)
        self.block = block
        self.config: dict[str, int | float | str] = {
            "arch": "masked_cnn",
            "block": block,
            "in_channels": in_channels,
            "num_classes": num_classes,
            "embed_dim": embed,
            "width": width,
            "dropout": dropout,
            "body": body,
            "image_size": image_size,
        }
        self.body = body
        self.embed = nn.Conv2d(in_channels, embed, kernel_size=block, stride=block, bias=True)
        if body == "resnet18":
            # adaptation network: block map -> pixel shuffle -> the baseline's ResNet-18
            with torch.no_grad():
                w = torch.empty(embed, k)
                nn.init.orthogonal_(w)
                self.embed.weight.copy_(
                    w.reshape(embed, block, block, in_channels).permute(0, 3, 1, 2)
                )
                assert self.embed.bias is not None
                self.embed.bias.zero_()
            self.unshuffle = nn.PixelShuffle(block)
            self.resnet = ResNet18(
                embed // (block * block),
                num_classes,
                width=width,
                image_size=image_size,
                dropout=dropout,
            )
            return
        self.embed_norm = nn.Sequential(nn.BatchNorm2d(embed), nn.ReLU(inplace=True))
        self.stage1 = nn.Sequential(BasicBlock(embed, width), BasicBlock(width, width))
        self.downsample = nn.AvgPool2d(2, ceil_mode=True)
        self.stage2 = nn.Sequential(BasicBlock(width, 2 * width), BasicBlock(2 * width, 2 * width))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * width, num_classes)

    def _check(self, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        if h % self.block or w % self.block:
            raise InputError(
                f"input shape {tuple(x.shape)} is not a multiple of the block "
                f"({self.block}, {self.block}); mask with pad='edge' first"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        if self.body == "resnet18":
            z = self.unshuffle(self.embed(2.0 * x - 1.0))
            r = self.resnet
            z = r.layers(r.stem(z))
            return r.fc(r.dropout(torch.flatten(r.pool(z), 1)))
        z = self.embed_norm(self.embed(2.0 * x - 1.0))
        z = self.stage1(z)
        if min(z.shape[-2:]) >= 8:  # 64 px / block 8: halve the grid; 28 px / block 4 keeps 7x7
            z = self.downsample(z)
        z = self.stage2(z)
        return self.fc(self.dropout(torch.flatten(self.pool(z), 1)))

    def for_scheme(self, perm: np.ndarray, flip: np.ndarray) -> MaskedCNN:
        """The twin network that gives on *masked* images what this one gives on plain ones.

        Parameters
        ----------
        perm, flip : numpy.ndarray
            The scheme's in-block transform, ``scheme.block_transform(channels)``:
            ``masked[k] = plain[perm[k]]``, negated where ``flip[k]``.

        Returns
        -------
        MaskedCNN
            A deep copy whose block layer weights are permuted and sign-flipped.
        """
        c = int(self.config["in_channels"])  # set from an int in __init__
        k = self.block * self.block * c
        perm = np.asarray(perm)
        flip = np.asarray(flip, dtype=bool)
        if perm.shape != (k,) or flip.shape != (k,):
            raise InputError(
                f"expected perm and flip of shape ({k},), got {perm.shape} and {flip.shape}"
            )
        twin = copy.deepcopy(self)
        with torch.no_grad():
            # weight (D, C, M, M) flattened in (row, col, channel) order like blockify
            w = self.embed.weight.detach().permute(0, 2, 3, 1).reshape(-1, k)
            sign = torch.from_numpy(np.where(flip, -1.0, 1.0)).to(w)
            new = w[:, torch.from_numpy(perm)] * sign
            twin.embed.weight.copy_(new.reshape(-1, self.block, self.block, c).permute(0, 3, 1, 2))
        return twin
