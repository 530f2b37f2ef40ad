"""Ingest can be re-run after a kill and one bad file never stops the rest (issue 12, part 5)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image as PILImage

from medseal.crypto import KeyRing
from medseal.vault import Vault

PASS = "ingest rerun passphrase"


def _pngs(folder, n, start=0):
    folder.mkdir(exist_ok=True)
    for i in range(start, start + n):
        arr = ((np.arange(16 * 16).reshape(16, 16) * (i + 3)) % 251).astype(np.uint8)
        PILImage.fromarray(arr).save(folder / f"img{i:02d}.png")
    return folder


@pytest.fixture
def env(tmp_path, monkeypatch):
    KeyRing.create(tmp_path / "ring.json", PASS, scrypt_n=2**10)
    ring = KeyRing.open(tmp_path / "ring.json", PASS)
    Vault.init(tmp_path / "vault", keyring=ring, owner="olivia").close()
    values = {
        "MEDSEAL_PASSPHRASE": PASS,
        "MEDSEAL_KEYRING": str(tmp_path / "ring.json"),
        "MEDSEAL_VAULT": str(tmp_path / "vault"),
        "MEDSEAL_USER": "olivia",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return tmp_path


def _open(root):
    return Vault.open(root / "vault", keyring=KeyRing.open(root / "ring.json", PASS))


KILLED_INGEST = textwrap.dedent(
    """
    import sys
    from medseal.cli import main
    sys.exit(main(["ingest", sys.argv[1], "--dataset", "chest"]))
    """
)


def test_rerun_after_a_kill_stores_no_duplicates(env):
    folder = _pngs(env / "pngs", 5)
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_INGEST, str(folder)],
        env=dict(os.environ, MEDSEAL_CRASH_AT="put:committed"),  # killed after the 1st commit
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr
    with _open(env) as vault:
        assert len(vault.ls(as_="olivia")) == 1
        report = vault.ingest(folder, dataset="chest", as_="olivia")
        assert len(vault.ls(as_="olivia")) == 5, "the re-run stored duplicates"
        assert (len(report.refs), report.skipped, report.failures) == (4, 1, [])
        again = vault.ingest(folder, dataset="chest", as_="olivia")
        assert (len(again.refs), again.skipped) == (0, 5)
        forced = vault.ingest(folder, dataset="chest", as_="olivia", force=True)
        assert len(forced.refs) == 5 and len(vault.ls(as_="olivia")) == 10
        # another dataset is another collection: nothing skipped there
        assert len(vault.ingest(folder, dataset="other", as_="olivia").refs) == 5


def test_cli_rerun_reports_skipped_and_force_readds(env, capsys):
    from medseal.cli import main

    folder = _pngs(env / "pngs", 3)
    assert main(["ingest", str(folder), "--dataset", "chest"]) == 0
    assert "stored 3 objects" in capsys.readouterr().out
    assert main(["ingest", str(folder), "--dataset", "chest"]) == 0
    assert "stored 0 objects in dataset chest; skipped 3" in capsys.readouterr().out
    assert main(["ingest", str(folder), "--dataset", "chest", "--force"]) == 0
    assert "stored 3 objects" in capsys.readouterr().out


def test_non_utf8_name_is_stored_under_a_neutral_name_and_a_broken_file_fails_alone(env, capsys):
    """The name never comes from the path, so a non-UTF-8 name is just another pseudonym."""
    from medseal.cli import main

    folder = _pngs(env / "pngs", 3)
    bad = os.path.join(os.fsencode(folder), b"Doe_\xff\xfe.png")
    with open(bad, "wb") as fh:
        fh.write((folder / "img00.png").read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    rc = main(["ingest", str(folder), "--dataset", "chest"])
    out = capsys.readouterr()
    assert rc == 1
    assert "stored 4 objects" in out.out and "failed 1" in out.out
    failed = [ln for ln in out.err.splitlines() if "failed" in ln]
    assert len(failed) == 1 and "Traceback" not in out.err
    with _open(env) as vault:
        infos = vault.ls(as_="olivia")
        assert len(infos) == 4
        assert not any("Doe" in (i.name or "") or "img0" in (i.name or "") for i in infos)
        assert os.fsdecode(b"Doe_\xff\xfe.png") in vault.pseudonyms(as_="olivia")
        report = vault.verify(as_="olivia", grace=0)
        assert report.ok and not report.orphan_blobs and not report.temporary_files


def test_unreadable_files_and_folders_are_reported_once_not_skipped(env, capsys, monkeypatch):
    """Root reads anything, so the refusals are simulated where discover meets them."""
    import builtins
    import importlib

    from medseal.cli import main

    discover_mod = importlib.import_module("medseal.ingest.discover")

    folder = _pngs(env / "pngs", 2)
    (folder / "scan0001").write_bytes(b"\0" * 200)  # no suffix: must be opened to sniff
    real_open, real_walk = builtins.open, os.walk

    def refusing_open(path, *args, **kwargs):
        if os.fspath(path).endswith("scan0001"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kwargs)

    def walk(top, onerror=None, followlinks=False):
        if onerror is not None:
            onerror(PermissionError(13, "Permission denied", os.path.join(top, "locked")))
        yield from real_walk(top, onerror=onerror, followlinks=followlinks)

    monkeypatch.setattr(discover_mod, "open", refusing_open, raising=False)
    monkeypatch.setattr(os, "walk", walk)
    rc = main(["ingest", str(folder), "--dataset", "chest"])
    out = capsys.readouterr()
    assert rc == 1 and "stored 2 objects" in out.out
    failed = [ln for ln in out.err.splitlines() if "failed" in ln]
    assert len(failed) == 2, out.err
    assert any("scan0001" in ln for ln in failed) and any("locked" in ln for ln in failed)
    assert all("Permission denied" in ln for ln in failed)
    assert out.err.count("scan0001") == 1  # once, not twice (log + summary)
