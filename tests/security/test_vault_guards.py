"""Guards: full-match names, private files, honest masked copies of any bit depth (issue 12, part 6)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from conftest import make_image
from medseal.errors import InputError, InvalidIdError
from medseal.vault import Role, Vault


@pytest.mark.parametrize("name", ["olivia\n", "chest\n", "olivia\r\n"])
def test_names_with_a_trailing_newline_are_refused(vault, name):
    with pytest.raises(InvalidIdError):
        vault.grant(name, Role.ANALYST, dataset="chest", as_="olivia")
    with pytest.raises(InvalidIdError):
        vault.put(make_image(1), dataset=name, as_="olivia")
    with pytest.raises(InvalidIdError):
        vault.ls(as_=name)


def test_object_ids_with_a_trailing_newline_are_refused(vault):
    ref = vault.put(make_image(1), dataset="chest", as_="olivia")
    with pytest.raises(InvalidIdError):
        vault.show(ref.id + "\n", as_="olivia")


def test_catalogue_and_settings_are_private_to_their_owner(tmp_path, keyring):
    old = os.umask(0o022)
    try:
        vault = Vault.init(tmp_path / "v", keyring=keyring, owner="olivia")
        vault.put(make_image(1), dataset="chest", as_="olivia")
    finally:
        os.umask(old)
    for name in ("vault.json", "catalog.sqlite", "audit-anchor.json"):
        mode = stat.S_IMODE(os.stat(vault.root / name).st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
    vault.close()


def test_put_masked_refuses_pixels_equal_to_the_source(vault):
    src = make_image(1, bits=8)
    ref = vault.put(src, dataset="chest", as_="olivia")
    with pytest.raises(InputError, match="identity"):
        vault.put_masked(ref.id, src.pixels.astype(np.uint8), scheme={"scheme": "id"}, as_="olivia")
    assert [i.kind for i in vault.ls(as_="olivia")] == ["image"]


def test_masking_a_16_bit_ct_keeps_the_masked_copys_bit_depth(vault):
    from pydicom.data import get_testdata_file

    from medseal.ingest import read_dicom

    ct = read_dicom(get_testdata_file("CT_small.dcm"), deidentifier=vault.deidentifier)
    assert ct.bits_stored == 16
    ref = vault.put(ct, dataset="ct", as_="olivia")
    rng = np.random.default_rng(0)
    masked = rng.integers(0, 256, size=ct.pixels.shape[:2], dtype=np.uint8)
    mref = vault.put_masked(ref.id, masked, scheme={"scheme": "test"}, as_="olivia")
    np.testing.assert_array_equal(vault.get_masked(mref.id, as_="olivia"), masked)
    assert vault.show(mref.id, as_="olivia").manifest["bits_stored"] == 8


def test_pseudonym_reads_are_their_own_policy_action(vault):
    from medseal.errors import AccessDenied
    from medseal.vault import Action
    from medseal.vault.policy import ROLE_ACTIONS

    assert all(Action.READ_PSEUDONYMS not in ROLE_ACTIONS[r] for r in Role if r != Role.OWNER)
    vault.grant("clara", Role.CLINICIAN, as_="olivia")
    with pytest.raises(AccessDenied, match="read-pseudonyms"):
        vault.pseudonyms(as_="clara")
    assert vault.audit_log(as_="olivia")[-1].action == "read-pseudonyms"
