"""A catalogue writer cannot re-route, relabel or re-kind an object (issue 12, part 3)."""

from __future__ import annotations

import hashlib
import json

import pytest

from conftest import make_image
from medseal.errors import ConfigError, IntegrityError, NotFoundError
from medseal.vault import Role, Vault


@pytest.fixture
def two_datasets(vault):
    ref = vault.put(make_image(1), dataset="chest", as_="olivia", label=1)
    vault.grant("bob", Role.CLINICIAN, dataset="brain", as_="olivia")
    vault.grant("ana", Role.ANALYST, dataset="chest", as_="olivia")
    return vault, ref


def _set(vault, object_id, **values):
    assign = ", ".join(f"{c} = :{c}" for c in values)
    with vault.db.begin() as conn:
        conn.execute(f"UPDATE objects SET {assign} WHERE id = :oid", {**values, "oid": object_id})


def test_row_moved_to_another_dataset_is_refused_and_reported(two_datasets):
    vault, ref = two_datasets
    with pytest.raises(NotFoundError):
        vault.get(ref.id, as_="bob")  # bob holds no grant on chest
    _set(vault, ref.id, dataset="brain")
    with pytest.raises(IntegrityError):
        vault.get(ref.id, as_="bob")
    with pytest.raises(IntegrityError):
        vault.show(ref.id, as_="bob")
    assert vault.ls(as_="bob", dataset="brain") == []
    report = vault.verify(as_="olivia")
    assert not report.ok and any(ref.id in p for p in report.problems)
    assert any(e.outcome == "tampered" for e in vault.audit_log(as_="olivia"))


def test_moved_row_with_a_rewritten_manifest_is_still_refused(two_datasets):
    """Rewriting the manifest and its hash to match does not help: the row MAC needs the key ring."""
    vault, ref = two_datasets
    info = vault.show(ref.id, as_="olivia")
    forged = json.dumps(
        {**info.manifest, "dataset": "brain"}, sort_keys=True, separators=(",", ":")
    )
    _set(
        vault,
        ref.id,
        dataset="brain",
        manifest=forged,
        manifest_sha256=hashlib.sha256(forged.encode()).hexdigest(),
    )
    with pytest.raises(IntegrityError):
        vault.get(ref.id, as_="bob")
    assert not vault.verify(as_="olivia").ok


def test_image_relabelled_as_masked_is_not_served_to_an_analyst(two_datasets):
    vault, ref = two_datasets
    _set(vault, ref.id, kind="masked")
    with pytest.raises(IntegrityError):
        vault.get_masked(ref.id, as_="ana")


def test_label_or_parent_edit_is_detected_by_verify(two_datasets):
    vault, ref = two_datasets
    other = vault.put(make_image(2), dataset="chest", as_="olivia")
    _set(vault, ref.id, label=0)
    _set(vault, other.id, parent_id=ref.id)
    problems = vault.verify(as_="olivia").problems
    assert any(ref.id in p for p in problems) and any(other.id in p for p in problems)


def test_catalogue_of_an_older_schema_is_refused_clearly(vault, keyring):
    with vault.db.begin() as conn:
        conn.execute("UPDATE settings SET value = '1' WHERE \"key\" = 'schema_version'")
    vault.close()
    with pytest.raises(ConfigError, match="older medseal"):
        Vault.open(vault.root, keyring=keyring)
