"""The analyst trains and predicts through the vault API and the CLI, never reading plaintext."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from medseal.cli import masked_cmd
from medseal.cli.demo_masked import run_masked_stage
from medseal.crypto import KeyRing
from medseal.errors import AccessDenied
from medseal.ingest.datasets import embedded
from medseal.ingest.grey import to_grey_uint8
from medseal.models.data import load_masked_from_vault
from medseal.models.inference import load_model, predict_proba
from medseal.vault import Role, Vault

OWNER, ANALYST = "olivia", "ana"


def _records(per_split: int):
    recs = embedded.demo_records()
    out = []
    for split in ("train", "val", "test"):
        part = [r for r in recs if r.split == split]
        pos = [r for r in part if r.label == 1][: per_split // 2]
        neg = [r for r in part if r.label == 0][: per_split // 2]
        out += pos + neg
    return out


@pytest.fixture
def cli_vault(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDSEAL_PASSPHRASE", "correct horse battery staple")
    ring = KeyRing.create(tmp_path / "ring.json", "correct horse battery staple")
    vault = Vault.init(tmp_path / "v", keyring=ring, owner=OWNER)
    vault.ingest(_records(16), dataset="chest", as_=OWNER)
    vault.grant(ANALYST, Role.ANALYST, dataset="chest", as_=OWNER)
    yield tmp_path, vault
    vault.close()


def _no_plaintext_reads_by(vault: Vault, who: str) -> None:
    entries = vault.audit_log(as_=OWNER)
    reads = [
        e for e in entries if e.actor == who and e.action == "get-plaintext" and e.outcome == "ok"
    ]
    assert reads == []


def test_cli_mask_train_predict_as_analyst(cli_vault) -> None:
    tmp, vault = cli_vault
    app = typer.Typer()
    masked_cmd.register(app)
    runner = CliRunner()
    common = ["--vault", str(tmp / "v"), "--keyring", str(tmp / "ring.json")]
    r = runner.invoke(
        app,
        [
            "mask",
            *common,
            "--dataset",
            "chest",
            "--scheme",
            "shuffle+negpos",
            "--block",
            "4",
            "--as",
            OWNER,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "masked 48 image(s)" in r.output
    r = runner.invoke(app, ["mask", *common, "--dataset", "chest", "--block", "4", "--as", OWNER])
    assert "masked 0 image(s)" in r.output  # idempotent per scheme and key
    model_dir = tmp / "mcnn"
    r = runner.invoke(
        app,
        [
            "train",
            "masked-cnn",
            *common,
            "--dataset",
            "chest",
            "--out",
            str(model_dir),
            "--epochs",
            "2",
            "--width",
            "8",
            "--threads",
            "1",
            "--as",
            ANALYST,
        ],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads((model_dir / "model.json").read_text())
    assert doc["scheme"]["block"] == 4 and "key" not in doc["scheme"]
    images = [i for i in vault.ls(as_=OWNER, dataset="chest") if i.kind == "image"]
    r = runner.invoke(
        app,
        [
            "predict",
            *common,
            "--model",
            str(model_dir),
            "--json",
            "--as",
            ANALYST,
            "--ids",
            images[0].id,
            "--ids",
            images[1].id,
        ],
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [row["parent_id"] for row in rows] == [images[0].id, images[1].id]
    assert all(0 <= row["probability"] <= 1 for row in rows)
    assert not any("pixels" in row for row in rows)
    _no_plaintext_reads_by(vault, ANALYST)
    # the two masked images were read as one batch (one audit entry naming both), and each
    # probability is the model's on that image alone
    reads = [
        e for e in vault.audit_log(as_=OWNER) if e.actor == ANALYST and e.action == "get-masked"
    ]
    assert reads[-1].detail["objects"] == [row["id"] for row in rows]
    model, _ = load_model(model_dir)
    for row in rows:
        alone = to_grey_uint8(vault.get_masked(row["id"], as_=ANALYST))[None]
        assert row["probability"] == pytest.approx(float(predict_proba(model, alone)[0]), abs=1e-6)


def test_owner_shifted_copies_are_fenced_and_training_reports_they_give_the_key(cli_vault) -> None:
    """`mask --shifts 1` needs the flag naming the risk; training on the copies prints the
    views attack's result (the copies pin the whole in-block key)."""
    from medseal.models.vault_data import load_masked_views
    from medseal.privacy.masking import make_scheme

    tmp, vault = cli_vault
    app = typer.Typer()
    masked_cmd.register(app)
    runner = CliRunner()
    common = ["--vault", str(tmp / "v"), "--keyring", str(tmp / "ring.json")]
    base = ["mask", *common, "--dataset", "chest", "--block", "4", "--as", OWNER]
    r = runner.invoke(app, base)
    assert r.exit_code == 0 and "masked 48 image(s)" in r.output, r.output
    r = runner.invoke(app, [*base, "--shifts", "1"])
    assert r.exit_code != 0 and "allow-key-leaking-shifts" in str(r.exception), r.output
    leaky = [*base, "--shifts", "1", "--allow-key-leaking-shifts"]
    r = runner.invoke(app, leaky)  # adds only the missing copies
    assert r.exit_code == 0 and "384 copies stored" in r.output, r.output
    assert "give whoever reads them the masking key" in r.output
    r = runner.invoke(app, leaky)
    assert "masked 0 image(s)" in r.output
    data, _ = load_masked_from_vault(vault, as_=ANALYST, dataset="chest")
    assert len(data.train) + len(data.val) + len(data.test) == 48  # copies are not extra images
    views = load_masked_views(vault, as_=ANALYST, dataset="chest", ids=data.train.ids)
    assert views is not None and views.shape == (9, *data.train.x.shape)
    # the (0, 0) view is the masked image itself; view (dy, dx) masks the shifted plaintext
    np.testing.assert_array_equal(views[4], data.train.x)
    img = next(i for i in vault.ls(as_=OWNER, dataset="chest") if i.id == data.train.ids[0])
    plain = vault.get(img.parent_id, as_=OWNER).pixels
    sch = make_scheme(
        "shuffle+negpos", key=vault.keyring.derive("mask/chest"), block=4, bit_depth=8
    )
    np.testing.assert_array_equal(views[0, 0], sch.mask(np.roll(plain, (-1, -1), axis=(0, 1))))
    r = runner.invoke(
        app,
        ["train", "masked-cnn", *common, "--dataset", "chest", "--out", str(tmp / "m"),
         "--epochs", "1", "--width", "8", "--threads", "1", "--as", ANALYST],
    )  # fmt: skip
    assert r.exit_code == 0 and "9 owner-made shifted masked copies" in r.output, r.output
    assert "pin 100% of the" in r.output, r.output
    r = runner.invoke(
        app, ["predict", *common, "--model", str(tmp / "m"), "--dataset", "chest", "--json",
              "--as", ANALYST],
    )  # fmt: skip
    assert r.exit_code == 0 and len(json.loads(r.output)) == 48
    _no_plaintext_reads_by(vault, ANALYST)


