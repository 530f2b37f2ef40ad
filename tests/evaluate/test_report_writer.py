"""The one report writer: both studies' results (and the modes table) go through one page shell and one JSON writer."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from medseal.errors import InputError
from medseal.evaluate.metrics import stratified_bootstrap_aucs
from medseal.evaluate.report import Study, render_html, study_of, write_json, write_report
from medseal.evaluate.report_modes import Mode, ModeRow, modes_html
from medseal.models.dataset_splits import StudyData, parse_named
from medseal.models.sequences import SequenceDataset


def _sequence_result() -> dict:
    return {"seed": "003", "title": "t", "nets": {}, "data": {"name": "synthetic"}, "goals": []}


def _style(page: str) -> str:
    found = re.search(r"<style>(.*?)</style>", page)
    assert found is not None
    return found.group(1)


def test_a_sequence_study_result_is_recognised_and_rendered_by_the_one_writer(tmp_path):
    result = _sequence_result()
    assert study_of(result) is Study.SEQUENCES
    assert study_of({"dataset": {}}) is Study.MASKING
    html_path, json_path = write_report(result, tmp_path)
    assert html_path.name == "seed003.html" and json_path.name == "seed003.json"
    page = html_path.read_text()
    assert page == render_html(result)
    assert "Seed 003 reproduction" in page and page.startswith("<!doctype html>")
    assert json.loads(json_path.read_text()) == result


def test_the_modes_table_uses_the_same_page_shell_as_the_studies():
    row = ModeRow(
        mode=Mode.MORE, dataset="d", model="m", auc=0.5, auc_ci=None, plain_auc=0.5,
        ms_per_unit=1.0, unit="seq", plain_ms_per_unit=1.0, bytes_per_unit=None,
        security="none", attack="eigenvalue", attack_result="1.0", broken=True,
    )  # fmt: skip
    assert _style(modes_html([row])) == _style(render_html(_sequence_result()))


def test_the_json_writer_leaves_out_private_keys_and_writes_numpy_values(tmp_path):
    path = write_json(
        {"a": np.float32(0.5), "b": np.arange(3), "n": np.int64(2), "_arrays": {"x": 1}},
        tmp_path / "r.json",
    )
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1, 2], "n": 2}


def test_the_stratified_patient_bootstrap_ranks_and_pairs_every_score_set():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(12, int), np.zeros(12, int)]
    good, bad = y + rng.normal(0, 0.3, 24), rng.normal(0, 1, 24)
    out = stratified_bootstrap_aucs(y, {"good": good, "bad": bad}, 200, 0)
    assert out["ranking"] == ["good", "bad"]
    lo, hi = out["auc"]["good"]["ci"]
    assert lo <= out["auc"]["good"]["estimate"] <= hi
    d = out["differences"]["good - bad"]
    assert d["estimate"] == pytest.approx(
        out["auc"]["good"]["estimate"] - out["auc"]["bad"]["estimate"]
    )
    assert d["ci"][0] > 0


def test_both_data_set_enums_parse_names_and_aliases_with_one_rule():
    assert StudyData.parse(" NIH ") is parse_named(
        StudyData, "nih", {"nih": "nih-chestxray14"}, "x", []
    )
    assert SequenceDataset.parse("TCIA") is SequenceDataset.COVID19_NY_SBU
    with pytest.raises(InputError, match="unknown sequence data set 'nope'; known: nih"):
        SequenceDataset.parse("nope")
    with pytest.raises(InputError, match="unknown data set 'nope'; known: "):
        StudyData.parse("nope")
