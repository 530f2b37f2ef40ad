"""The catalogue row MAC: the fast path writes the same bytes, and a listing still refuses tampering."""

from __future__ import annotations

import hashlib
import hmac
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medseal.types import Image
from medseal.vault import manifest as M

KEY = b"k" * 32
_value = st.one_of(st.none(), st.text(max_size=40), st.integers(-(2**70), 2**70))


def reference_mac(key: bytes, values: dict[str, object]) -> str:
    """The row MAC as docs/format.md defines it, written independently of medseal."""
    body = json.dumps(
        {c: values.get(c) for c in M.BOUND_COLUMNS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()
    return hmac.new(key, b"medseal-object-row-v2\x00" + body, hashlib.sha256).hexdigest()


@given(st.lists(_value, min_size=len(M.BOUND_COLUMNS), max_size=len(M.BOUND_COLUMNS)))
def test_row_mac_equals_the_reference_for_any_str_int_or_null_columns(values):
    row = dict(zip(M.BOUND_COLUMNS, values, strict=True))
    assert M.row_mac(KEY, row) == reference_mac(KEY, row)


def test_row_mac_of_numpy_and_bool_values_takes_the_general_path_and_agrees():
    row = {c: f"v-{c}-\u00e9\n\"" for c in M.BOUND_COLUMNS}
    row.update(label=np.int64(3), blob_size=np.uint32(7), payload_size=True)
    plain = {**row, "label": 3, "blob_size": 7, "payload_size": True}
    assert M.row_mac(KEY, row) == reference_mac(KEY, plain)


@pytest.fixture
def listed(vault):
    images = [Image(pixels=np.full((4, 4), i, np.uint8), bits_stored=8) for i in range(5)]
    refs = vault.put_many(images, dataset="d", as_="olivia")
    return vault, refs


def test_a_listing_skips_a_row_whose_bound_column_was_changed(listed, caplog):
    vault, refs = listed
    with vault.catalog.begin() as conn:  # a catalogue writer without the key ring relabels one
        conn.execute("UPDATE objects SET label = 1 WHERE id = :i", {"i": refs[2].id})
    ids = [i.id for i in vault.iter_ls(as_="olivia", page_size=2)]
    assert ids == [r.id for r in refs if r.id != refs[2].id]
    assert "does not match its authenticated manifest" in caplog.text
    assert [i.id for i in vault.ls(as_="olivia")] == ids


def test_a_listing_skips_a_row_whose_manifest_was_swapped(listed, caplog):
    vault, refs = listed
    with vault.catalog.connect() as conn:
        other = conn.execute("SELECT * FROM objects WHERE id = :i", {"i": refs[0].id}).first()
    with vault.catalog.begin() as conn:
        conn.execute(
            "UPDATE objects SET manifest = :m, manifest_sha256 = :h WHERE id = :i",
            {"m": other.manifest, "h": other.manifest_sha256, "i": refs[1].id},
        )
    assert refs[1].id not in {i.id for i in vault.iter_ls(as_="olivia")}
    assert "authenticated manifest" in caplog.text


def test_listed_rows_carry_every_column_the_listing_reads(listed):
    vault, refs = listed
    infos = list(vault.iter_ls(as_="olivia"))
    assert [i.id for i in infos] == [r.id for r in refs]
    assert all(i.manifest["shape"] == [4, 4] and i.dataset == "d" for i in infos)
    assert all(i.blob_size > 0 and i.created_by == "olivia" for i in infos)