def test_analyst_reads_masked_only(cli_vault) -> None:
    _, vault = cli_vault
    images = [i for i in vault.ls(as_=OWNER, dataset="chest") if i.kind == "image"]
    with pytest.raises(AccessDenied):
        vault.get(images[0].id, as_=ANALYST)
    with pytest.raises(Exception, match="no masked objects"):
        load_masked_from_vault(vault, as_=ANALYST, dataset="chest")


def test_demo_stage_reports_three_aucs(cli_vault) -> None:
    _, vault = cli_vault
    ids = [i.id for i in vault.ls(as_=OWNER, dataset="chest") if i.kind == "image"]
    console = Console(record=True, width=160)
    out = run_masked_stage(
        console,
        vault,
        owner=OWNER,
        analyst=ANALYST,
        dataset="chest",
        object_ids=ids,
        seed=0,
        epochs=3,
        threads=1,
    )
    assert set(out["auc"]) == {"plain", "masked", "aes"}
    for auc, lo, hi in out["auc"].values():
        assert 0 <= lo <= auc <= hi <= 1
    assert out["known_plaintext"]["pixel_exact"] == 1.0
    assert out["leakage"]["ssim_aes"] < 0.1
    assert out["n"]["test"] == 16
    text = console.export_text()
    assert "AES-GCM ciphertext bytes" in text and "not encryption" in text
    _no_plaintext_reads_by(vault, ANALYST)
    assert np.isfinite(out["seconds"])


def test_cli_mask_with_another_block_is_not_taken_for_done(cli_vault) -> None:
    """A copy under another block size is another masking: `mask` must not skip the images."""
    tmp, _ = cli_vault
    app = typer.Typer()
    masked_cmd.register(app)
    runner = CliRunner()
    common = ["--vault", str(tmp / "v"), "--keyring", str(tmp / "ring.json"), "--as", OWNER]
    r = runner.invoke(app, ["mask", *common, "--dataset", "chest", "--block", "4"])
    assert r.exit_code == 0 and "masked 48 image(s)" in r.output, r.output
    r = runner.invoke(app, ["mask", *common, "--dataset", "chest", "--block", "2"])
    assert r.exit_code == 0 and "masked 48 image(s)" in r.output, r.output
