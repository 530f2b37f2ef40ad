"""`--data` names: every MedMNIST 2D set by its real name, the NIH sets and BreaKHis, split by patient."""

from __future__ import annotations

import numpy as np
import pytest

from medseal.errors import InputError
from medseal.models.data import dataset_names, load_dataset


def test_a_medmnist_set_is_labelled_by_its_real_name_with_its_classes(shared_data) -> None:
    d = load_dataset("retinamnist", shared_data)
    assert d.name == "retinamnist" and d.meta["n_classes"] == 5
    assert (len(d.train), len(d.val), len(d.test)) == (1080, 120, 400)
    assert d.train.x.shape[1:] == (28, 28) and "grey" in d.meta["colour"]
    p = load_dataset("pneumoniamnist", shared_data)
    assert p.name == "pneumoniamnist" and p.meta["n_classes"] == 2 and len(p.test) == 624
    assert load_dataset("medmnist", shared_data).name == "pneumoniamnist"


def test_multi_label_and_unknown_sets_are_refused_clearly(shared_data) -> None:
    with pytest.raises(InputError, match="multi-label"):
        load_dataset("chestmnist", shared_data)
    with pytest.raises(InputError, match="retinamnist"):  # the message lists the names
        load_dataset("imagenet", shared_data)
    assert {"bloodmnist", "organamnist", "nih-chestxray14-more", "breakhis"} <= set(dataset_names())


@pytest.mark.parametrize("name", ["nih-chestxray14-more", "breakhis", "nih-chestxray14-pneumonia"])
def test_real_sets_without_official_splits_are_split_by_patient(shared_data, name: str) -> None:
    d = load_dataset(name, shared_data, seed=0)
    assert d.name == name and d.meta["shared_patients"] == 0
    for s in (d.train, d.val, d.test):
        assert set(np.unique(s.y).tolist()) == {0, 1}  # both classes in every split
    n = len(d.train) + len(d.val) + len(d.test)
    assert (
        n
        == {"nih-chestxray14-more": 1030, "breakhis": 798, "nih-chestxray14-pneumonia": 1540}[name]
    )
    size = {"nih-chestxray14-more": 128, "breakhis": 96, "nih-chestxray14-pneumonia": 64}[name]
    assert d.train.x.shape[1:] == (size, size)
    # each image carries its patient, so the evaluation can resample patients
    assert d.test.groups is not None and len(d.test.groups) == len(d.test)
    assert len(np.unique(d.test.groups)) == d.meta["patients"][2]
    sub = d.test.subset([0, 1, 2])
    assert sub.groups is not None and sub.groups.tolist() == d.test.groups[:3].tolist()


def test_medmnist_sets_have_no_patients_and_keep_the_image_bootstrap(shared_data) -> None:
    assert load_dataset("pneumoniamnist", shared_data).test.groups is None
