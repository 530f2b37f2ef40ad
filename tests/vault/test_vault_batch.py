"""Group commit: ``put_many`` and ``ingest`` store a batch durably with one transaction."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import make_image
from medseal.crypto import KeyRing
from medseal.errors import StorageError
from medseal.vault import PutItem, Vault
from medseal.vault import audit as _audit
from medseal.vault._faults import PUT_CRASHPOINTS

PASS = "batch crash passphrase"

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from medseal.crypto import KeyRing
    from medseal.types import Image
    from medseal.vault import Vault

    ring = KeyRing.open(sys.argv[2], sys.argv[3])
    vault = Vault.open(sys.argv[1], keyring=ring)
    imgs = [Image(pixels=np.full((64, 64), 7 + i, np.uint16), bits_stored=12) for i in range(5)]
    print([r.id for r in vault.put_many(imgs, dataset="chest", as_="olivia")])
    """
)


@pytest.fixture
def file_vault(tmp_path):
    ring = KeyRing.create(tmp_path / "ring.json", PASS, scrypt_n=2**10)
    vault = Vault.init(tmp_path / "vault", keyring=ring, owner="olivia")
    refs = vault.put_many([make_image(i) for i in range(3)], dataset="chest", as_="olivia")
    vault.close()
    return tmp_path, refs


def _reopen(root):
    return Vault.open(root / "vault", keyring=KeyRing.open(root / "ring.json", PASS))


@pytest.mark.parametrize("point", PUT_CRASHPOINTS)
def test_a_crash_during_a_batch_stores_all_of_it_or_none(file_vault, point):
    root, refs = file_vault
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root / "vault"), str(root / "ring.json"), PASS],
        env=dict(os.environ, MEDSEAL_CRASH_AT=point),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr  # killed at the crash point, not finished
    vault = _reopen(root)
    assert vault.verify(as_="olivia", deep=True).ok
    for i, ref in enumerate(refs):
        assert np.array_equal(vault.get(ref.id, as_="olivia").pixels, make_image(i).pixels)
    objects = vault.ls(as_="olivia")
    if point == "put:committed":  # acknowledged: the whole batch is durable and readable
        assert len(objects) == 8
        new = sorted(
            int(vault.get(o.id, as_="olivia").pixels[0, 0])
            for o in objects
            if o.id not in {r.id for r in refs}
        )
        assert new == [7, 8, 9, 10, 11]
    else:
        assert len(objects) == 3  # no part of the batch in the catalogue
    vault.collect_garbage(as_="olivia", grace=0)
    clean = vault.verify(as_="olivia", grace=0)
    assert clean.ok and not clean.orphan_blobs and not clean.temporary_files
    vault.close()


def test_put_many_commits_one_transaction_with_an_audit_entry_per_object(vault):
    with vault.catalog.connect() as conn:
        before = len(_audit.entries(conn))
    calls = []
    original = vault.catalog.begin

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    vault.catalog.begin = counting  # type: ignore[method-assign]
    items = [PutItem(make_image(i), name=f"n{i}", label=i % 2, split="train") for i in range(7)]
    refs = vault.put_many(items, dataset="chest", as_="olivia", batch_size=4)
    vault.catalog.begin = original  # type: ignore[method-assign]
    # 2 batches -> 2 write transactions (authorisation is a read, not a transaction)
    assert len(calls) == 2
    with vault.catalog.connect() as conn:
        new = _audit.entries(conn)[before:]
    assert [(e.action, e.target) for e in new] == [("put", r.id) for r in refs]
    assert vault.verify_audit(as_="olivia") == before + 7
    infos = {o.id: o for o in vault.ls(as_="olivia")}
    assert [(infos[r.id].name, infos[r.id].label) for r in refs] == [
        (f"n{i}", i % 2) for i in range(7)
    ]
    for i, ref in enumerate(refs):
        assert np.array_equal(vault.get(ref.id, as_="olivia").pixels, make_image(i).pixels)


def test_a_failed_batch_commit_stores_nothing_of_it(vault, monkeypatch):
    import sqlite3

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr("medseal.vault.audit.append_many", broken)
    with pytest.raises(StorageError, match="nothing was stored"):
        vault.put_many([make_image(i) for i in range(3)], dataset="chest", as_="olivia")
    monkeypatch.undo()
    assert vault.ls(as_="olivia") == []
    assert list(vault.blobs.keys("objects")) == []


def test_a_batch_is_committed_under_the_active_kek_after_a_rotation(vault):
    before = vault.keyring.current_kek_id
    refs = vault.put_many([make_image(i) for i in range(2)], dataset="chest", as_="olivia")
    vault.rotate_keys(as_="olivia")
    assert vault.keyring.current_kek_id != before
    more = vault.put_many([make_image(i) for i in range(2, 4)], dataset="chest", as_="olivia")
    with vault.catalog.connect() as conn:
        from medseal.vault._catalog_repo import Catalog

        keks = {wk.kek_id for wk in Catalog.data_keys(conn)}
    assert keks == {vault.keyring.current_kek_id}
    for i, ref in enumerate(refs + more):
        assert np.array_equal(vault.get(ref.id, as_="olivia").pixels, make_image(i).pixels)


def test_ingest_commits_in_growing_groups_and_skips_repeats_within_a_group(vault, tmp_path):
    from PIL import Image as PILImage

    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(6):
        PILImage.fromarray(np.full((16, 16), i, np.uint8)).save(folder / f"p{i}.png")
    calls = []
    original = vault.catalog.begin

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    vault.catalog.begin = counting  # type: ignore[method-assign]
    report = vault.ingest(folder, dataset="chest", as_="olivia", batch_size=4)
    vault.catalog.begin = original  # type: ignore[method-assign]
    assert (len(report.refs), report.skipped, report.failures) == (6, 0, [])
    assert len(calls) == 3  # groups of 1, 2 and 3 (the last one partial)
    again = vault.ingest(folder, dataset="chest", as_="olivia")
    assert (len(again.refs), again.skipped) == (0, 6)
    assert vault.verify(as_="olivia", deep=True).ok
