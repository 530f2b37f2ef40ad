"""ResNet-18 for small medical images (28 or 64 px): the plaintext baseline.

Where it sits: models stage. This is the strongest plaintext CNN medseal
trains, the reference a privacy-preserving model is compared against. It is
the ResNet-18 of He et al. (2016) with the usual small-image adaptation used
by MedMNIST v2 (Yang et al., 2023): a 3x3 stride-1 stem without max-pooling,
so a 28 px image keeps enough resolution through the four stages. For 64 px
inputs the stem uses stride 2 (same feature-map sizes as 32 px CIFAR-style
ResNets). ``width`` scales every stage (64 is the original).

References
----------
K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image
Recognition", CVPR 2016.
J. Yang et al., "MedMNIST v2", Scientific Data 10, 41 (2023).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "ResNet18"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 (stages of 2 basic blocks, widths ``w, 2w, 4w, 8w``) for 28-64 px images.

    Parameters
    ----------
    in_channels : int
        1 for grey images.
    num_classes : int
        1 gives one logit for binary tasks (use with ``BCEWithLogitsLoss``).
    width : int
        Channels of the first stage (64 in the original network).
    image_size : int
        Input side; above 32 px the stem has stride 2.

    Notes
    -----
    Inputs are floats in ``[0, 1]``; the network centres them itself
    (``2x - 1``), the same convention as :class:`~medseal.models.nets.masked_cnn.MaskedCNN`.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 1,
        *,
        width: int = 64,
        image_size: int = 28,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        stem_stride = 1 if image_size <= 32 else 2
        self.config = {
            "arch": "resnet18",
            "in_channels": in_channels,
            "num_classes": num_classes,
            "width": width,
            "image_size": image_size,
            "dropout": dropout,
        }
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        widths = [width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        cin = width
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock(cin, w, stride), BasicBlock(w, w, 1)]
            cin = w
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(2.0 * x - 1.0))
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))
