"""Arrays for training, in one place: splits, the study data sets, an analyst's masked objects.

Where it sits: models stage. The pieces live in :mod:`medseal.models.arrays`
(``Split``, the AES control, tensors), :mod:`medseal.models.dataset_splits`
(the study data sets and their splits) and :mod:`medseal.models.vault_data`
(masked objects of a vault); this module gathers their names.
"""

from __future__ import annotations

from medseal.ingest.grey import to_grey_uint8
from medseal.models.arrays import (
    Split,
    SplitData,
    aes_control,
    mask_split,
    records_to_split,
    split_validation,
    to_tensor,
)
from medseal.models.dataset_splits import dataset_names, load_dataset
from medseal.models.vault_data import load_masked_from_vault

__all__ = [
    "Split",
    "SplitData",
    "aes_control",
    "dataset_names",
    "load_dataset",
    "load_masked_from_vault",
    "mask_split",
    "records_to_split",
    "split_validation",
    "to_grey_uint8",
    "to_tensor",
]
