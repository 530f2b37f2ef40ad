"""`medseal he ...` end to end: owner and compute host apart, through files only."""

from __future__ import annotations

import json

import pytest

from conftest import need_tenseal
from medseal.cli import main

pytest.importorskip("torch", reason="the HE-CNN is a torch network")


@pytest.fixture
def owner_env(tmp_path, monkeypatch):
    need_tenseal()
    monkeypatch.setenv("MEDSEAL_PASSPHRASE", "he cli test passphrase")
    monkeypatch.setenv("MEDSEAL_KEYRING", str(tmp_path / "ring.json"))
    monkeypatch.chdir(tmp_path)
    assert main(["keys", "init"]) == 0
    return tmp_path


def test_the_he_commands_run_the_whole_flow_and_refuse_bad_input(owner_env, capsys):
    d = owner_env
    args = ["--data", "embedded"]
    assert main(["he", "train", "-o", "runs/he", "--epochs", "1", "--channels", "1", *args]) == 0
    assert main(["he", "keygen"]) == 0
    assert (d / "he-key.sealed").stat().st_mode & 0o077 == 0
    assert main(["he", "compile", "runs/he", "-o", "model.he", *args]) == 0
    assert (
        main(["he", "encrypt", "--limit", "3", "-o", "batch.ct", "--context-out", "c.ctx", *args])
        == 0
    )
    assert (
        main(["he", "predict", "model.he", "batch.ct", "--context", "c.ctx", "-o", "out.ct"]) == 0
    )
    capsys.readouterr()
    assert main(["he", "decrypt", "out.ct", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["probability"]) == 3 and set(shown["label"]) <= {0, 1}
    # The compute host cannot use a context of another key; a truncated batch is refused.
    assert main(["he", "keygen", "--key", "other.sealed", "--context", "other.ctx"]) == 0
    assert main(["he", "predict", "model.he", "batch.ct", "--context", "other.ctx"]) == 2
    (d / "cut.ct").write_bytes((d / "batch.ct").read_bytes()[:-10])
    assert main(["he", "predict", "model.he", "cut.ct", "--context", "c.ctx"]) == 2
    assert main(["he", "compile", "runs/he", "--profile", "64", *args]) == 2
    err = capsys.readouterr().err
    assert "not under this context's key" in err and "truncated or corrupt" in err
    assert "unknown CKKS profile" in err


def _chest_vault(d, n, *, seed, split=None):
    """A vault at ``d/vault`` whose data set ``chest`` holds ``n`` random 28 px images, and its
    key ring; ``split(i)`` names image ``i``'s split."""
    import numpy as np

    from medseal.crypto import KeyRing
    from medseal.types import Image
    from medseal.vault import Vault

    ring = KeyRing.open(d / "ring.json", "he cli test passphrase")
    with Vault.init(d / "vault", keyring=ring, owner="olivia") as v:
        rng = np.random.default_rng(seed)
        for i in range(n):
            px = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)
            v.put(Image(pixels=px, bits_stored=8), dataset="chest", as_="olivia",
                  name=f"img{i}", label=i % 2, split=split(i) if split else None)  # fmt: skip
    return ring


def test_he_encrypt_reads_vault_objects_as_the_acting_principal(owner_env, capsys):
    d = owner_env
    _chest_vault(d, 5, seed=0, split=lambda i: "test" if i < 4 else "train")
    args = ["--data", "embedded"]
    assert main(["he", "train", "-o", "runs/he", "--epochs", "1", "--channels", "1", *args]) == 0
    assert main(["he", "keygen"]) == 0
    assert main(["he", "compile", "runs/he", "-o", "model.he", *args]) == 0
    vault = ["--vault", str(d / "vault"), "--dataset", "chest"]
    enc = ["he", "encrypt", *vault, "--as", "olivia", "-o", "batch.ct", "--context-out", "c.ctx"]
    assert main([*enc, "--split", "test"]) == 0
    ids = json.loads((d / "batch.ct.ids.json").read_text())
    assert ids["dataset"] == "chest" and len(ids["objects"]) == 4
    assert main(["he", "predict", "model.he", "batch.ct", "--context", "c.ctx"]) == 0
    capsys.readouterr()
    assert main(["he", "decrypt", "out.ct", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["probability"]) == 4
    # one image in the single-image packing, through the same commands
    one = ["he", "encrypt", *vault, "--as", "olivia", "--limit", "1", "--packing", "single"]
    assert main([*one, "-o", "one.ct", "--context-out", "one.ctx"]) == 0
    assert main(["he", "predict", "model.he", "one.ct", "--context", "one.ctx", "-o", "o1"]) == 0
    capsys.readouterr()
    assert main(["he", "decrypt", "o1", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["probability"]) == 1
    # a principal without a grant on the data set is refused and nothing is written
    assert main(["he", "encrypt", *vault, "--as", "mallory", "-o", "m.ct"]) != 0
    assert not (d / "m.ct").exists()


def test_an_analyst_computes_on_the_batch_the_owner_stored_in_the_vault(owner_env, capsys):
    from medseal.vault import Role, Vault

    d = owner_env
    ring = _chest_vault(d, 3, seed=1)
    with Vault.open(d / "vault", keyring=ring) as v:
        v.grant("ana", Role.ANALYST, dataset="chest", as_="olivia")
    args = ["--data", "embedded"]
    assert main(["he", "train", "-o", "runs/he", "--epochs", "1", "--channels", "1", *args]) == 0
    assert main(["he", "keygen", "--context", "c.ctx"]) == 0
    assert main(["he", "compile", "runs/he", "-o", "model.he", *args]) == 0
    vault = ["--vault", str(d / "vault")]
    enc = ["he", "encrypt", *vault, "--dataset", "chest", "--as", "olivia", "-o", "batch.ct"]
    assert main([*enc, "--context-out", "c.ctx"]) == 0
    doc = json.loads((d / "batch.ct.ids.json").read_text())
    stored = doc["batch_object"]
    with Vault.open(d / "vault", keyring=ring) as v:
        info = v.show(stored, as_="olivia")
        assert info.kind == "ckks" and info.manifest["parents"] == doc["objects"]
        assert "key" not in json.dumps(info.manifest["describe"]).lower()
    # the compute host, acting as the analyst, reads the batch from the vault (not the file)
    (d / "batch.ct").unlink()
    ana = ["--as", "ana", "--context", "c.ctx", *vault]
    assert main(["he", "predict", "model.he", stored, *ana, "-o", "out.ct"]) == 0
    capsys.readouterr()
    assert main(["he", "decrypt", "out.ct", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["probability"]) == 3
    # an image id is not a batch; a principal without a grant is refused
    assert main(["he", "predict", "model.he", doc["objects"][0], *ana]) == 2
    assert main(["he", "predict", "model.he", stored, *vault, "--as", "mallory"]) == 3


def test_evaluate_he_refuses_an_unknown_data_set_or_profile_in_one_line(capsys):
    assert main(["evaluate", "he", "--profile", "256"]) == 2
    assert main(["evaluate", "he", "--data", "mnist"]) == 2
    assert main(["evaluate", "he", "--conv2", "8x3"]) == 2
    err = capsys.readouterr().err
    assert "--profile must be one of 128, 128-deep" in err and "--data must be one of" in err
    assert "--conv2 is 'channels,kernel,stride'" in err and "Traceback" not in err
