"""Data set loaders on the shared data, CheXpert on a built tree, the embedded demo set."""

from __future__ import annotations

import csv
import shutil
from collections import Counter

import numpy as np
import pytest

from medseal.errors import ConfigError
from medseal.ingest import datasets
from medseal.ingest.datasets import breakhis, chexpert, embedded, medmnist, nih, tcia

NIH = "nih-chestxray14-subset"


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_registry(tmp_path, shared_data):
    assert datasets.names() == [
        "breakhis",
        "chexpert",
        "covid19-ny-sbu",
        "embedded",
        "medmnist",
        "nih",
        "nih-chestxray14-more",
    ]
    assert datasets.get("NIH") is nih.load and datasets.get("pneumoniamnist") is medmnist.load
    with pytest.raises(ConfigError, match="unknown data set"):
        datasets.get("imagenet")
    with pytest.raises(ConfigError) as info:
        datasets.find("nih", data_dir=tmp_path)
    msg = str(info.value)
    assert "MEDSEAL_DATA_DIR" in msg and "--data-dir" in msg and "Data_Entry_2017.csv" in msg
    assert datasets.find("nih", data_dir=shared_data) == shared_data / NIH
    # shared/data/breakhis (the 798-image npz) comes before breakhis-sample
    assert len(datasets.load("breakhis", data_dir=shared_data)) == 798
    assert datasets.find("embedded").is_file()


def test_nih_subset(shared_data):
    recs = nih.load(shared_data / NIH)
    assert len(recs) == 1000
    assert Counter(r.split for r in recs) == {"train": 600, "val": 200, "test": 200}
    per_patient = Counter(r.patient_id for r in recs)
    assert len(per_patient) == 264
    assert sum(1 for n in per_patient.values() if n >= 2) == 136
    # the folder says normal, NIH's CSV says Pneumonia: the CSV wins
    odd = [r for r in recs if r.meta["label_disagrees"]]
    assert [r.key for r in odd] == ["00000193_019.png"] and odd[0].label == 1
    assert odd[0].meta["folder_label"] == 0 and odd[0].meta["finding_labels"] == "Pneumonia"
    r0 = recs[0]
    assert {"follow_up", "view", "age", "sex", "patient_id"} <= set(r0.meta)
    assert "patient_id=" not in repr(r0)
    img = r0.image()
    assert img.pixels.shape == (64, 64) and img.pixels.dtype == np.uint8
    # the source splits share patients; the patient-disjoint split does not
    by_split = {s: {r.patient_id for r in recs if r.split == s} for s in ("train", "val", "test")}
    assert by_split["train"] & by_split["val"]
    parts = nih.patient_disjoint_split(recs, (0.6, 0.2, 0.2), seed=0)
    pats = {k: {r.patient_id for r in v} for k, v in parts.items()}
    assert not (
        pats["train"] & pats["val"] or pats["train"] & pats["test"] or pats["val"] & pats["test"]
    )
    assert sum(len(v) for v in parts.values()) == 1000
    assert all(r.split == k for k, v in parts.items() for r in v)
    assert abs(len(parts["train"]) - 600) <= 70  # within one large patient of the target
    again = nih.patient_disjoint_split(recs, seed=0)
    assert [r.key for r in again["test"]] == [r.key for r in parts["test"]]
    other = nih.patient_disjoint_split(recs, seed=1)
    assert [r.key for r in other["test"]] != [r.key for r in parts["test"]]
    assert len(nih.load(shared_data / NIH, include_fullres=True)) == 1003


def test_nih_public_layout(tmp_path, shared_data):
    src = shared_data / NIH
    root = tmp_path / "ChestX-ray14"
    (root / "images_001" / "images").mkdir(parents=True)
    rows = list(_rows(src / "Data_Entry_2017_rows.csv"))[:5]
    with open(src / "Data_Entry_2017_rows.csv", newline="") as fh:
        header = fh.readline()
    lines = [header.strip()]
    with open(src / "Data_Entry_2017_rows.csv", newline="") as fh:
        lines += [line.strip() for line in fh.readlines()[1:6]]
    (root / "Data_Entry_2017.csv").write_text("\n".join(lines) + "\n")
    manifest = {
        r["path"].rsplit("/", 1)[1]: r["path"]
        for r in _rows(src / "manifest.csv")
        if r["split"] != "fullres"
    }
    for r in rows[:4]:  # one image is missing on disk: it is skipped
        shutil.copy(
            src / manifest[r["Image Index"]], root / "images_001" / "images" / r["Image Index"]
        )
    (root / "test_list.txt").write_text(rows[0]["Image Index"] + "\n")
    recs = nih.load(root)
    assert [r.key for r in recs] == [r["Image Index"] for r in rows[:4]]
    assert recs[0].split == "test" and recs[1].split is None
    assert [r.label for r in recs] == [
        0 if r["Finding Labels"] == "No Finding" else 1 for r in rows[:4]
    ]
    assert recs[0].patient_id == str(int(rows[0]["Patient ID"]))
    assert recs[0].image().pixels.shape == (64, 64)


