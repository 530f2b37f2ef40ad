"""Sequences built from the real shipped data sets (NIH follow-ups, BreaKHis, COVID-19-NY-SBU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medseal.config import shared_data_dir
from medseal.ingest.datasets import breakhis, nih, tcia
from medseal.models.sequences import (
    breakhis_magnification_sequences,
    covid_ct_pairs,
    load_sequences,
    nih_followup_sequences,
    synthetic_sequences,
)


def _data(name: str) -> Path:
    base = shared_data_dir()
    if base is None or not (base / name).is_dir():
        pytest.skip(f"shared data set {name} not available")
    return base / name


def test_nih_followup_sequences() -> None:
    recs = nih.load(_data("nih-chestxray14-subset"))
    seqs = nih_followup_sequences(recs, length=3, size=16, max_windows=8)
    assert seqs.x.shape[1:] == (3, 1, 16, 16)
    assert seqs.x.dtype == np.float64 and seqs.x.min() >= 0.0 and seqs.x.max() <= 1.0
    assert len(set(seqs.groups)) == 136  # patients with >= 2 images (SOURCE.md)
    assert seqs.meta["padded"] == 49  # the 49 patients with exactly 2 images
    by_key = {r.key: r for r in recs}
    for keys, label, group in zip(seqs.keys, seqs.y, seqs.groups, strict=True):
        frames = [by_key[k] for k in keys]
        assert {r.patient_id for r in frames} == {group}
        follow = [int(r.meta["follow_up"]) for r in frames]
        assert follow == sorted(follow)  # time order
        assert label == frames[-1].label  # label of the last study
    per_patient = np.unique(seqs.groups, return_counts=True)[1]
    assert per_patient.max() == 8
    anyrule = nih_followup_sequences(recs, length=3, size=8, label="any")
    assert anyrule.y.sum() >= nih_followup_sequences(recs, length=3, size=8).y.sum()


def test_breakhis_magnification_series() -> None:
    seqs = breakhis_magnification_sequences(breakhis.load(_data("breakhis-sample")), size=16)
    assert seqs.x.shape[1:] == (4, 1, 16, 16)
    i = seqs.groups.index("14-25197")  # the slide present at all four magnifications
    assert [k.split("-")[-2] for k in seqs.keys[i]] == ["40", "100", "200", "400"]
    assert len(set(seqs.keys[i])) == 4 and seqs.y[i] == 0
    assert set(seqs.y.tolist()) == {0, 1}


def test_covid_ct_pairs_are_unlabelled_time_pairs() -> None:
    recs = tcia.load(_data("covid19-ny-sbu-ct-followup"))
    seqs = covid_ct_pairs(recs, plane="axial", size=16)
    assert seqs.x.shape == (10, 2, 1, 16, 16)
    assert (seqs.y == -1).all() and not seqs.labelled
    by_key = {r.key: r for r in recs}
    for keys in seqs.keys:
        assert [by_key[k].meta["study_index"] for k in keys] == [0, 1]


def test_load_sequences_by_name_and_synthetic() -> None:
    base = shared_data_dir()
    if base is None:
        pytest.skip("shared data not available")
    assert load_sequences("breakhis", base, size=8).x.shape[3] == 8
    syn = synthetic_sequences(10, size=8, length=2)
    assert syn.x.shape == (10, 2, 1, 8, 8) and syn.labelled
    with pytest.raises(ValueError, match="unknown sequence data set"):
        load_sequences("mnist", base)
