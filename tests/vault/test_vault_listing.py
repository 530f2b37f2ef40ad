"""Listing pages through the catalogue: ``iter_ls`` and ``medseal vault ls``."""

from __future__ import annotations

import json

import pytest

from conftest import make_image
from medseal.crypto import KeyRing
from medseal.errors import AccessDenied
from medseal.vault import Role, Vault
from medseal.vault import audit as _audit

PASS = "listing passphrase"


def test_iter_ls_pages_in_order_and_records_one_entry_first(vault):
    refs = vault.put_many([make_image(i) for i in range(7)], dataset="chest", as_="olivia")
    vault.put(make_image(9), dataset="other", as_="olivia")
    vault.grant("ana", Role.ANALYST, dataset="chest", as_="olivia")
    listing = vault.iter_ls(as_="ana", page_size=3)
    with vault.catalog.connect() as conn:
        last = _audit.entries(conn)[-1]
    assert (last.action, last.outcome, last.detail["count"]) == ("list", "ok", 7)
    assert listing.total == 7
    assert [i.id for i in listing] == [i.id for i in vault.ls(as_="ana")]
    assert sorted(i.id for i in vault.iter_ls(as_="olivia", page_size=2)) == sorted(
        [r.id for r in refs] + [i.id for i in vault.ls(as_="olivia", dataset="other")]
    )
    with pytest.raises(AccessDenied):
        vault.iter_ls(as_="ana", dataset="other")


@pytest.fixture
def env(tmp_path, monkeypatch):
    ring = KeyRing.create(tmp_path / "ring.json", PASS, scrypt_n=2**10)
    with Vault.init(tmp_path / "vault", keyring=ring, owner="olivia") as v:
        v.put_many([make_image(i, shape=(8, 8)) for i in range(12)], dataset="chest", as_="olivia")
    for k, val in {
        "MEDSEAL_PASSPHRASE": PASS, "MEDSEAL_KEYRING": str(tmp_path / "ring.json"),
        "MEDSEAL_VAULT": str(tmp_path / "vault"), "MEDSEAL_USER": "olivia",
    }.items():  # fmt: skip
        monkeypatch.setenv(k, val)
    return tmp_path


def test_cli_ls_streams_json_and_pages_the_table(env, capsys, monkeypatch):
    from medseal.cli import main, vault_cmd

    assert main(["vault", "ls", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert len(items) == 12 and {"id", "dataset", "shape", "bytes"} <= set(items[0])
    assert main(["vault", "ls", "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert "12 objects" in out and "showing 5 of 12" in out
    assert sum(i["id"] in out for i in items) == 5
    monkeypatch.setattr(vault_cmd, "_TABLE_ROWS", 4)  # past it: plain lines, all of them
    assert main(["vault", "ls", "--limit", "0"]) == 0
    out = capsys.readouterr().out
    assert all(i["id"] in out for i in items) and "showing" not in out
