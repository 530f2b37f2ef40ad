"""`evaluate seed000` end to end on a few dozen embedded images (seconds, not minutes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medseal.evaluate.report import write_report
from medseal.evaluate.seed000 import Seed000Config, run_seed000


def test_seed000_tiny_end_to_end(tmp_path) -> None:
    cfg = Seed000Config(
        data="embedded",
        limit=16,
        epochs=1,
        patience=1,
        budget_s=30,
        n_boot=50,
        attack_images=6,
        kpa_pairs=(1,),
        inverse_pairs=(1, 4),
        gallery=2,
        threads=1,
        baseline_width=8,
        masked_width=8,
        latency_images=4,
    )
    lines: list[str] = []
    result = run_seed000(cfg, say=lines.append)
    assert result["dataset"]["sizes"] == {"train": 16, "val": 16, "test": 16}
    for name in ("plain", "masked", "aes"):
        r = result["results"][name]
        assert 0 <= r["auc"] <= 1 and r["auc_ci"][0] <= r["auc"] <= r["auc_ci"][1]
    assert result["leakage"]["aes"]["ssim"] < 0.1
    kpa = result["attacks"]["known_plaintext"]["rows"][0]
    assert kpa["key_exact"] and kpa["pixel_exact"] == 1.0
    assert len(result["claims"]) == 7 and any("AES" in line for line in lines)
    assert result["storage"]["sealed_j2k_bytes"] > result["storage"]["j2k_bytes"]
    html_path, json_path = write_report(result, tmp_path)
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") >= 3 and "Seed 000" in page
    doc = json.loads(json_path.read_text())
    assert "_arrays" not in doc and doc["results"]["masked"]["n"] == 16
    assert not np.isnan(doc["results"]["masked_minus_plain"]["diff"])
    assert doc["augmentation"]["masked"].startswith("owner-side: the key holder masks 25")
    assert "owner-side" in page


def test_owner_views_are_masked_shifted_copies_within_the_memory_cap() -> None:
    from medseal.errors import InputError
    from medseal.evaluate.seed000 import _owner_views
    from medseal.privacy.masking import make_scheme

    x = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    sch = make_scheme("shuffle+negpos", key=bytes(range(32)), block=4, bit_depth=8)
    views, note = _owner_views(x, sch, Seed000Config())
    assert views.shape == (25, 5, 28, 28) and "25" in note
    np.testing.assert_array_equal(views[12], sch.mask(x))  # offset (0, 0)
    np.testing.assert_array_equal(views[0], sch.mask(np.roll(x, (-2, -2), axis=(1, 2))))
    small, note = _owner_views(x, sch, Seed000Config(max_view_bytes=3 * x.nbytes))
    assert small.shape[0] == 3 and "3 cyclically" in note
    with pytest.raises(InputError, match="masked_augment"):
        run_seed000(Seed000Config(data="embedded", limit=4, masked_augment="rotate"))
