"""gc and key rotation are safe while writers are busy (issue 12, part 4)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import threading
import time

import numpy as np
import pytest

from conftest import make_image
from medseal.crypto import KeyRing
from medseal.types import DeidReport
from medseal.vault import Vault

PASS = "maintenance test passphrase"


@pytest.fixture
def ring_path(tmp_path):
    KeyRing.create(tmp_path / "ring.json", PASS, scrypt_n=2**10)
    return tmp_path / "ring.json"


@pytest.fixture
def file_vault(tmp_path, ring_path):
    vault = Vault.init(tmp_path / "v", keyring=KeyRing.open(ring_path, PASS), owner="olivia")
    yield vault
    vault.close()


def _hook(monkeypatch, point, action):
    """Run ``action`` when a put reaches the crash point ``point`` (in this process)."""
    calls = []

    def hook(name):
        if name == point and not calls:
            calls.append(name)
            action()

    monkeypatch.setattr("medseal.vault._faults.crashpoint", hook)
    monkeypatch.setattr("medseal.vault.blobs.crashpoint", hook)
    monkeypatch.setattr("medseal.vault.vault.crashpoint", hook, raising=False)  # before the split
    return calls


def _kek_ids(vault):
    with vault.db.connect() as conn:
        keys = {r.kek_id for r in conn.execute("SELECT kek_id FROM data_keys")}
        records = {
            json.loads(r.wrapped_key)["kek_id"]
            for r in conn.execute("SELECT wrapped_key FROM sealed_records")
        }
    return keys, records


def test_gc_during_a_put_loses_no_object(file_vault, monkeypatch):
    vault = file_vault
    done: dict[str, int] = {}

    # grace=0: only the vault lock stands between gc and the blob in flight
    kwargs = {"grace": 0} if "grace" in inspect.signature(vault.collect_garbage).parameters else {}

    def gc_now():
        worker = threading.Thread(
            target=lambda: done.setdefault("removed", vault.collect_garbage(as_="olivia", **kwargs))
        )
        worker.start()
        worker.join(timeout=1.0)  # without a lock gc finishes here, between blob and row
        done["thread"] = id(worker)
        threads.append(worker)

    threads: list[threading.Thread] = []
    calls = _hook(monkeypatch, "put:blob-renamed", gc_now)
    ref = vault.put(make_image(3), dataset="chest", as_="olivia")
    assert calls
    for t in threads:
        t.join(timeout=30)
    monkeypatch.undo()
    assert done.get("removed") == 0
    assert np.array_equal(vault.get(ref.id, as_="olivia").pixels, make_image(3).pixels)
    assert vault.verify(as_="olivia", deep=True).ok


def test_verify_and_gc_leave_fresh_blobs_alone(file_vault):
    vault = file_vault
    vault.put(make_image(1), dataset="chest", as_="olivia")
    stray = "objects/ab/" + "ab" * 16
    vault.blobs.put(stray, b"a put in flight")
    report = vault.verify(as_="olivia")
    assert report.ok and report.orphan_blobs == [] and report.fresh_blobs == 1
    assert vault.collect_garbage(as_="olivia") == 0
    assert vault.blobs.exists(stray)
    old = time.time() - 2 * 3600
    os.utime(vault.root / "blobs" / stray, (old, old))
    assert vault.verify(as_="olivia").orphan_blobs == [stray]
    assert vault.collect_garbage(as_="olivia") == 1
    assert not vault.blobs.exists(stray)


def test_rotation_between_a_writers_key_wrap_and_commit_leaves_no_key_on_the_old_kek(
    file_vault, ring_path, monkeypatch
):
    writer = file_vault  # its key ring object is not told about the rotation
    writer.put(make_image(1), dataset="chest", as_="olivia")
    old = writer.keyring.current_kek_id
    other = Vault.open(writer.root, keyring=KeyRing.open(ring_path, PASS))
    reports = []
    _hook(
        monkeypatch, "put:sealed", lambda: reports.append(other.rotate_keys(as_="olivia"))
    )
    ref = writer.put(make_image(2), dataset="chest", as_="olivia")
    monkeypatch.undo()
    assert reports and reports[0].old_kek_id == old
    keys, _ = _kek_ids(writer)
    assert keys == {reports[0].new_kek_id}, "a data key was committed under the retired KEK"
    assert writer.verify(as_="olivia").retired_kek_keys == 0
    fresh = Vault.open(writer.root, keyring=KeyRing.open(ring_path, PASS))
    assert np.array_equal(fresh.get(ref.id, as_="olivia").pixels, make_image(2).pixels)
    fresh.close()
    other.close()


def test_rotation_rewraps_the_sealed_pseudonym_map(file_vault):
    vault = file_vault
    image = dataclasses.replace(
        make_image(1),
        deid=DeidReport("test", (), ("PatientID",), "NO", pseudonyms={"MRN-1": "anon-1"}),
    )
    vault.put(image, dataset="chest", as_="olivia")
    report = vault.rotate_keys(as_="olivia")
    keys, records = _kek_ids(vault)
    assert keys == {report.new_kek_id} and records == {report.new_kek_id}
    assert vault.pseudonyms(as_="olivia") == {"MRN-1": "anon-1"}


def test_verify_reports_keys_left_on_a_retired_kek(file_vault):
    vault = file_vault
    for i in range(2):
        vault.put(make_image(i), dataset="chest", as_="olivia")
    vault.keyring.rotate()  # the ring moved on, the vault's keys did not
    report = vault.verify(as_="olivia")
    assert report.retired_kek_keys == 2
    vault.rotate_keys(as_="olivia", rotate_ring=False)
    assert vault.verify(as_="olivia").retired_kek_keys == 0
