"""The audit log detects any edited, removed, reordered or truncated entry."""

from __future__ import annotations

import pytest

from conftest import make_image
from medseal.errors import AuditChainError
from medseal.vault import audit as audit_mod


@pytest.fixture
def busy(vault):
    for i in range(4):
        ref = vault.put(make_image(i), dataset="chest", as_="olivia")
        vault.get(ref.id, as_="olivia")
    assert vault.verify_audit(as_="olivia") > 8
    return vault


def _rows(vault):
    with vault.db.connect() as conn:
        return list(conn.execute("SELECT * FROM audit ORDER BY seq"))


def test_intact_chain_verifies(busy):
    n = busy.verify_audit(as_="olivia")
    assert n == len(_rows(busy)) - 1  # the verify itself is appended after checking


def test_edited_entry_detected(busy):
    with busy.db.begin() as conn:
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 3")
    with pytest.raises(AuditChainError, match="entry 3"):
        busy.verify_audit(as_="olivia")


def test_removed_entry_detected(busy):
    with busy.db.begin() as conn:
        conn.execute("DELETE FROM audit WHERE seq = 4")
    with pytest.raises(AuditChainError):
        busy.verify_audit(as_="olivia")


def test_reordered_entries_detected(busy):
    rows = _rows(busy)
    a, b = rows[2], rows[3]
    cols = [
        "ts",
        "actor",
        "action",
        "dataset",
        "target",
        "outcome",
        "detail",
        "prev_hash",
        "hash",
        "mac",
    ]
    assign = ", ".join(f"{c} = :{c}" for c in cols)
    with busy.db.begin() as conn:
        for x, y in ((a, b), (b, a)):
            values = {c: getattr(y, c) for c in cols}
            conn.execute(f"UPDATE audit SET {assign} WHERE seq = :at", {**values, "at": x.seq})
    with pytest.raises(AuditChainError):
        busy.verify_audit(as_="olivia")


def test_truncated_tail_detected(busy):
    last = _rows(busy)[-1].seq
    with busy.db.begin() as conn:
        conn.execute("DELETE FROM audit WHERE seq = :s", {"s": last})
    with pytest.raises(AuditChainError, match="truncated"):
        busy.verify_audit(as_="olivia")


def test_chain_recomputed_without_the_key_detected(busy):
    """An attacker who rewrites an entry and recomputes every hash still lacks the MAC key."""
    rows = _rows(busy)
    prev = audit_mod.GENESIS
    with busy.db.begin() as conn:
        for r in rows:
            actor = "mallory" if r.seq == 2 else r.actor
            fields = audit_mod._fields(
                int(r.seq), r.ts, actor, r.action, r.dataset, r.target, r.outcome, r.detail
            )
            digest = audit_mod._entry_hash(prev, fields)
            conn.execute(
                "UPDATE audit SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s",
                {"a": actor, "p": prev, "h": digest, "s": r.seq},
            )
            prev = digest
        conn.execute("UPDATE audit_head SET hash = :h", {"h": prev})
    with pytest.raises(AuditChainError, match="authentication"):
        busy.verify_audit(as_="olivia")


def test_vault_verify_reports_broken_chain(busy):
    with busy.db.begin() as conn:
        conn.execute("UPDATE audit SET outcome='ok' WHERE seq=2")
        conn.execute("UPDATE audit SET detail='{}' WHERE seq=2")
    report = busy.verify(as_="olivia")
    assert not report.ok
    assert any("audit" in p for p in report.problems)
