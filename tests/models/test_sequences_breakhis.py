"""BreaKHis per-patient sequences: windows, the duplicate-patient rule, voting, patient-disjoint folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medseal.errors import InputError
from medseal.ingest.datasets import breakhis
from medseal.ingest.records import Record
from medseal.models.more_folds import grouped_folds, inner_validation_split
from medseal.models.sequences import breakhis_patient_sequences, weighted_votes
from medseal.types import Image


def _rec(name: str, value: int) -> Record:
    facts = breakhis.parse_name(name)
    assert facts is not None
    pixels = np.full((8, 8, 3), value, dtype=np.uint8)
    pixels[0, 0, 0] = value // 2  # not flat, still a function of value
    return Record(
        key=name,
        label=int(facts["label"]),
        patient_id=str(facts["slide_id"]),
        split=None,
        meta=facts,
        loader=lambda p=pixels: Image(p.copy(), "RGB", 8),
    )


def test_fields_of_view_are_cut_into_windows_in_image_number_order() -> None:
    recs = [_rec(f"SOB_B_F-14-1-100-{i:03d}.png", 10 * i) for i in (5, 1, 3, 2, 4)]
    seqs = breakhis_patient_sequences(recs, length=3, size=4, kinds=("fov",))
    # 5 images, T = 3: windows 1-2-3 and the last three 3-4-5; every image once or twice
    assert [tuple(k.split("-")[-1][:3] for k in w) for w in seqs.keys] == [
        ("001", "002", "003"),
        ("003", "004", "005"),
    ]
    assert seqs.x.shape == (2, 3, 3, 4, 4) and seqs.groups == ["14-1", "14-1"]
    assert seqs.meta["padded"] == 0 and list(seqs.y) == [0, 0]
    grey = breakhis_patient_sequences(recs, length=3, size=4, kinds=("fov",), colour=False)
    assert grey.x.shape == (2, 3, 1, 4, 4)


def test_across_magnifications_one_image_per_magnification_low_to_high() -> None:
    recs = [
        _rec("SOB_M_MC-14-9-400-001.png", 200),
        _rec("SOB_M_MC-14-9-40-001.png", 40),
        _rec("SOB_M_MC-14-9-40-002.png", 41),
        _rec("SOB_M_MC-14-9-200-001.png", 120),
    ]
    seqs = breakhis_patient_sequences(recs, length=3, size=4, kinds=("magnification",))
    assert len(seqs) == 1  # min count over magnifications is 1
    assert [k.split("-")[3] for k in seqs.keys[0]] == ["40", "200", "400"]
    assert seqs.y[0] == 1 and seqs.meta["magnification"] == [0]
    short = breakhis_patient_sequences(recs[:3], length=3, size=4, kinds=("magnification",))
    assert [k.split("-")[3] for k in short.keys[0]] == ["40", "40", "400"]  # left-padded
    assert short.meta["padded"] == 1


def test_duplicate_patient_rule_one_slide_filed_under_two_subtypes() -> None:
    recs = [
        _rec("SOB_M_DC-14-13412-100-001.png", 10),
        _rec("SOB_M_DC-14-13412-100-002.png", 20),
        _rec("SOB_M_LC-14-13412-100-001.png", 10),  # pixel-identical to the DC file
        _rec("SOB_M_LC-14-13412-100-003.png", 30),
        _rec("SOB_B_A-14-7-100-001.png", 50),
        _rec("SOB_B_A-14-7-100-002.png", 60),
    ]
    seqs = breakhis_patient_sequences(recs, length=2, size=4, kinds=("fov",))
    assert sorted(set(seqs.groups)) == ["14-13412", "14-7"]  # one patient, not two
    assert seqs.meta["patients"] == 2
    assert seqs.meta["dropped_duplicates"] == ["SOB_M_LC-14-13412-100-001.png"]
    used = {k for w in seqs.keys for k in w}
    assert "SOB_M_LC-14-13412-100-001.png" not in used
    assert "SOB_M_LC-14-13412-100-003.png" in used  # distinct LC images stay
    conflicting = [*recs, _rec("SOB_B_A-14-13412-100-009.png", 99)]
    with pytest.raises(InputError, match="both benign and malignant"):
        breakhis_patient_sequences(conflicting, length=2, size=4)


def test_weighted_votes_on_a_hand_made_sequence() -> None:
    keys = [("a", "b", "c"), ("c", "d", "e"), ("f", "f", "g")]
    groups = ["p", "p", "q"]
    logits = [3.0, -1.0, 2.0]
    images, patients = weighted_votes(logits, keys, groups)
    assert images == {"a": 3.0, "b": 3.0, "c": 1.0, "d": -1.0, "e": -1.0, "f": 2.0, "g": 2.0}
    # p: (3 * 3 + 3 * -1) / 6 = 1; q: a padded window (2 distinct images) alone
    assert patients == pytest.approx({"p": 1.0, "q": 2.0})
    # weights matter: a padded window counts for its distinct images only
    _, mixed = weighted_votes([4.0, -2.0], [("x", "x", "y"), ("u", "v", "w")], ["r", "r"])
    assert mixed["r"] == pytest.approx((2 * 4.0 + 3 * -2.0) / 5)
    with pytest.raises(InputError, match="same length"):
        weighted_votes([1.0], keys, groups)


def _shared_breakhis(shared_data: Path) -> Path:
    root = shared_data / "breakhis"
    if not (root / breakhis.NPZ_FILE).is_file():
        pytest.skip("breakhis_96.npz not available")
    return root


def test_real_subset_sequences_per_patient_and_no_patient_in_two_folds(shared_data: Path) -> None:
    recs = breakhis.load(_shared_breakhis(shared_data))
    seqs = breakhis_patient_sequences(recs, length=3, size=8)
    assert seqs.meta["patients"] == 46 and len(set(seqs.groups)) == 46  # 47 folders, 46 slides
    assert seqs.meta["images"] == 798 - 15  # 15 pixel-identical DC/LC pairs kept once
    assert seqs.meta["magnifications"] == [40, 100, 200, 400]
    by_key = {r.key: r for r in recs}
    for window, group, label, kind in zip(
        seqs.keys, seqs.groups, seqs.y, seqs.meta["kind"], strict=True
    ):
        frames = [by_key[k] for k in window]
        assert {r.patient_id for r in frames} == {group}
        assert {r.label for r in frames} == {label}
        mags = [int(r.meta["magnification"]) for r in frames]
        if kind == "fov":
            assert len(set(mags)) == 1
            order = [int(r.meta["seq"]) for r in frames]
            assert order == sorted(order)
        else:
            assert mags == sorted(mags)
    # every kept image is in some window
    assert len({k for w in seqs.keys for k in w}) == 783
    for k, (train, test) in enumerate(grouped_folds(seqs.y, seqs.groups, n_splits=4, seed=0)):
        g = np.asarray(seqs.groups)
        assert not set(g[train]) & set(g[test])
        fit, val = inner_validation_split(train, seqs.y, seqs.groups, seed=k)
        assert not set(g[fit]) & set(g[val])
        assert "14-13412" in set(g[train]) ^ set(g[test])
