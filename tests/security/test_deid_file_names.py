"""PNG/JPEG and .npz items are named by a keyed pseudonym, never by their path; the
path reaches the vault only inside its sealed pseudonym map."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from medseal.errors import InputError
from medseal.ingest import Deidentifier
from medseal.ingest.npz import npz_records
from medseal.ingest.png import image_record

SECRET = b"s" * 32
PHI = ("doe", "john", "mrn555")


def _png(tmp_path: Path) -> tuple[Path, str]:
    folder = tmp_path / "Doe_John_MRN555"
    folder.mkdir()
    path = folder / "John Doe chest.png"
    PILImage.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(path)
    return path, path.relative_to(tmp_path).as_posix()


def _clean(text: str) -> bool:
    return not any(p in text.lower() for p in PHI)


def test_an_image_record_is_named_by_a_keyed_pseudonym(tmp_path):
    path, rel = _png(tmp_path)
    record = image_record(path, rel, deidentifier=Deidentifier(SECRET))
    assert record.key.startswith("img-") and _clean(record.key) and _clean(repr(record))
    # stable under the vault's secret, different under another one
    assert image_record(path, rel, deidentifier=Deidentifier(SECRET)).key == record.key
    assert image_record(path, rel, deidentifier=Deidentifier(b"t" * 32)).key != record.key
    image = record.image()
    assert image.pixels.shape == (8, 8)
    assert image.deid is not None and dict(image.deid.pseudonyms) == {rel: record.key}
    assert _clean(str(image.deid.manifest())) and _clean(str(image.meta))
    assert pickle.loads(pickle.dumps(record.loader))().deid.pseudonyms == {rel: record.key}


def test_errors_of_a_named_image_name_the_pseudonym_not_the_file(tmp_path):
    path, rel = _png(tmp_path)
    path.write_bytes(path.read_bytes()[:40])  # truncated
    record = image_record(path, rel, deidentifier=Deidentifier(SECRET))
    with pytest.raises(InputError) as info:
        record.image()
    assert record.key in str(info.value) and _clean(str(info.value))


def test_npz_items_are_named_by_a_keyed_pseudonym(tmp_path):
    folder = tmp_path / "Doe_John_MRN555"
    folder.mkdir()
    path = folder / "mrn555.npz"
    np.savez(
        path,
        train_images=np.zeros((2, 4, 4), np.uint8),
        train_labels=np.array([[0], [1]]),
    )
    rel = path.relative_to(tmp_path).as_posix()
    records = npz_records(path, rel, deidentifier=Deidentifier(SECRET))
    assert [r.label for r in records] == [0, 1]
    name = records[0].key.split("/")[0]
    assert name.startswith("img-") and [r.key for r in records] == [
        f"{name}/train/00000",
        f"{name}/train/00001",
    ]
    for record in records:
        assert _clean(record.key) and _clean(str(record.meta))
        image = record.image()
        assert image.deid is not None and dict(image.deid.pseudonyms) == {rel: name}
    with pytest.raises(InputError) as info:
        npz_records(folder / "missing.npz", "Doe_John_MRN555/missing.npz")
    assert _clean(str(info.value))


def test_the_vault_lists_the_pseudonym_and_seals_the_path(tmp_path, vault):
    path, rel = _png(tmp_path)
    record = image_record(path, rel, deidentifier=vault.deidentifier)
    report = vault.ingest([record], dataset="xray", as_="olivia")
    assert len(report.refs) == 1 and not report.failures
    names = [info.name for info in vault.ls(as_="olivia")]
    assert names == [record.key] and all(_clean(str(n)) for n in names)
    assert vault.pseudonyms(as_="olivia")[rel] == record.key
    info = vault.show(report.refs[0].id, as_="olivia")
    assert _clean(str(info.manifest))
