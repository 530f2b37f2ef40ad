"""The `medseal` command line, end to end, as a user types it."""

from __future__ import annotations

import numpy as np
import pydicom
from clirun import run_cli
from PIL import Image as PILImage

run = run_cli


def test_cli_workflow(tmp_path, env):
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(3):
        arr = (np.arange(32 * 32).reshape(32, 32) * (i + 1) % 256).astype(np.uint8)
        PILImage.fromarray(arr).save(folder / f"img{i}.png")
    run(["keys", "init"], env, tmp_path)
    assert (tmp_path / "ring.json").exists()
    # classic JPEG 2000 chosen at init (the default is HTJ2K): the rest reads J2K
    run(["vault", "init", str(tmp_path / "vault"), "--codec", "j2k"], env, tmp_path)
    out = run(["ingest", str(folder), "--dataset", "chest"], env, tmp_path).stdout
    assert "stored 3 objects" in out
    listing = run(["vault", "ls", "--json"], env, tmp_path).stdout
    import json

    items = json.loads(listing)
    assert len(items) == 3
    oid = items[0]["id"]
    shown = json.loads(run(["vault", "show", oid], env, tmp_path).stdout)
    assert shown["manifest"]["codec"].startswith("j2k")
    run(["vault", "get", oid, "-o", str(tmp_path / "o.dcm")], env, tmp_path)
    assert (
        pydicom.dcmread(tmp_path / "o.dcm").file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    )
    run(["vault", "get", oid, "-o", str(tmp_path / "o.npy")], env, tmp_path)
    assert np.load(tmp_path / "o.npy").shape == (32, 32)
    run(["vault", "get", oid, "-o", str(tmp_path / "o.png")], env, tmp_path)
    assert PILImage.open(tmp_path / "o.png").size == (32, 32)

    run(["vault", "grant", "ana", "--role", "analyst", "--dataset", "chest"], env, tmp_path)
    denied = run(
        ["vault", "get", oid, "-o", str(tmp_path / "x.dcm"), "--as", "ana"],
        env,
        tmp_path,
        check=False,
    )
    assert denied.returncode == 3 and "may not" in denied.stderr
    assert "Traceback" not in denied.stderr
    assert not (tmp_path / "x.dcm").exists()
    run(
        ["vault", "get", oid, "--encrypted", "-o", str(tmp_path / "x.sealed"), "--as", "ana"],
        env,
        tmp_path,
    )
    assert (tmp_path / "x.sealed").read_bytes()[:5] == b"MSEAL"
    run(["vault", "revoke", "ana"], env, tmp_path)

    assert "vault OK" in run(["vault", "verify", "--deep"], env, tmp_path).stdout
    assert "intact" in run(["vault", "audit", "--verify"], env, tmp_path).stdout
    assert "get-plaintext" in run(["vault", "audit", "--limit", "100"], env, tmp_path).stdout
    rot = run(["keys", "rotate"], env, tmp_path).stdout
    assert "re-wrapped 3 data keys" in rot
    run(["vault", "get", oid, "-o", str(tmp_path / "after.npy")], env, tmp_path)
    assert np.array_equal(np.load(tmp_path / "after.npy"), np.load(tmp_path / "o.npy"))


def test_cli_wrong_passphrase(tmp_path, env):
    run(["keys", "init"], env, tmp_path)
    run(["vault", "init", str(tmp_path / "vault")], env, tmp_path)
    bad = dict(env, MEDSEAL_PASSPHRASE="wrong")
    proc = run(["vault", "ls"], bad, tmp_path, check=False)
    assert proc.returncode != 0
    assert "passphrase" in proc.stderr.lower() and "Traceback" not in proc.stderr


def test_cli_no_passphrase_without_tty(tmp_path, env):
    e = dict(env)
    e.pop("MEDSEAL_PASSPHRASE")
    proc = run(["keys", "init"], e, tmp_path, check=False)
    assert proc.returncode == 1 and "MEDSEAL_PASSPHRASE" in proc.stderr


def test_cli_bad_id(tmp_path, env):
    run(["keys", "init"], env, tmp_path)
    run(["vault", "init", str(tmp_path / "vault")], env, tmp_path)
    proc = run(["vault", "show", "../../etc/passwd"], env, tmp_path, check=False)
    assert proc.returncode == 2 and "invalid object id" in proc.stderr


def test_demo_runs(tmp_path, env):
    out = run(["demo", "--limit", "12", "--stages", "vault"], env, tmp_path).stdout
    assert "refused" in out
    assert "bit-exact" in out
    assert "audit chain" in out
    assert "storage and throughput" in out
