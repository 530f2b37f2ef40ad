"""Derived representations (a CKKS ciphertext of an image): stored sealed, read back as bytes."""

from __future__ import annotations

import os

import pytest

from conftest import make_image
from medseal.errors import AccessDenied, InputError, IntegrityError
from medseal.vault import DerivedKind, Role
from medseal.vault.manifest import blob_key

PAYLOAD = os.urandom(3000) + b"ciphertext-marker" * 10


@pytest.fixture
def parent(vault):
    return vault.put(
        make_image(), dataset="chest", as_="olivia", name="p1", label=1, patient="pt", split="test"
    )


def test_a_derived_payload_round_trips_sealed_with_the_parents_catalogue_fields(vault, parent):
    ref = vault.put_derived(
        parent.id, PAYLOAD, kind=DerivedKind.CKKS, describe={"profile": "128", "slots": 4096},
        as_="olivia",
    )  # fmt: skip
    assert ref.kind == "ckks" and ref.dataset == "chest"
    assert vault.get_derived(ref.id, as_="olivia") == PAYLOAD
    info = vault.show(ref.id, as_="olivia")
    assert (info.parent_id, info.label, info.patient, info.split, info.name) == (
        parent.id, 1, "pt", "test", "p1",
    )  # fmt: skip
    assert info.manifest["describe"] == {"profile": "128", "slots": 4096}
    assert {i.kind for i in vault.ls(as_="olivia")} == {"image", "ckks"}
    sealed = vault.blobs.get(blob_key(ref.id))
    assert b"ciphertext-marker" not in sealed and sealed[:5] == b"MSEAL"
    actions = [e.action for e in vault.audit_log(as_="olivia", limit=None)]
    assert "put-derived" in actions and "get-derived" in actions
    assert vault.verify(as_="olivia", deep=True).ok


def test_an_analyst_can_read_a_derived_object_but_not_make_one(vault, parent):
    ref = vault.put_derived(parent.id, PAYLOAD, kind="ckks", describe={}, as_="olivia")
    vault.grant("ana", Role.ANALYST, dataset="chest", as_="olivia")
    assert vault.get_derived(ref.id, as_="ana") == PAYLOAD
    assert vault.audit_log(as_="olivia")[-1].actor == "ana"
    with pytest.raises(AccessDenied):
        vault.put_derived(parent.id, PAYLOAD, kind="ckks", describe={}, as_="ana")
    with pytest.raises(AccessDenied):
        vault.get(parent.id, as_="ana")


def test_an_object_of_another_kind_is_refused_both_ways(vault, parent):
    ref = vault.put_derived(parent.id, PAYLOAD, kind="ckks", describe={}, as_="olivia")
    with pytest.raises(InputError, match="image object, not ckks"):
        vault.get_derived(parent.id, as_="olivia")
    with pytest.raises(InputError, match="ckks object"):
        vault.get(ref.id, as_="olivia")
    with pytest.raises(AccessDenied, match="not a image or masked"):
        vault.get_many([ref.id], as_="olivia")
    with pytest.raises(ValueError):
        vault.put_derived(parent.id, PAYLOAD, kind="paillier", describe={}, as_="olivia")
    with pytest.raises(InputError, match="ckks object, not image"):
        vault.put_derived(ref.id, PAYLOAD, kind="ckks", describe={}, as_="olivia")
    last = vault.audit_log(as_="olivia")[-1]
    assert (last.action, last.outcome) == ("put-derived", "denied")


@pytest.mark.parametrize(
    "describe",
    [
        {"key": "00" * 32},
        {"context": {"secret_key": "abc"}},
        {"keys": [{"galois": 1}]},
        {"layers": [{"blob": b"\x00" * 16}]},
        {"Private_Exponent": 3},
    ],
)
def test_a_description_carrying_key_material_is_refused_and_nothing_is_stored(
    vault, parent, describe
):
    with pytest.raises(InputError, match="must not carry") as err:
        vault.put_derived(parent.id, PAYLOAD, kind="ckks", describe=describe, as_="olivia")
    assert "00" * 32 not in str(err.value) and "abc" not in str(err.value)
    assert [i.kind for i in vault.ls(as_="olivia")] == ["image"]


def test_a_tampered_derived_blob_is_detected_and_nothing_released(vault, parent):
    ref = vault.put_derived(parent.id, PAYLOAD, kind="ckks", describe={}, as_="olivia")
    path = vault.root / "blobs" / blob_key(ref.id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        vault.get_derived(ref.id, as_="olivia")
    assert vault.audit_log(as_="olivia")[-1].outcome == "error"
    assert not vault.verify(as_="olivia").ok


def test_a_batch_derived_from_several_images_keeps_every_parent_in_slot_order(vault, parent):
    second = vault.put(
        make_image(), dataset="chest", as_="olivia", name="p2", label=0, patient="pt", split="test"
    )
    ref = vault.put_derived(
        [second.id, parent.id], PAYLOAD, kind="ckks", describe={"slots": 2}, as_="olivia"
    )
    info = vault.show(ref.id, as_="olivia")
    assert info.manifest["parents"] == [second.id, parent.id]
    # the row's parent is the first slot's; fields the parents disagree on are not claimed
    assert (info.parent_id, info.label, info.patient, info.split, info.name) == (
        second.id, None, "pt", "test", None,
    )  # fmt: skip
    assert vault.get_derived(ref.id, as_="olivia") == PAYLOAD


def test_a_batch_across_data_sets_or_naming_a_parent_twice_is_refused(vault, parent):
    other = vault.put(make_image(), dataset="knee", as_="olivia")
    before = len(vault.ls(as_="olivia"))
    with pytest.raises(InputError, match="one data set"):
        vault.put_derived([parent.id, other.id], PAYLOAD, kind="ckks", describe={}, as_="olivia")
    with pytest.raises(InputError, match="once"):
        vault.put_derived([parent.id, parent.id], PAYLOAD, kind="ckks", describe={}, as_="olivia")
    with pytest.raises(InputError, match="at least one"):
        vault.put_derived([], PAYLOAD, kind="ckks", describe={}, as_="olivia")
    assert len(vault.ls(as_="olivia")) == before
