"""Batched reads keep every guarantee of a single read: policy, integrity, audit first."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from conftest import make_image
from medseal.errors import AccessDenied, IntegrityError, NotFoundError, StorageError
from medseal.vault import Role
from medseal.vault import audit as _audit
from medseal.vault.manifest import blob_key


@pytest.fixture
def stocked(vault):
    refs = vault.put_many([make_image(i) for i in range(5)], dataset="chest", as_="olivia")
    masked = [
        vault.put_masked(r.id, make_image(10 + i).pixels, scheme={"name": "t"}, as_="olivia")
        for i, r in enumerate(refs)
    ]
    vault.grant("ana", Role.ANALYST, dataset="chest", as_="olivia")
    return vault, refs, masked


def _entries(vault):
    with vault.catalog.connect() as conn:
        return _audit.entries(conn)


def test_get_many_returns_every_image_in_order_with_one_audit_entry(stocked):
    vault, refs, _ = stocked
    before = len(_entries(vault))
    ids = [refs[3].id, refs[0].id, refs[4].id]
    images = vault.get_many(ids, as_="olivia")
    for ref_index, img in zip((3, 0, 4), images, strict=True):
        assert np.array_equal(img.pixels, make_image(ref_index).pixels)
    new = _entries(vault)[before:]
    assert len(new) == 1
    assert (new[0].action, new[0].outcome, new[0].dataset) == ("get-plaintext", "ok", "chest")
    assert new[0].detail["objects"] == ids
    assert vault.verify_audit(as_="olivia") == before + 1


def test_get_masked_many_serves_analysts_and_refuses_originals(stocked):
    vault, refs, masked = stocked
    got = vault.get_masked_many([m.id for m in masked], as_="ana")
    for i, pixels in enumerate(got):
        assert np.array_equal(pixels, make_image(10 + i).pixels)
    with pytest.raises(AccessDenied, match="not a masked"):
        vault.get_masked_many([masked[0].id, refs[0].id], as_="ana")
    with pytest.raises(AccessDenied):
        vault.get_many([refs[0].id], as_="ana")  # analysts never read plaintext
    batches = list(vault.iter_masked(dataset="chest", as_="ana", batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]


def test_a_stranger_is_told_nothing_exists(stocked):
    vault, refs, _ = stocked
    vault.grant("bob", Role.ANALYST, dataset="other", as_="olivia")
    with pytest.raises(NotFoundError):
        vault.get_many([refs[0].id], as_="bob")
    with pytest.raises(NotFoundError):
        vault.get_many([refs[0].id, "0" * 32], as_="olivia")


def test_a_tampered_blob_in_a_batch_releases_nothing_and_is_recorded(stocked):
    vault, refs, _ = stocked
    path = vault.blobs._local_path(blob_key(refs[2].id))
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        vault.get_many([r.id for r in refs], as_="olivia")
    last = _entries(vault)[-1]
    assert (last.action, last.outcome, last.target) == ("get-plaintext", "error", refs[2].id)


def test_a_batch_read_releases_nothing_when_its_audit_entry_fails(stocked, monkeypatch):
    vault, refs, _ = stocked
    real = _audit.append

    def locked(conn, key, **entry):
        if entry["outcome"] == "ok":
            raise sqlite3.OperationalError("database is locked")
        return real(conn, key, **entry)

    monkeypatch.setattr("medseal.vault.audit.append", locked)
    with pytest.raises(StorageError, match="nothing was released"):
        vault.get_many([r.id for r in refs], as_="olivia")


def test_large_batches_decode_in_threads_with_the_same_result(vault):
    images = [make_image(i, shape=(512, 512), bits=16) for i in range(4)]
    refs = vault.put_many(images, dataset="ct", as_="olivia")
    got = vault.get_many([r.id for r in refs], as_="olivia")
    for img, back in zip(images, got, strict=True):
        assert np.array_equal(img.pixels, back.pixels)
