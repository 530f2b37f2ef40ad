"""Every role x action pair, enforced by the vault's policy and recorded in the audit log."""

from __future__ import annotations

import pytest

from conftest import make_image
from medseal.errors import AccessDenied, InvalidIdError, NotFoundError
from medseal.vault import Role

OK, DENIED, HIDDEN = "ok", "denied", "hidden"

# principal -> (role, dataset) grants; "olivia" owns the vault.
PRINCIPALS = {
    "olivia": None,
    "clara": (Role.CLINICIAN, "chest"),
    "ana": (Role.ANALYST, "chest"),
    "audrey": (Role.AUDITOR, "*"),
    "bob": (Role.CLINICIAN, "brain"),  # a grant, but on another dataset
    "eve": "none",  # no grant at all
}

EXPECTED = {
    #            put     ls      show    get     get_enc export  verify  audit   grant   rotate  pseudo
    "olivia": (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    "clara": (OK, OK, OK, OK, OK, OK, DENIED, DENIED, DENIED, DENIED, DENIED),
    "ana": (DENIED, OK, OK, DENIED, OK, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED),
    "audrey": (DENIED, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED, OK, DENIED, DENIED, DENIED),
    "bob": (DENIED, DENIED, HIDDEN, HIDDEN, HIDDEN, HIDDEN, DENIED, DENIED, DENIED, DENIED, DENIED),
    "eve": (DENIED, DENIED, HIDDEN, HIDDEN, HIDDEN, HIDDEN, DENIED, DENIED, DENIED, DENIED, DENIED),
}
ACTIONS = (
    "put",
    "ls",
    "show",
    "get",
    "get_encrypted",
    "export",
    "verify",
    "audit",
    "grant",
    "rotate",
    "pseudonyms",
)


@pytest.fixture
def populated(vault):
    ref = vault.put(make_image(), dataset="chest", as_="olivia")
    for name, spec in PRINCIPALS.items():
        if isinstance(spec, tuple):
            vault.grant(name, spec[0], dataset=spec[1], as_="olivia")
    return vault, ref


def _do(vault, ref, who, action, tmp_path):
    if action == "put":
        return vault.put(make_image(5), dataset="chest", as_=who)
    if action == "ls":
        return vault.ls(as_=who, dataset="chest")
    if action == "show":
        return vault.show(ref.id, as_=who)
    if action == "get":
        return vault.get(ref.id, as_=who)
    if action == "get_encrypted":
        return vault.get_encrypted(ref.id, as_=who)
    if action == "export":
        return vault.export_dicom(ref.id, tmp_path / "o.dcm", as_=who)
    if action == "verify":
        return vault.verify(as_=who)
    if action == "audit":
        return vault.audit_log(as_=who)
    if action == "grant":
        return vault.grant("zed", Role.ANALYST, dataset="chest", as_=who)
    if action == "rotate":
        return vault.rotate_keys(as_=who)
    if action == "pseudonyms":
        return vault.pseudonyms(as_=who)
    raise AssertionError(action)


@pytest.mark.parametrize("who", list(PRINCIPALS))
@pytest.mark.parametrize("action", ACTIONS)
def test_role_action_matrix(populated, who, action, tmp_path):
    vault, ref = populated
    expected = EXPECTED[who][ACTIONS.index(action)]
    before = len(vault.audit_log(as_="olivia", limit=None))
    if expected == OK:
        _do(vault, ref, who, action, tmp_path)
    elif expected == DENIED:
        with pytest.raises(AccessDenied):
            _do(vault, ref, who, action, tmp_path)
    else:
        with pytest.raises(NotFoundError):
            _do(vault, ref, who, action, tmp_path)
    log = vault.audit_log(as_="olivia", limit=None)
    mine = [e for e in log[before + 1 :] if e.actor == who]
    assert mine, "every access, denials included, is audited"
    if expected != OK:
        assert mine[-1].outcome == "denied"


def test_analyst_never_receives_plaintext(populated):
    vault, ref = populated
    with pytest.raises(AccessDenied):
        vault.get(ref.id, as_="ana")
    sealed = vault.get_encrypted(ref.id, as_="ana")
    assert make_image().pixels.tobytes()[:32] not in sealed


def test_hidden_object_looks_like_missing(populated):
    vault, ref = populated
    with pytest.raises(NotFoundError) as hidden:
        vault.get(ref.id, as_="eve")
    with pytest.raises(NotFoundError) as missing:
        vault.get("0" * 32, as_="eve")
    assert str(hidden.value).replace(ref.id, "X") == str(missing.value).replace("0" * 32, "X")


def test_revoke_removes_access(populated):
    vault, ref = populated
    vault.get(ref.id, as_="clara")
    assert vault.revoke("clara", as_="olivia") == 1
    with pytest.raises(NotFoundError):
        vault.get(ref.id, as_="clara")


@pytest.mark.parametrize(
    "bad", ["../etc/passwd", "", "a" * 31, "G" * 32, "/" + "a" * 31, "a" * 32 + "/.."]
)
def test_bad_ids_refused(vault, bad):
    with pytest.raises(InvalidIdError):
        vault.get(bad, as_="olivia")


@pytest.mark.parametrize("bad", ["", "../x", "a b", "-x", "x" * 65])
def test_bad_principal_and_dataset_names_refused(vault, bad):
    with pytest.raises(InvalidIdError):
        vault.put(make_image(), dataset=bad, as_="olivia")
    with pytest.raises(InvalidIdError):
        vault.ls(as_=bad)