def test_breakhis_sample(shared_data):
    recs = breakhis.load(shared_data / "breakhis-sample")
    assert len(recs) == 12
    assert Counter(r.label for r in recs) == {0: 8, 1: 4}
    # 9 slides (SOURCE.md's "11 distinct slides" contradicts its own table of 9)
    assert len({r.patient_id for r in recs}) == 9
    series = breakhis.magnification_series(recs)
    s = series["14-25197"]
    assert [r.meta["magnification"] for r in s] == [40, 100, 200, 400]
    assert [r.meta["seq"] for r in s] == [23, 1, 32, 33]
    assert s[0].meta["tumor_type"] == "fibroadenoma" and s[0].patient_id == "14-25197"
    img = s[0].image()
    assert img.pixels.shape == (460, 700, 3) and img.photometric == "RGB"
    # labels agree with the sample's labels.csv
    truth = {
        row["filename"]: int(row["binary_label"])
        for row in _rows(shared_data / "breakhis-sample/labels.csv")
    }
    assert {r.key: r.label for r in recs} == truth
    assert breakhis.parse_name("not_breakhis.png") is None


def test_breakhis_official_tree(tmp_path, shared_data):
    name = "SOB_M_DC-14-2523-40-010.png"
    folder = (
        tmp_path
        / "BreaKHis_v1/histology_slides/breast/malignant/SOB/ductal_carcinoma/SOB_M_DC_14-2523/40X"
    )
    folder.mkdir(parents=True)
    shutil.copy(shared_data / "breakhis-sample" / name, folder / name)
    recs = breakhis.load(tmp_path / "BreaKHis_v1")
    assert len(recs) == 1 and recs[0].label == 1 and recs[0].meta["magnification"] == 40


def test_medmnist_default_file(shared_data):
    recs = medmnist.load(shared_data / "pneumoniamnist")
    assert recs[0].meta["dataset"] == "pneumoniamnist__varun19424"
    counts = Counter((r.split, r.label) for r in recs)
    assert (counts["val", 0], counts["val", 1]) == (135, 389)
    assert (counts["test", 0], counts["test", 1]) == (234, 390)
    other = medmnist.load(
        shared_data / "pneumoniamnist", file="pneumoniamnist_balanced__aksufatih.npz"
    )
    assert len(other) == 2428 + 270 + 468


def test_covid_series(shared_data):
    recs = tcia.load(shared_data / "covid19-ny-sbu-ct-followup")
    assert len(recs) == 60
    studies = {(r.patient_id, r.meta["study_index"]) for r in recs}
    assert len({p for p, _ in studies}) == 10 and len(studies) == 20
    a = [r for r in recs if r.patient_id == "A048383"]
    assert {r.meta["days_from_first_study"] for r in a} == {0, 100}
    assert all(r.meta["study_index"] == (r.meta["days_from_first_study"] > 0) for r in a)
    assert len(tcia.series(recs)) == 60  # one slice per series in this sample
    # all records of one load share a de-identifier: one pseudonym per patient
    imgs = [r.image() for r in a]
    assert len({i.header.PatientID for i in imgs}) == 1 and imgs[0].header.PatientID != "A048383"
    assert "patient_id=" not in repr(a[0])  # hidden (the key is the path relative to root)


def test_tcia_orders_slices_along_the_normal(tmp_path, shared_data):
    import pydicom

    src = shared_data / "covid19-ny-sbu-ct-followup/A002304/axial/19001231-076.dcm"
    ds = pydicom.dcmread(src)
    z0 = float(ds.ImagePositionPatient[2])
    for i, dz in enumerate([10.0, -5.0, 0.0]):
        ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1], z0 + dz]
        ds.InstanceNumber = 3 - i
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(tmp_path / f"s{i}.dcm")
    recs = tcia.load(tmp_path, deidentify=False)
    assert [r.key for r in recs] == ["s1.dcm", "s2.dcm", "s0.dcm"]  # z = -5, 0, +10
    assert [r.meta["slice_index"] for r in recs] == [0, 1, 2] and recs[0].meta["n_slices"] == 3


