"""The MORE command line (keygen -> encrypt -> train -> decrypt-results, attack) and the demo stage."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from medseal.cli.demo_more import run_more_stage
from medseal.cli.more_cmd import register, train_conv_bilstm


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    train = typer.Typer()
    train.command("conv-bilstm")(train_conv_bilstm)
    app.add_typer(train, name="train")
    return app


@pytest.fixture
def ring_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A key ring for the sealed MORE key, found through the environment."""
    from medseal.crypto import KeyRing

    monkeypatch.setenv("MEDSEAL_PASSPHRASE", "more cli test passphrase")
    monkeypatch.setenv("MEDSEAL_KEYRING", str(tmp_path / "ring.json"))
    KeyRing.create(tmp_path / "ring.json", "more cli test passphrase")
    return tmp_path / "ring.json"


@pytest.mark.usefixtures("ring_env")
def test_more_cli_round_trip(tmp_path: Path) -> None:
    app, runner = _app(), CliRunner()
    key, enc = tmp_path / "more.key", tmp_path / "enc"
    r = runner.invoke(app, ["more", "keygen", "-o", str(key), "--seed", "1"])
    assert r.exit_code == 0, r.output
    assert os.stat(key).st_mode & 0o777 == 0o600
    r = runner.invoke(app, ["more", "encrypt", "--dataset", "synthetic", "--key", str(key),
                            "-o", str(enc), "--size", "8"])  # fmt: skip
    assert r.exit_code == 0, r.output
    index = json.loads((enc / "folds.json").read_text())
    assert len(index["folds"]) == 4 and "labels" not in index
    r = runner.invoke(app, ["train", "conv-bilstm", "--encrypted", str(enc), "--folds", "1",
                            "--key", str(key), "--epochs", "2", "--net", "cnn"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (enc / "results" / "fold0" / "test_logits.more").is_file()
    r = runner.invoke(app, ["more", "decrypt-results", str(enc / "results"), "--key", str(key),
                            "-o", str(tmp_path / "m.json"), "--weights"])  # fmt: skip
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "m.json").read_text())["folds"][0]["metrics"]
    assert 0.0 <= metrics["accuracy"] <= 1.0
    w = np.load(enc / "results" / "fold0" / "weights_decrypted.npz")
    assert "fc1.w" in w.files
    r = runner.invoke(app, ["attack", "more", "--ciphertexts", str(enc), "--key", str(key),
                            "--limit", "2"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "100.0% of the values" in r.output
    # without a key the server trains a fixed number of epochs
    r = runner.invoke(app, ["train", "conv-bilstm", "--encrypted", str(enc), "--folds", "1",
                            "--epochs", "1", "--net", "cnn", "-o", str(tmp_path / "r2")])  # fmt: skip
    assert r.exit_code == 0, r.output


def test_demo_stage_matches_plaintext() -> None:
    console = Console(record=True, width=120)
    out = run_more_stage(console, seed=0)
    assert out["max_abs_weight_diff"] < 1e-8
    assert out["attack_success_rate"] == 1.0
    assert out["seconds"] < 120
    assert "eigenvalue attack" in console.export_text()


def test_more_encrypt_from_vault(tmp_path: Path, monkeypatch) -> None:
    """`more encrypt --vault`: labelled, patient-tagged vault objects become sequences per patient."""
    from medseal.crypto import KeyRing
    from medseal.types import Image
    from medseal.vault import Vault

    monkeypatch.setenv("MEDSEAL_PASSPHRASE", "more vault test")
    ring_path = tmp_path / "keys.json"
    ring = KeyRing.create(ring_path, "more vault test")
    v = Vault.init(tmp_path / "vault", keyring=ring, owner="olivia")
    rng = np.random.default_rng(0)
    for p in range(24):  # 24 patients, 3 follow-ups each, label per patient
        for t in range(3):
            px = rng.integers(0, 256, size=(20, 20), dtype=np.uint8)
            v.put(Image(pixels=px, bits_stored=8), dataset="fu", as_="olivia",
                  name=f"p{p}-t{t}", label=p % 2, patient=f"P{p}")  # fmt: skip
    v.close()
    app, runner = _app(), CliRunner()
    key, enc = tmp_path / "more.key", tmp_path / "enc"
    r = runner.invoke(app, ["more", "keygen", "-o", str(key), "--seed", "2", "--keyring", str(ring_path)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["more", "encrypt", "--vault", str(tmp_path / "vault"), "--dataset", "fu",
                            "--keyring", str(ring_path), "--as", "olivia", "--key", str(key),
                            "-o", str(enc), "--size", "8", "--length", "3", "--folds", "2"])  # fmt: skip
    assert r.exit_code == 0, r.output
    index = json.loads((enc / "folds.json").read_text())
    assert index["shape"][:2] == [24, 3] and len(index["folds"]) == 2
    # one patient never sits in two folds' test sets; no patient id leaves the client in clear
    tests = [set(f["test"]) for f in index["folds"]]
    assert not (tests[0] & tests[1]) and len(tests[0] | tests[1]) == 24
    assert not any(g.startswith("P") and len(g) == 2 for g in index["groups"])
    # an analyst without a grant on the data set is refused, nothing written
    r = runner.invoke(app, ["more", "encrypt", "--vault", str(tmp_path / "vault"), "--dataset", "fu",
                            "--keyring", str(ring_path), "--as", "mallory", "--key", str(key),
                            "-o", str(tmp_path / "enc2"), "--size", "8"])  # fmt: skip
    assert r.exit_code != 0 and not (tmp_path / "enc2").exists()


@pytest.mark.usefixtures("ring_env")
def test_more_cli_trains_with_a_key_of_size_3(tmp_path: Path) -> None:
    """n >= 3 through the CLI: the server's backend gets the algebra projector from its reference."""
    app, runner = _app(), CliRunner()
    key, enc = tmp_path / "more3.key", tmp_path / "enc3"
    assert runner.invoke(app, ["more", "keygen", "-o", str(key), "--seed", "3", "--n", "3"]).exit_code == 0
    r = runner.invoke(app, ["more", "encrypt", "--dataset", "synthetic", "--key", str(key),
                            "-o", str(enc), "--size", "8"])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", "conv-bilstm", "--encrypted", str(enc), "--folds", "1",
                            "--epochs", "3", "--net", "cnn", "-o", str(tmp_path / "r3")])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["more", "decrypt-results", str(tmp_path / "r3"), "--key", str(key),
                            "--encrypted", str(enc), "-o", str(tmp_path / "m3.json")])  # fmt: skip
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "m3.json").read_text())["folds"][0]["metrics"]
    assert np.isfinite(metrics["auc"]) and 0.0 <= metrics["accuracy"] <= 1.0



def test_more_backend_refresh_projects_drift_away_for_n_3() -> None:
    """The server's backend (CLI and library alike) removes off-algebra rounding drift at n >= 3."""
    from medseal.models.backend import MoreBackend
    from medseal.privacy.more import MoreKey, MoreTensor

    key = MoreKey.generate(n=3, seed=5)
    rng = np.random.default_rng(0)
    be = MoreBackend(key.public_context(), reference=key.encrypt_reference(rng=rng))
    c = key.encrypt(np.array([0.25, -1.5, 3.0]), rng=rng)
    drift = 1e-6 * rng.standard_normal(c.data.shape)
    back = be.refresh(MoreTensor(c.data + drift, c.context))
    # only the drift's in-algebra part (3 of 9 dimensions, ~58 % of its norm) stays
    assert np.linalg.norm(back.data - c.data) < 0.8 * np.linalg.norm(drift)
    assert np.allclose(be.refresh(back).data, back.data, atol=1e-12)  # a projection
    assert np.allclose(key.decrypt(back), [0.25, -1.5, 3.0], atol=1e-5)
