"""Keyed block-wise masking of images ("learnable image encryption"), privacy stage.

The data owner masks images with a 32-byte key before an analyst or compute
host sees them; a block-wise model (the Masked-CNN) can learn on the masked
images because the in-block transform is the same for every block. These
schemes are obfuscation, not encryption: see ``docs/masking.md`` for what each
one hides and the known attacks.

>>> import numpy as np
>>> from medseal.privacy.masking import make_scheme
>>> scheme = make_scheme("shuffle+negpos", key=bytes(32), block=8, bit_depth=8)
>>> x = np.zeros((2, 64, 64), dtype=np.uint8)
>>> bool((scheme.unmask(scheme.mask(x)) == x).all())
True
"""

from __future__ import annotations

from medseal.privacy.masking._blocks import PadMode, blockify, pad_to_block, unblockify
from medseal.privacy.masking._keys import KEY_SIZE, image_key, key_id
from medseal.privacy.masking.augment import KeyFreeAugment
from medseal.privacy.masking.dataset import MaskingReport, mask_dataset, mask_key_id
from medseal.privacy.masking.descriptor import MaskDescriptor
from medseal.privacy.masking.schemes import (
    DEFAULT_SCHEME,
    BlockScramble,
    BlockTransform,
    Compose,
    MaskingScheme,
    MaskKind,
    NegativePositive,
    PixelShuffle,
    make_scheme,
)
from medseal.privacy.masking.transforms import MaskImage, MaskImaged

__all__ = [
    "DEFAULT_SCHEME",
    "KEY_SIZE",
    "BlockScramble",
    "BlockTransform",
    "Compose",
    "KeyFreeAugment",
    "MaskDescriptor",
    "MaskImage",
    "MaskImaged",
    "MaskKind",
    "MaskingReport",
    "MaskingScheme",
    "NegativePositive",
    "PadMode",
    "PixelShuffle",
    "blockify",
    "image_key",
    "key_id",
    "make_scheme",
    "mask_dataset",
    "mask_key_id",
    "pad_to_block",
    "unblockify",
]
