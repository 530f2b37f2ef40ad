"""The combined table of privacy modes: each row read from its own study's result."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from conftest import need_tenseal

pytest.importorskip("torch", reason="the studies train torch networks")

from medseal.errors import InputError  # noqa: E402
from medseal.evaluate.report_modes import (  # noqa: E402
    Mode,
    ckks_row,
    masked_row,
    modes_markdown,
    more_row,
    write_modes_report,
)


@pytest.fixture(scope="module")
def seed000_result() -> dict:
    from medseal.evaluate.seed000 import Seed000Config, run_seed000

    cfg = Seed000Config(
        data="embedded", limit=16, epochs=1, aes_epochs=1, n_boot=50, attack_images=6,
        kpa_pairs=(1,), inverse_pairs=(1,), wrong_keys=2, gallery=0, threads=1,
        baseline_width=4, masked_width=4, latency_images=4, jobs=1, seeds=(0,),
    )  # fmt: skip
    return run_seed000(cfg, say=lambda _: None)


@pytest.fixture(scope="module")
def seed003_result() -> dict:
    from medseal.evaluate.seed003 import Seed003Config, run_seed003
    from medseal.models.sequences import synthetic_sequences

    cfg = Seed003Config(
        size=8, conv_channels=(2,), hidden=3, max_epochs=2, encrypted_folds=1, lr=1e-2,
        seeds=(0,), more_seeds=1, bootstrap=50,
    )  # fmt: skip
    return run_seed003(cfg, data=synthetic_sequences(40, size=8, length=3, seed=2))


@pytest.fixture(scope="module")
def he_result() -> dict:
    need_tenseal()
    from medseal.evaluate.he import HEStudyConfig, run_he_study

    cfg = HEStudyConfig(
        data="embedded", channels=1, epochs=1, n_boot=50, limit=24, threads=1, singles=0
    )
    return run_he_study(cfg, say=lambda _: None)


def _save(tmp_path: Path, name: str, doc: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, default=str))
    return path


def test_every_mode_gets_one_row_with_the_figures_its_study_computed(
    tmp_path, seed000_result, seed003_result, he_result
) -> None:
    sources = {
        Mode.MASKED: _save(tmp_path, "seed000.json", seed000_result),
        Mode.MORE: _save(tmp_path, "seed003.json", seed003_result),
        Mode.CKKS: _save(tmp_path, "he.json", he_result),
    }
    rows, paths = write_modes_report(sources, tmp_path / "out")
    assert [r.mode for r in rows] == [Mode.MASKED, Mode.MORE, Mode.CKKS]
    masked, more, ckks = rows

    assert masked.auc == seed000_result["results"]["masked"]["auc"]
    assert masked.plain_auc == seed000_result["results"]["plain"]["auc"]
    lat = seed000_result["latency"]
    assert masked.ms_per_unit == lat["masked"]["batched_ms"] + lat["masking_ms_per_image"]
    assert masked.broken and "100 % of pixels exact" in masked.attack_result

    net = seed003_result["nets"][seed003_result["config"]["nets"][0]]
    assert more.auc == net["more"]["metrics"]["auc"]["mean"] and more.auc_ci is None
    assert more.ms_per_unit == net["more"]["inference_ms_per_sequence"]
    paired = [f["plain"]["metrics"]["auc"] for f in net["folds"] if f.get("more")]
    assert more.plain_auc == pytest.approx(sum(paired) / len(paired))  # the folds MORE ran on
    assert more.unit == "sequence" and more.broken

    assert ckks.auc == he_result["auc"]["encrypted"]["auc"]
    assert ckks.auc_ci == (he_result["auc"]["encrypted"]["lo"], he_result["auc"]["encrypted"]["hi"])
    assert ckks.ms_per_unit == 1e3 * he_result["latency"]["per_image_full_batch_s"]
    assert ckks.bytes_per_unit == he_result["sizes"]["input_bytes_per_image_full_batch"]
    assert ckks.security.startswith("128-bit") and not ckks.broken

    md, page, js = (p.read_text() for p in paths)
    assert md.count("\n| ") == 3 and "| ckks | embedded | HE-CNN |" in md
    assert "<td>more</td>" in page and "Privacy modes side by side" in page
    doc = json.loads(js)
    assert [m["mode"] for m in doc["modes"]] == ["masked", "more", "ckks"]
    assert doc["modes"][2]["cost_ratio"] == pytest.approx(ckks.cost_ratio)


def test_a_row_follows_its_study_when_the_figures_change(seed000_result, he_result) -> None:
    he = copy.deepcopy(he_result)
    he["attacks"][0]["attack_fails"] = False
    he["auc"]["encrypted"]["auc"] = 0.123
    row = ckks_row(he)
    assert row.broken and row.auc == 0.123
    masked = copy.deepcopy(seed000_result)
    for r in masked["attacks"]["known_plaintext"]["rows"]:
        r.update(pixel_exact=0.4, key_exact=False)
    row = masked_row(masked)
    assert not row.broken and "40 % of pixels exact" in row.attack_result
    assert "| masked |" in modes_markdown([row])


def test_a_result_of_another_study_is_refused_with_one_line(
    tmp_path, seed003_result, he_result
) -> None:
    with pytest.raises(InputError, match="not a seed000 result"):
        masked_row(he_result)
    with pytest.raises(InputError, match="not a he result"):
        ckks_row(seed003_result)
    with pytest.raises(InputError, match="no network"):
        more_row(seed003_result, net="resnet")
    with pytest.raises(InputError, match="cannot read the ckks result"):
        write_modes_report({"ckks": tmp_path / "missing.json"}, tmp_path)
    with pytest.raises(InputError, match="no study result"):
        write_modes_report({}, tmp_path)


def test_evaluate_modes_writes_the_table_from_the_study_files(
    tmp_path, capsys, seed000_result, he_result
) -> None:
    from medseal.cli import main

    a = _save(tmp_path, "seed000.json", seed000_result)
    b = _save(tmp_path, "he.json", he_result)
    out = tmp_path / "reports"
    assert main(["evaluate", "modes", "--seed000", str(a), "--he", str(b), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| masked |" in printed and "| ckks |" in printed and "| more |" not in printed
    doc = json.loads((out / "modes.json").read_text())
    assert doc["modes"][1]["auc"] == he_result["auc"]["encrypted"]["auc"]
    assert main(["evaluate", "modes", "-o", str(out)]) == 2  # nothing given: one-line error
