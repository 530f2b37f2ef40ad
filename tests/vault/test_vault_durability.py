"""Crashes and failures during put leave the vault consistent and lose nothing."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import make_image
from medseal.crypto import KeyRing
from medseal.errors import StorageError
from medseal.vault import Vault
from medseal.vault._faults import PUT_CRASHPOINTS

PASS = "crash test passphrase"

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from medseal.crypto import KeyRing
    from medseal.types import Image
    from medseal.vault import Vault

    ring = KeyRing.open(sys.argv[2], sys.argv[3])
    vault = Vault.open(sys.argv[1], keyring=ring)
    img = Image(pixels=np.full((64, 64), 7, np.uint16), bits_stored=12)
    print(vault.put(img, dataset="chest", as_="olivia").id)
    """
)


@pytest.fixture
def file_vault(tmp_path):
    ring = KeyRing.create(tmp_path / "ring.json", PASS, scrypt_n=2**10)
    vault = Vault.init(tmp_path / "vault", keyring=ring, owner="olivia")
    refs = [vault.put(make_image(i), dataset="chest", as_="olivia") for i in range(3)]
    vault.close()
    return tmp_path, refs


def _reopen(root):
    return Vault.open(root / "vault", keyring=KeyRing.open(root / "ring.json", PASS))


@pytest.mark.parametrize("point", PUT_CRASHPOINTS)
def test_crash_during_put_leaves_vault_consistent(file_vault, point):
    root, refs = file_vault
    env = dict(os.environ, MEDSEAL_CRASH_AT=point)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root / "vault"), str(root / "ring.json"), PASS],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr  # killed at the crash point, not finished
    vault = _reopen(root)
    report = vault.verify(as_="olivia", deep=True)
    assert report.ok, report.problems
    # nothing already stored was lost
    for i, ref in enumerate(refs):
        assert np.array_equal(vault.get(ref.id, as_="olivia").pixels, make_image(i).pixels)
    objects = vault.ls(as_="olivia")
    if point == "put:committed":
        assert len(objects) == 4  # committed before the crash: complete and readable
        new = next(o for o in objects if o.id not in {r.id for r in refs})
        assert (vault.get(new.id, as_="olivia").pixels == 7).all()
    else:
        assert len(objects) == 3  # no half object in the catalogue
    # leftovers (an unreferenced blob or temp file) are reported and collectable
    vault.collect_garbage(as_="olivia", grace=0)
    clean = vault.verify(as_="olivia", grace=0)
    assert clean.ok and not clean.orphan_blobs and not clean.temporary_files
    vault.close()


def test_full_disk_during_put(vault, monkeypatch):
    ref = vault.put(make_image(1), dataset="chest", as_="olivia")

    def no_space(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("medseal.vault.blobs._write_all", no_space)
    with pytest.raises(StorageError, match="disk is full"):
        vault.put(make_image(2), dataset="chest", as_="olivia")
    monkeypatch.undo()
    assert [o.id for o in vault.ls(as_="olivia")] == [ref.id]
    report = vault.verify(as_="olivia", deep=True, grace=0)
    assert report.ok and not report.temporary_files and not report.orphan_blobs
    assert np.array_equal(vault.get(ref.id, as_="olivia").pixels, make_image(1).pixels)


def test_catalogue_failure_removes_the_blob(vault, monkeypatch):
    import sqlite3

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr("medseal.vault.audit.append", broken)
    with pytest.raises(StorageError, match="nothing was stored"):
        vault.put(make_image(3), dataset="chest", as_="olivia")
    monkeypatch.undo()
    assert vault.ls(as_="olivia") == []
    assert list(vault.blobs.keys("objects")) == []
