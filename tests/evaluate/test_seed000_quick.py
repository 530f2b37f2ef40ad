"""`evaluate seed000` end to end on a few dozen embedded images (seconds, not minutes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medseal.errors import InputError
from medseal.evaluate.report import write_report
from medseal.evaluate.seed000 import Seed000Config, run_seed000

TINY = {
    "data": "embedded",
    "limit": 16,
    "epochs": 1,
    "aes_epochs": 1,
    "n_boot": 50,
    "attack_images": 6,
    "kpa_pairs": (1,),
    "inverse_pairs": (1, 4),
    "wrong_keys": 2,
    "gallery": 2,
    "threads": 1,
    "baseline_width": 4,
    "masked_width": 4,
    "latency_images": 4,
    "jobs": 1,
}


def test_seed000_tiny_end_to_end_over_two_seeds(tmp_path) -> None:
    lines: list[str] = []
    result = run_seed000(Seed000Config(seeds=(0, 1), **TINY), say=lines.append)
    assert result["dataset"]["sizes"] == {"train": 16, "val": 16, "test": 16}
    assert result["dataset"]["name"] == "embedded"
    for name in ("plain", "masked", "aes"):
        r = result["results"][name]
        assert 0 <= r["auc"] <= 1 and r["auc_ci"][0] <= r["auc"] <= r["auc_ci"][1]
        assert 0 < r["majority_rate"] <= 1
    comp = result["results"]["mean_over_seeds"]
    assert comp["n_seeds"] == 2 and len(result["results"]["per_seed"]) == 2
    assert comp["gap"]["ci"][0] <= comp["gap"]["ci"][1]
    # the default: key-free augmentation, so the analyst's views give nothing
    views = result["attacks"]["views"]
    assert views["n_views"] == 1 and not views["above_chance"] and not views["key_exact"]
    assert "mid-grey" in result["augmentation"]["masked"]
    assert result["augmentation"]["plain"] == result["augmentation"]["masked"]
    goal = next(g for g in result["goals"] if g["name"] == "masked_within_margin")
    assert goal["verdict"] in ("met", "missed", "inconclusive")
    assert result["protocol"]["test_reads"].startswith("once per model")
    assert "aes (seed 0)" in result["training"] and "aes (seed 1)" not in result["training"]
    km = result["attacks"]["key_mismatch"]["wrong_key"]
    assert km["n_keys"] == 2 and km["information"] >= 0.5 and len(km["information_ci"]) == 2
    kpa = result["attacks"]["known_plaintext"]["rows"][0]
    assert kpa["key_exact"] and kpa["pixel_exact"] == 1.0
    assert len(result["claims"]) == 7 and any("AES" in line for line in lines)
    html_path, json_path = write_report(result, tmp_path)
    page = html_path.read_text()
    assert "Goals and verdicts" in page and "Views attack" in page and "majority" in page
    doc = json.loads(json_path.read_text())
    assert "_arrays" not in doc and doc["results"]["masked"]["n"] == 16
    assert not np.isnan(doc["results"]["masked_minus_plain"]["diff"])


def test_owner_views_are_fenced_and_the_report_shows_they_give_the_key(tmp_path) -> None:
    with pytest.raises(InputError, match="allow_key_leak"):
        run_seed000(Seed000Config(masked_augment="owner", **TINY))
    with pytest.raises(InputError, match="masked_augment"):
        run_seed000(Seed000Config(masked_augment="rotate", **TINY))
    result = run_seed000(Seed000Config(masked_augment="owner", allow_key_leak=True, **TINY))
    views = result["attacks"]["views"]
    assert views["n_views"] == 25 and views["key_exact"] and views["above_chance"]
    goal = next(g for g in result["goals"] if g["name"] == "masked_within_margin")
    assert goal["verdict"] == "void" and "VOID" in goal["reading"]
    assert "LEAKS THE KEY" in result["augmentation"]["masked"]
    page = write_report(result, tmp_path)[0].read_text()
    assert "plaintext in disguise" in page


def test_owner_views_are_masked_shifted_copies_within_the_memory_cap() -> None:
    from medseal.evaluate.studies.masking.prepare import owner_views as _owner_views
    from medseal.privacy.masking import make_scheme

    x = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    sch = make_scheme("shuffle+negpos", key=bytes(range(32)), block=4, bit_depth=8)
    views, offsets, note = _owner_views(x, sch, Seed000Config())
    assert views.shape == (25, 5, 28, 28) and "25" in note and offsets[12] == (0, 0)
    np.testing.assert_array_equal(views[12], sch.mask(x))  # offset (0, 0)
    np.testing.assert_array_equal(views[0], sch.mask(np.roll(x, (-2, -2), axis=(1, 2))))
    small, offsets, note = _owner_views(x, sch, Seed000Config(max_view_bytes=3 * x.nbytes))
    assert small.shape[0] == 3 and len(offsets) == 3 and "3 cyclically" in note


def test_the_cli_refuses_bad_seeds_and_owner_views_without_the_flag(tmp_path) -> None:
    import typer
    from typer.testing import CliRunner

    from medseal.cli import masked_cmd

    app = typer.Typer()
    masked_cmd.register(app)
    base = ["evaluate", "seed000", "--data", "embedded", "--out", str(tmp_path)]
    r = CliRunner().invoke(app, [*base, "--seeds", "0,x"])
    assert r.exit_code != 0 and "--seeds" in str(r.exception)
    r = CliRunner().invoke(app, [*base, "--masked-augment", "owner", "--limit", "4"])
    assert r.exit_code != 0 and "allow_key_leak" in str(r.exception)


def test_training_in_two_worker_processes_gives_the_same_figures_as_in_process() -> None:
    inline = run_seed000(Seed000Config(seeds=(0, 1), **TINY))
    pooled = run_seed000(Seed000Config(seeds=(0, 1), **{**TINY, "jobs": 2}))
    for name in ("plain", "masked", "aes"):
        np.testing.assert_array_equal(
            inline["_arrays"]["probs"][name], pooled["_arrays"]["probs"][name]
        )
    for a, b in zip(inline["results"]["per_seed"], pooled["results"]["per_seed"], strict=True):
        assert a["plain"]["auc"] == b["plain"]["auc"] and a["masked"]["auc"] == b["masked"]["auc"]
    assert inline["training"].keys() == pooled["training"].keys()
    assert pooled["environment"]["jobs"] == 2