def test_chexpert_built_tree(tmp_path, shared_data):
    from PIL import Image as PILImage

    root = tmp_path / "CheXpert-v1.0-small"
    pngs = sorted((shared_data / NIH / "NIH1000_64px/train/0_normal").glob("*.png"))[:3]
    rows = [
        ("train/patient00001/study1/view1_frontal.jpg", "Frontal", "1.0"),
        ("train/patient00001/study2/view1_frontal.jpg", "Frontal", ""),
        ("valid/patient64541/study1/view1_frontal.jpg", "Frontal", "0.0"),
    ]
    for (rel, _, _), png in zip(rows, pngs, strict=True):
        out = root / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        PILImage.open(png).convert("L").save(out, quality=95)
    cols = "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Cardiomegaly\n"
    (root / "train.csv").write_text(
        cols + "".join(f"CheXpert-v1.0-small/{r},Female,68,{v},AP,{nf},\n" for r, v, nf in rows[:2])
    )
    (root / "valid.csv").write_text(
        cols
        + "".join(f"CheXpert-v1.0-small/{r},Male,41,{v},PA,{nf},1.0\n" for r, v, nf in rows[2:])
    )
    recs = chexpert.load(root)
    assert [r.key for r in recs] == [r for r, _, _ in rows]
    assert [r.label for r in recs] == [0, 1, 1]
    assert [r.split for r in recs] == ["train", "train", "val"]
    assert [r.patient_id for r in recs] == ["patient00001", "patient00001", "patient64541"]
    assert [r.meta["study"] for r in recs] == [1, 2, 1]
    img = recs[0].image()
    assert img.pixels.shape == (64, 64) and img.meta["source_format"] == "jpeg"
    with pytest.raises(ConfigError):
        chexpert.load(tmp_path)


def test_embedded_demo_set(shared_data):
    recs = embedded.demo_records()
    assert len(recs) == 300
    counts = Counter((r.split, r.label) for r in recs)
    assert counts == {
        ("train", 0): 80,
        ("train", 1): 80,
        ("val", 0): 30,
        ("val", 1): 30,
        ("test", 0): 40,
        ("test", 1): 40,
    }
    imgs = {r.key: r.image().pixels.tobytes() for r in recs}
    assert len(set(imgs.values())) == 300  # no duplicate image anywhere
    assert embedded.data_path().stat().st_size < 400_000
    # every embedded test image is an official test image, and no other split holds one
    with np.load(shared_data / "pneumoniamnist/pneumoniamnist__varun19424.npz") as src:
        official_test = {img.tobytes() for img in src["test_images"]}
        official_train = {img.tobytes() for img in src["train_images"]}
    for r in recs:
        assert (imgs[r.key] in official_test) == (r.split == "test"), r.key
        if r.split == "train":
            assert imgs[r.key] in official_train


def test_embedded_build_is_reproducible(shared_data, tmp_path):
    from medseal.ingest.datasets import _build_embedded

    out = tmp_path / "demo.npz"
    _build_embedded.build(
        shared_data / "pneumoniamnist/pneumoniamnist__varun19424.npz", out, seed=0
    )
    with np.load(out) as a, np.load(embedded.data_path()) as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            assert np.array_equal(a[k], b[k]), k


def test_every_medmnist_2d_set_is_found_by_its_real_name(shared_data, tmp_path):
    assert datasets.find("retinamnist", shared_data) == shared_data / "retinamnist/retinamnist.npz"
    # a named (non-official) copy is found when the official file is absent
    assert datasets.find("pneumoniamnist", shared_data) == (
        shared_data / "pneumoniamnist/pneumoniamnist__varun19424.npz"
    )
    recs = datasets.load("retinamnist", shared_data)
    assert len(recs) == 1600 and recs[0].meta["dataset"] == "retinamnist"
    assert {r.label for r in recs} == {0, 1, 2, 3, 4}
    assert datasets.get("bloodmnist") is medmnist.load
    with pytest.raises(ConfigError, match="bloodmnist.*not found"):
        datasets.find("bloodmnist", tmp_path)
    with pytest.raises(ConfigError, match="unknown MedMNIST"):
        medmnist.locate("fakemnist", tmp_path)


def test_nih_more_is_pneumonia_vs_no_finding_with_patients(shared_data):
    recs = datasets.load("nih-chestxray14-more", shared_data)
    assert Counter(r.label for r in recs) == {0: 537, 1: 493}  # 14 other-finding images left out
    assert all(("Pneumonia" in r.meta["finding_labels"]) == (r.label == 1) for r in recs) and all(
        r.meta["finding_labels"] == "No Finding" for r in recs if r.label == 0
    )
    assert len({r.patient_id for r in recs}) <= 699
    assert recs[0].image().pixels.shape == (128, 128)
    anyf = nih.load_more(shared_data / "nih-chestxray14-more", task="any")
    assert len(anyf) == 1044 and sum(r.label for r in anyf) == 1044 - 537
    assert nih.pneumonia_label("Infiltration|Pneumonia") == 1
    assert nih.pneumonia_label("No Finding") == 0 and nih.pneumonia_label("Edema") is None


def test_breakhis_npz_subset(shared_data):
    recs = breakhis.load(shared_data / "breakhis")
    assert len(recs) == 798 and Counter(r.label for r in recs) == {0: 366, 1: 432}
    assert len({r.patient_id for r in recs}) == 46
    img = recs[0].image()
    assert img.pixels.shape == (96, 96, 3) and img.photometric == "RGB"
    assert Counter(r.meta["magnification"] for r in recs)[100] == 623
