"""The masking study's options are enums that also take their plain-string spellings."""

from __future__ import annotations

import pytest

from medseal.errors import InputError
from medseal.evaluate.seed000 import Seed000Config
from medseal.evaluate.studies.masking import MaskedAugment, MaskingStudyConfig
from medseal.models.dataset_splits import StudyData, dataset_names
from medseal.models.nets.masked_cnn import MaskedBody
from medseal.models.train import Device


def test_seed000_config_is_the_masking_study_config() -> None:
    assert Seed000Config is MaskingStudyConfig


def test_plain_strings_become_their_enums() -> None:
    cfg = MaskingStudyConfig(data="nih", masked_augment="block", masked_body="grid", device="cpu")
    assert cfg.data is StudyData.NIH_CHESTXRAY14
    assert cfg.masked_augment is MaskedAugment.BLOCK
    assert cfg.masked_body is MaskedBody.GRID and cfg.device is Device.CPU
    assert cfg.masked_augment == "block"  # still compares (and serialises) as its string


@pytest.mark.parametrize(
    ("field", "value"),
    [("masked_augment", "rotate"), ("masked_body", "vit"), ("device", "tpu"), ("data", "mnist")],
)
def test_unknown_options_are_refused_in_one_line(field: str, value: str) -> None:
    with pytest.raises(InputError, match=field if field != "data" else "unknown data set"):
        MaskingStudyConfig(**{field: value})


def test_study_data_names_every_data_set_the_loader_accepts() -> None:
    assert sorted(d.value for d in StudyData) == sorted(dataset_names())
