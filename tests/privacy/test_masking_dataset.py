"""The mask workflow as a library call, and the descriptor that owns the manifest form."""

from __future__ import annotations

import numpy as np
import pytest

from medseal.crypto import KeyRing
from medseal.errors import InputError
from medseal.ingest.datasets import embedded
from medseal.privacy.masking import MaskDescriptor, make_scheme, mask_dataset
from medseal.vault import Vault

OWNER = "olivia"


def test_descriptor_manifest_form_is_the_schemes_description_plus_any_shift() -> None:
    scheme = make_scheme("shuffle+negpos", key=bytes(range(32)), block=4)
    d = MaskDescriptor.of(scheme)
    assert d.to_dict() == scheme.describe()
    shifted = d.shifted((1, -2))
    assert shifted.to_dict() == {**scheme.describe(), "shift": [1, -2]}
    back = MaskDescriptor.from_manifest({"meta": {"scheme": shifted.to_dict()}})
    assert back == shifted and back.same_masking(d) and back.shift == (1, -2)
    assert (back.scheme, back.steps, back.block) == ("shuffle+negpos", ("shuffle", "negpos"), 4)
    assert back.key_id == scheme.key_id and back.learnable_blockwise


def test_descriptor_of_an_unmasked_object_is_empty() -> None:
    d = MaskDescriptor.from_manifest({"meta": {}})
    assert d.steps == () and d.key_id is None and d.block is None


@pytest.fixture
def vault(tmp_path):
    ring = KeyRing.create(tmp_path / "ring.json", "correct horse battery staple")
    v = Vault.init(tmp_path / "v", keyring=ring, owner=OWNER)
    v.ingest(embedded.demo_records()[:6], dataset="chest", as_=OWNER)
    yield v
    v.close()


def test_mask_dataset_stores_one_copy_per_image_and_is_idempotent(vault) -> None:
    rep = mask_dataset(vault, as_=OWNER, dataset="chest", block=4)
    assert (rep.masked, rep.skipped, rep.copies, len(rep.masked_ids)) == (6, 0, 6, 6)
    again = mask_dataset(vault, as_=OWNER, dataset="chest", block=4)
    assert (again.masked, again.skipped, again.copies) == (0, 6, 0)
    info = next(i for i in vault.ls(as_=OWNER, dataset="chest") if i.id == rep.masked_ids[0])
    assert MaskDescriptor.from_manifest(info.manifest) == rep.descriptor
    key = vault.keyring.derive("mask/chest")
    plain = vault.get(info.parent_id, as_=OWNER).pixels
    sch = make_scheme("shuffle+negpos", key=key, block=4, bit_depth=8)
    np.testing.assert_array_equal(vault.get_masked(info.id, as_=OWNER), sch.mask(plain, pad="edge"))


def test_mask_dataset_with_another_block_masks_again(vault) -> None:
    mask_dataset(vault, as_=OWNER, dataset="chest", block=4)
    rep = mask_dataset(vault, as_=OWNER, dataset="chest", block=2)
    assert rep.masked == 6 and rep.descriptor.block == 2


def test_mask_dataset_refuses_key_leaking_shifts_unless_allowed(vault) -> None:
    with pytest.raises(InputError, match="allow-key-leaking-shifts"):
        mask_dataset(vault, as_=OWNER, dataset="chest", block=4, shifts=1)
