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
    from sqlalchemy import create_engine, text

    base = _need("MEDSEAL_TEST_PG_URL")
    name = f"medseal_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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
    assert vault.engine.dialect.name == "postgresql"
    _exercise(vault)
    vault.close()
    again = Vault.open(tmp_path / "v", keyring=keyring)
    assert len(again.ls(as_="olivia")) == 3
    again.close()


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
