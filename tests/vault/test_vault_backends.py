"""The vault on a real PostgreSQL server and on S3 (moto's standalone server).

`make test` starts both on loopback and sets MEDSEAL_TEST_PG_URL and
MEDSEAL_TEST_S3_ENDPOINT. Elsewhere these tests skip, except under CI, where a
missing server is a failure (so they can never pass by being skipped).
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest

from conftest import make_image
from medseal.vault import Role, Vault


def _need(var: str) -> str:
    value = os.environ.get(var)
    if value:
        return value
    if os.environ.get("CI"):
        pytest.fail(f"{var} is not set: `make test` should have started the server")
    pytest.skip(f"{var} not set (run the suite with `make test`, which starts the server)")


@pytest.fixture
def pg_url():
    import psycopg

    base = _need("MEDSEAL_TEST_PG_URL")
    name = f"medseal_{uuid.uuid4().hex[:12]}"
    conninfo = "postgresql://" + base.split("://", 1)[1]  # psycopg takes no '+driver'
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield base.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def s3_url(monkeypatch):
    import s3fs

    endpoint = _need("MEDSEAL_TEST_S3_ENDPOINT")
    monkeypatch.setenv("MEDSEAL_S3_ENDPOINT", endpoint)
    bucket = f"medseal-{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(
        client_kwargs={"endpoint_url": endpoint}, key="testing", secret="testing"
    )
    fs.mkdir(bucket)
    return f"s3://{bucket}/vault"


def _exercise(vault: Vault) -> None:
    refs = [vault.put(make_image(i), dataset="chest", as_="olivia", label=i % 2) for i in range(3)]
    vault.grant("clara", Role.CLINICIAN, dataset="chest", as_="olivia")
    for i, ref in enumerate(refs):
        assert np.array_equal(vault.get(ref.id, as_="clara").pixels, make_image(i).pixels)
    assert len(vault.ls(as_="clara")) == 3
    report = vault.verify(as_="olivia", deep=True)
    assert report.ok and report.checked == 3, report.problems
    assert vault.rotate_keys(as_="olivia").rewrapped == 3
    assert vault.verify_audit(as_="olivia") > 5


@pytest.mark.postgres
def test_vault_on_postgresql(tmp_path, keyring, pg_url):
    vault = Vault.init(tmp_path / "v", keyring=keyring, owner="olivia", db=pg_url)
    assert vault.db.dialect == "postgresql"
    _exercise(vault)
    vault.close()
    again = Vault.open(tmp_path / "v", keyring=keyring)
    assert len(again.ls(as_="olivia")) == 3
    again.close()


@pytest.mark.postgres
def test_postgresql_pages_batches_and_records_like_sqlite(tmp_path, keyring, pg_url):
    """The paths SQLite-only tests cover most: group commit, IN lists, paging on
    timestamps, audit windows, grant removal counts, sealed records, the gc lock."""
    vault = Vault.init(tmp_path / "v", keyring=keyring, owner="olivia", db=pg_url)
    refs = vault.put_many(
        [make_image(i) for i in range(7)], dataset="chest", as_="olivia", batch_size=3
    )
    got = vault.get_many([refs[5].id, refs[0].id, refs[5].id], as_="olivia")
    assert len(got) == 3
    for g, i in zip(got, (5, 0, 5), strict=True):
        assert np.array_equal(g.pixels, make_image(i).pixels)
    paged = [o.id for o in vault.iter_ls(as_="olivia", page_size=2)]
    assert paged == [r.id for r in refs]  # oldest first, every page after the last (time, id)
    assert all(o.created_at.tzinfo is not None for o in vault.ls(as_="olivia"))
    vault.grant("clara", Role.CLINICIAN, dataset="chest", as_="olivia")
    vault.grant("clara", Role.ANALYST, dataset="chest", as_="olivia")
    assert vault.revoke("clara", Role.ANALYST, dataset="chest", as_="olivia") == 1
    assert vault.revoke("clara", as_="olivia") == 1
    window = vault.audit_log(as_="olivia", limit=3)
    assert len(window) == 3 and [e.seq for e in window] == sorted(e.seq for e in window)
    assert vault.collect_garbage(as_="olivia") == 0
    assert vault.verify(as_="olivia", deep=True).ok
    vault.close()


def _writers_in_threads(vault: Vault) -> None:
    """Three writers at once: each appends to the audit chain after the others commit."""
    import threading

    errors: list[BaseException] = []

    def write(offset: int) -> None:
        try:
            for i in range(8):
                vault.put(make_image(offset + i), dataset="chest", as_="olivia")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k * 10,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(vault.ls(as_="olivia")) == 24
    assert vault.verify_audit(as_="olivia") >= 25


@pytest.mark.postgres
def test_postgresql_writers_in_threads_chain_the_audit_log(tmp_path, keyring, pg_url):
    """PostgreSQL: the head row is locked until commit (``SELECT ... FOR UPDATE``)."""
    vault = Vault.init(tmp_path / "v", keyring=keyring, owner="olivia", db=pg_url)
    _writers_in_threads(vault)
    vault.close()


def test_sqlite_writers_in_threads_chain_the_audit_log(vault):
    """SQLite: the same three writers (each write transaction is ``BEGIN IMMEDIATE``)."""
    _writers_in_threads(vault)


@pytest.mark.s3
def test_vault_on_s3(tmp_path, keyring, s3_url):
    vault = Vault.init(tmp_path / "v", keyring=keyring, owner="olivia", blobs=s3_url)
    assert not vault.blobs.local
    _exercise(vault)
    assert len(list(vault.blobs.keys("objects"))) == 3
    vault.close()


@pytest.mark.postgres
@pytest.mark.s3
def test_vault_on_postgresql_and_s3(tmp_path, keyring, pg_url, s3_url):
    vault = Vault.init(tmp_path / "v", keyring=keyring, owner="olivia", db=pg_url, blobs=s3_url)
    _exercise(vault)
    vault.close()


def test_credentials_in_settings_refused(tmp_path, keyring):
    from medseal.errors import ConfigError

    with pytest.raises(ConfigError, match="credential"):
        Vault.init(
            tmp_path / "v",
            keyring=keyring,
            owner="olivia",
            blobs="s3://b/p",
            storage_options={"secret": "x"},
        )
