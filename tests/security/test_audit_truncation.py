"""The audit log cannot be cut, rolled back or bypassed (issue 12, part 2)."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from conftest import make_image
from medseal.crypto import KeyRing
from medseal.errors import AuditChainError, StorageError
from medseal.vault import Vault
from medseal.vault import audit as audit_mod

PASS = "audit test passphrase"


@pytest.fixture
def file_vault(tmp_path, monkeypatch):
    ring = KeyRing.create(tmp_path / "ring.json", PASS, scrypt_n=2**10)
    vault = Vault.init(tmp_path / "vault", keyring=ring, owner="olivia")
    ref = vault.put(make_image(1), dataset="chest", as_="olivia")
    vault.get(ref.id, as_="olivia")
    monkeypatch.setenv("MEDSEAL_PASSPHRASE", PASS)
    monkeypatch.setenv("MEDSEAL_KEYRING", str(tmp_path / "ring.json"))
    monkeypatch.setenv("MEDSEAL_VAULT", str(tmp_path / "vault"))
    monkeypatch.setenv("MEDSEAL_USER", "olivia")
    yield vault, ref
    vault.close()


def _backup(db, copy):
    src, dst = sqlite3.connect(db), sqlite3.connect(copy)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def test_cut_tail_with_a_stored_entrys_mac_as_head_is_detected(vault):
    """A database writer deletes the newest entries and copies a stored entry into the head."""
    for i in range(3):
        vault.put(make_image(i), dataset="chest", as_="olivia")
    with vault.db.begin() as conn:
        rows = list(conn.execute("SELECT * FROM audit ORDER BY seq"))
        keep = rows[-3]
        conn.execute("DELETE FROM audit WHERE seq > :s", {"s": keep.seq})
        values = {"s": keep.seq, "h": keep.hash, "m": keep.mac}
        conn.execute("UPDATE audit_head SET seq = :s, hash = :h, mac = :m", values)
    with vault.db.connect() as conn, pytest.raises(AuditChainError, match="head"):
        audit_mod.verify_chain(conn, vault._audit_key)
    with pytest.raises(AuditChainError):
        vault.verify_audit(as_="olivia")
    assert not vault.verify(as_="olivia").ok


def test_catalogue_restored_from_an_older_copy_is_detected(file_vault, tmp_path):
    vault, ref = file_vault
    db = vault.root / "catalog.sqlite"
    old = tmp_path / "old.sqlite"
    _backup(db, old)
    for _ in range(3):
        vault.get(ref.id, as_="olivia")  # reads the attacker wants to hide
    vault.close()
    for suffix in ("-wal", "-shm"):
        (vault.root / f"catalog.sqlite{suffix}").unlink(missing_ok=True)
    shutil.copyfile(old, db)
    ring = KeyRing.open(tmp_path / "ring.json", PASS)
    with Vault.open(vault.root, keyring=ring) as restored:
        with pytest.raises(AuditChainError, match="older copy"):
            restored.verify_audit(as_="olivia")
        report = restored.verify(as_="olivia")
        assert not report.ok and any("anchor" in p for p in report.problems)


def test_cli_audit_verify_fails_on_a_restored_catalogue(file_vault, tmp_path, capsys):
    from medseal.cli import main

    vault, ref = file_vault
    db = vault.root / "catalog.sqlite"
    _backup(db, tmp_path / "old.sqlite")
    vault.get(ref.id, as_="olivia")
    vault.close()
    for suffix in ("-wal", "-shm"):
        (vault.root / f"catalog.sqlite{suffix}").unlink(missing_ok=True)
    shutil.copyfile(tmp_path / "old.sqlite", db)
    assert main(["vault", "audit", "--verify"]) == 1
    assert "BROKEN" in capsys.readouterr().out
    assert main(["vault", "verify"]) == 1


def _refuse_reads(monkeypatch):
    real = audit_mod.append

    def locked(conn, key, **entry):
        if entry["action"] != "put" and entry["outcome"] == "ok":
            raise sqlite3.OperationalError("database is locked")
        return real(conn, key, **entry)

    monkeypatch.setattr("medseal.vault.audit.append", locked)


def test_get_releases_nothing_when_its_audit_entry_cannot_be_written(file_vault, monkeypatch):
    vault, ref = file_vault
    _refuse_reads(monkeypatch)
    for read in (vault.get, vault.get_encrypted, vault.pseudonyms):
        args = () if read == vault.pseudonyms else (ref.id,)
        with pytest.raises(StorageError, match="nothing was released"):
            read(*args, as_="olivia")
    monkeypatch.undo()
    actions = [e.action for e in vault.audit_log(as_="olivia") if e.outcome == "ok"]
    assert actions.count("get-plaintext") == 1  # only the fixture's read


def test_cli_get_writes_no_file_and_one_line_when_the_audit_fails(
    file_vault, monkeypatch, tmp_path, capsys
):
    from medseal.cli import main

    vault, ref = file_vault
    _refuse_reads(monkeypatch)
    for name in ("x.dcm", "x.npy", "x.sealed"):
        out = tmp_path / name
        extra = ["--encrypted"] if name == "x.sealed" else []
        rc = main(["vault", "get", ref.id, "-o", str(out), *extra])
        captured = capsys.readouterr()
        assert rc != 0
        assert not out.exists(), f"{name} was written although its read was not audited"
        lines = [ln for ln in captured.err.splitlines() if ln.strip()]
        assert len(lines) == 1 and "audit" in lines[0] and "Traceback" not in captured.err


def test_a_new_vault_is_anchored_and_a_deleted_anchor_is_reported(vault):
    assert vault.verify_audit(as_="olivia") == 1  # just the init entry, already anchored
    vault.anchor.path.unlink()
    with pytest.raises(AuditChainError, match="anchor"):
        vault.verify_audit(as_="olivia")
