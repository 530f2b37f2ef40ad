"""The encrypted bundle and results folders between MORE client and compute host."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medseal.errors import ConfigError
from medseal.privacy.more import EncryptedBundle, FoldResults, MoreKey
from medseal.privacy.more.bundle import BUNDLE_FILES


def test_a_bundle_written_and_read_back_decrypts_to_the_same_data(tmp_path: Path) -> None:
    key = MoreKey.generate(n=2, seed=3)
    x = np.random.default_rng(0).random((4, 2, 1, 4, 4))
    y = np.array([0.0, 1.0, 1.0, 0.0])
    index = {"dataset": "toy", "shape": list(x.shape), "folds": [{"fit": [0, 1], "val": [2],
             "test": [3]}], "groups": ["a", "b", "c", "d"], "seed": 0}  # fmt: skip
    EncryptedBundle(key.public_context(), key.encrypt(x), key.encrypt(y), index).write(tmp_path)
    back = EncryptedBundle.read(tmp_path)
    assert back.context == key.public_context() and back.index == index
    assert back.shape == list(x.shape) and back.folds == index["folds"]
    np.testing.assert_allclose(key.decrypt(back.x), x, atol=1e-12)
    np.testing.assert_allclose(key.decrypt(back.y), y, atol=1e-12)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(BUNDLE_FILES)
    (tmp_path / "folds.json").unlink()
    with pytest.raises(ConfigError, match="missing folds.json"):
        EncryptedBundle.read(tmp_path)


def test_fold_results_keep_weights_and_logits_apart(tmp_path: Path) -> None:
    key = MoreKey.generate(n=2, seed=4)
    store = FoldResults(tmp_path / "results")
    w = {"conv0.w": key.encrypt(np.ones((2, 3))), "fc.b": key.encrypt(np.zeros(1))}
    store.write_fold(1, w, key.encrypt(np.array([0.5, -1.0])))
    store.write_run({"net": "cnn", "folds": [{"fold": 1, "epochs": 2, "test": [0, 1]}]})
    assert store.read_run()["net"] == "cnn"
    np.testing.assert_allclose(key.decrypt(store.read_logits(1)), [0.5, -1.0], atol=1e-12)
    assert sorted(store.read_weights(1)) == ["conv0.w", "fc.b"]
    with pytest.raises(ConfigError, match="no run.json"):
        FoldResults(tmp_path / "elsewhere").read_run()
