"""``evaluate seed003`` end to end on small synthetic sequences (the real run is in docs/seed003.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medseal.evaluate.report_seed003 import level_rows, table1_rows
from medseal.evaluate.seed003 import Seed003Config, run_seed003, write_outputs
from medseal.evaluate.sequence_metrics import binary_metrics
from medseal.models.sequences import synthetic_sequences


def test_binary_metrics_by_hand() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    z = np.array([2.0, 1.0, -1.0, -2.0, 0.5, -0.1, -3.0, 3.0])  # pred 1 1 0 0 1 0 0 1
    m = binary_metrics(y, z)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["specificity"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(3 / 4)
    assert 0.5 < m["auc"] <= 1.0


def test_seed003_end_to_end(tmp_path: Path) -> None:
    data = synthetic_sequences(40, size=8, length=3, seed=2)
    cfg = Seed003Config(
        size=8, conv_channels=(2,), hidden=3, max_epochs=3, encrypted_folds=2, lr=1e-2,
        seeds=(0, 1), more_seeds=1, bootstrap=200,
    )  # fmt: skip
    result = run_seed003(cfg, data=data)
    assert set(result["nets"]) == {"conv-bilstm", "cnn", "cnn-lstm"}
    for entry in result["nets"].values():
        # plaintext: 4 folds x 2 seeds; MORE: 2 folds of the first seed only
        assert entry["plain"]["folds"] == 8 and entry["more"]["folds"] == 2
        assert entry["plain"]["seeds"] == [0, 1] and entry["more"]["seeds"] == [0]
        assert len(entry["cost_ratios"]) == 2
        for level in ("image_metrics", "patient_metrics"):
            assert set(entry["plain"][level]) == set(entry["plain"]["metrics"])
        assert set(entry["plain"]["metrics"]) == {
            "accuracy", "precision", "recall", "specificity", "f1", "auc",
        }  # fmt: skip
        eq = entry["equality"]
        assert eq["passed"] and eq["max_abs_weight_diff"] < 1e-8 and eq["all_same_epochs"]
        hist = entry["folds"][0]["more"]["history"]
        assert len(hist["val_loss"]) == entry["folds"][0]["more"]["epochs"]
    pooled = result["pooled"]
    assert pooled["patients"] == 20 and set(pooled["ranking"]) == set(result["nets"])
    for a in pooled["auc"].values():
        assert a["ci"][0] <= a["estimate"] <= a["ci"][1]
    assert len(pooled["differences"]) == 3
    verdicts = {g["name"]: g["verdict"] for g in result["goals"]}
    assert verdicts["more_identical"] == "met"
    assert {"patient_auc_best_net", "more_cost"} <= set(verdicts)
    assert all(v in ("met", "missed", "inconclusive") for v in verdicts.values())
    assert result["attacks"]["eigenvalue_known_range"]["success_rate"] == 1.0
    assert result["attacks"]["known_plaintext"]["success_rate"] == 1.0
    rows = table1_rows(result)
    assert len(rows) == 6 and {r["mode"] for r in rows} == {"plaintext", "MORE ciphertext"}
    paths = write_outputs(result, tmp_path)
    loaded = json.loads(paths["json"].read_text())
    assert loaded["nets"]["cnn"]["params"] == result["nets"]["cnn"]["params"]
    page = paths["html"].read_text()
    assert "Table 1 equivalent" in page and "<svg" in page and "eigenvalue" in page
    assert "Goals (judged from the numbers)" in page and "patient level (sequence vote)" in page
    assert len(level_rows(result)) == 6 * 2  # 3 nets x 2 modes x (image, patient)


def test_goals_are_judged_from_the_numbers() -> None:
    from medseal.evaluate.sequence_metrics import goals as _goals

    nets = {
        "a": {
            "equality": {"max_abs_weight_diff": 3e-9, "all_same_epochs": True},
            "cost_ratios": [{"more_over_plain": 7.0}, {"more_over_plain": 9.0}],
        },
        "b": {
            "equality": {"max_abs_weight_diff": 2e-6, "all_same_epochs": True},
            "cost_ratios": [{"more_over_plain": 11.0}],
        },
    }
    pooled = {
        "ranking": ["a", "b"],
        "auc": {
            "a": {"estimate": 0.95, "ci": [0.91, 0.99]},
            "b": {"estimate": 0.7, "ci": [0.6, 0.8]},
        },
        "differences": {"a - b": {"estimate": 0.25, "ci": [-0.01, 0.4]}},
    }
    v = {g["name"]: g["verdict"] for g in _goals(nets, pooled)}
    assert v == {
        "patient_auc_best_net": "met",
        "more_identical": "missed",  # b's weights are 2e-6 apart
        "more_cost": "inconclusive",  # folds from 7x to 11x straddle 10x
        "rank a - b": "inconclusive",
    }
    nets["b"]["equality"]["max_abs_weight_diff"] = 1e-9
    nets["b"]["cost_ratios"] = [{"more_over_plain": 8.0}]
    pooled["auc"]["a"] = {"estimate": 0.8, "ci": [0.7, 0.89]}
    pooled["differences"]["a - b"]["ci"] = [0.05, 0.4]
    v = {g["name"]: g["verdict"] for g in _goals(nets, pooled)}
    assert v == {
        "patient_auc_best_net": "missed",
        "more_identical": "met",
        "more_cost": "met",
        "rank a - b": "met",
    }


def test_seed003_refuses_unlabelled_data() -> None:
    data = synthetic_sequences(12, size=8)
    data.y[:] = -1
    with pytest.raises(ValueError, match="labels"):
        run_seed003(Seed003Config(size=8), data=data)


def test_inner_split_with_too_few_patients_per_class_is_a_clear_error() -> None:
    from medseal.errors import InputError
    from medseal.models.more_folds import inner_validation_split

    # 8 patients, but only 4 of class 1: a 5-way stratified split cannot be made
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 0])
    groups = [f"p{i}" for i in range(10)]
    with pytest.raises(InputError, match="too few patients per class"):
        inner_validation_split(np.arange(10), y, groups)


def test_breakhis_defaults_train_every_fold_of_the_first_seed_on_more() -> None:
    cfg = Seed003Config.for_dataset("breakhis")
    assert cfg.encrypted_folds is None and cfg.folds == 4 and cfg.more_seeds == 1
    assert (cfg.seeds, cfg.colour, cfg.max_epochs, cfg.length, cfg.size) == ((0, 1, 2), True, 60, 3, 16)
    assert Seed003Config.for_dataset("nih", encrypted_folds=2, max_epochs=None).encrypted_folds == 2
    assert Seed003Config.for_dataset("nih").max_epochs == 100


def test_options_are_enums_that_keep_the_cli_spelling() -> None:
    from medseal.errors import InputError
    from medseal.models.nets.sequence_nets import SequenceNetName
    from medseal.models.sequences import SequenceDataset

    cfg = Seed003Config(dataset="BreaKHis-patients", nets=("cnn", "conv-bilstm"))
    assert cfg.dataset is SequenceDataset.BREAKHIS and cfg.dataset == "breakhis"
    assert cfg.nets == (SequenceNetName.CNN, SequenceNetName.CONV_BILSTM)
    assert json.loads(json.dumps({"d": cfg.dataset, "n": list(cfg.nets)})) == {
        "d": "breakhis", "n": ["cnn", "conv-bilstm"],
    }  # fmt: skip
    with pytest.raises(InputError, match="unknown sequence data set"):
        Seed003Config(dataset="mnist")
    with pytest.raises(InputError, match="unknown network"):
        Seed003Config(nets=("resnet",))
