"""read_image (PNG/JPEG/TIFF), read_npz, discover and load_path."""

from __future__ import annotations

import os
import pickle
import re
import shutil

import numpy as np
import pytest
from PIL import Image as PILImage

from medseal.errors import ImageTooLargeError, InputError, UnsupportedImageError
from medseal.ingest import discover, load_path, read_image, read_npz
from medseal.ingest.datasets.embedded import pydicom_sample_paths

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------- read_image
def test_png_8bit(tmp_path):
    arr = RNG.integers(0, 256, (40, 30), dtype=np.uint8)
    PILImage.fromarray(arr).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.photometric == "MONOCHROME2" and img.bits_stored == 8
    assert img.pixels.dtype == np.uint8 and np.array_equal(img.pixels, arr)
    assert img.meta["source_format"] == "png" and img.header is None


def test_png_16bit(tmp_path):
    arr = RNG.integers(0, 65536, (20, 24), dtype=np.uint16)
    PILImage.fromarray(arr).save(tmp_path / "b.png")
    img = read_image(tmp_path / "b.png")
    assert img.bits_stored == 16 and img.pixels.dtype == np.uint16
    assert np.array_equal(img.pixels, arr)


def test_tiff_16bit(tmp_path):
    arr = RNG.integers(0, 4096, (16, 16), dtype=np.uint16)
    PILImage.fromarray(arr).save(tmp_path / "c.tif")
    img = read_image(tmp_path / "c.tif")
    assert img.meta["source_format"] == "tiff" and np.array_equal(img.pixels, arr)


def test_png_rgb_and_rgba(tmp_path):
    rgb = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    PILImage.fromarray(rgb).save(tmp_path / "rgb.png")
    img = read_image(tmp_path / "rgb.png")
    assert img.photometric == "RGB" and np.array_equal(img.pixels, rgb)
    alpha = RNG.integers(0, 256, (12, 10, 1), dtype=np.uint8)
    PILImage.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(tmp_path / "rgba.png")
    img = read_image(tmp_path / "rgba.png")
    assert img.photometric == "RGB" and img.pixels.shape == (12, 10, 3)
    assert np.array_equal(img.pixels, rgb) and "alpha" in img.meta["converted"]


def test_grey_stored_as_rgb_becomes_l(tmp_path, shared_data):
    grey = RNG.integers(0, 256, (8, 8), dtype=np.uint8)
    PILImage.fromarray(np.stack([grey] * 3, axis=2)).save(tmp_path / "g.png")
    img = read_image(tmp_path / "g.png")
    assert img.photometric == "MONOCHROME2" and np.array_equal(img.pixels, grey)
    # the NIH 64 px subset: RGB / RGBA files holding grey content
    nih = sorted(
        (shared_data / "nih-chestxray14-subset/NIH1000_64px/train/0_normal").glob("*.png")
    )[:20]
    modes = set()
    for p in nih:
        img = read_image(p)
        modes.add(img.meta["mode"])
        assert img.pixels.shape == (64, 64) and img.photometric == "MONOCHROME2"
    assert "RGB" in modes


def test_jpeg_and_palette(tmp_path):
    arr = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    PILImage.fromarray(arr).save(tmp_path / "x.jpg", quality=90)
    img = read_image(tmp_path / "x.jpg")
    assert img.meta["source_format"] == "jpeg" and img.pixels.shape == (16, 16, 3)
    pal = PILImage.fromarray(arr).convert("P")
    pal.save(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    assert img.photometric == "RGB" and np.array_equal(img.pixels, np.array(pal.convert("RGB")))


def test_image_refusals(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(InputError):
        read_image(tmp_path / "bad.png")
    (tmp_path / "notimg.png").write_bytes(b"hello world")
    with pytest.raises(UnsupportedImageError):
        read_image(tmp_path / "notimg.png")
    arr = RNG.integers(0, 256, (64, 64), dtype=np.uint8)
    PILImage.fromarray(arr).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError):
        read_image(tmp_path / "trunc.png")
    with pytest.raises(ImageTooLargeError):
        read_image(tmp_path / "ok.png", max_pixels=64 * 64 - 1)
    PILImage.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(UnsupportedImageError):
        read_image(tmp_path / "f.tif")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` grey pixels but holds almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_png_bomb_header_refused_before_decoding(tmp_path):
    (tmp_path / "bomb.png").write_bytes(_png_header_only(100000, 100000))
    with pytest.raises(ImageTooLargeError):
        read_image(tmp_path / "bomb.png")
    # below Pillow's own limit, our guard decides (and nothing is decoded)
    (tmp_path / "big.png").write_bytes(_png_header_only(5000, 5000))
    with pytest.raises(ImageTooLargeError, match="5000x5000"):
        read_image(tmp_path / "big.png", max_pixels=1_000_000)


# ---------------------------------------------------------------- read_npz
def _npz(path, **arrays):
    np.savez_compressed(path, **arrays)
    return path


def test_npz_2d_rgb_3d(tmp_path):
    grey = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([[0], [1], [1], [0], [1]], dtype=np.uint8)
    recs = read_npz(
        _npz(
            tmp_path / "g.npz",
            train_images=grey,
            train_labels=labels,
            test_images=grey[:2],
            test_labels=labels[:2],
        )
    )
    assert [r.key for r in recs][:2] == ["train/00000", "train/00001"] and len(recs) == 7
    assert [r.label for r in recs[:5]] == [0, 1, 1, 0, 1]
    assert recs[-1].split == "test" and recs[0].patient_id is None
    assert np.array_equal(recs[3].image().pixels, grey[3])
    rgb = RNG.integers(0, 256, (2, 28, 28, 3), dtype=np.uint8)
    img = read_npz(_npz(tmp_path / "c.npz", val_images=rgb, val_labels=np.array([[3], [4]])))[
        1
    ].image()
    assert img.photometric == "RGB" and np.array_equal(img.pixels, rgb[1])
    vol = RNG.integers(0, 256, (2, 7, 28, 28), dtype=np.uint8)
    multi = np.array([[1, 0, 1], [0, 1, 1]])
    recs = read_npz(_npz(tmp_path / "v.npz", train_images=vol, train_labels=multi))
    img = recs[0].image()
    assert img.frames == 7 and img.pixels.shape == (7, 28, 28)
    assert recs[0].label == 1 and recs[0].meta["labels"] == (1, 0, 1)
    # records survive pickling (worker processes)
    again = pickle.loads(pickle.dumps(recs[1]))
    assert np.array_equal(again.image().pixels, vol[1])


def test_npz_refusals(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError):
        read_npz(tmp_path / "x.npz")
    with pytest.raises(InputError, match="MedMNIST"):
        read_npz(_npz(tmp_path / "y.npz", foo=np.zeros(3)))
    recs = read_npz(
        _npz(
            tmp_path / "z.npz",
            train_images=np.zeros((1, 4, 4), np.float32),
            train_labels=np.zeros((1, 1)),
        )
    )
    with pytest.raises(UnsupportedImageError):
        recs[0].image()


# ---------------------------------------------------------------- discover / load_path
def test_discover_and_load_path(tmp_path, shared_data):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    ct = pydicom_sample_paths()[0]
    shutil.copy(ct, root / "a.dcm")
    shutil.copy(ct, root / "sub" / "NOEXT")  # DICOM without extension
    shutil.copy(
        shared_data / "dicom-samples/pydicom-test_files/dicomdirtests/DICOMDIR", root / "DICOMDIR"
    )
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(root / "b.png")
    _npz(root / "m.npz", train_images=np.zeros((2, 4, 4), np.uint8), train_labels=np.zeros((2, 1)))
    (root / "notes.txt").write_text("hello")
    (root / ".hidden.png").write_bytes(b"x")
    (root / "bad.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x01\x02")
    outside = tmp_path / "outside.png"
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(outside)
    os.symlink(outside, root / "link_out.png")
    os.symlink(root / "b.png", root / "link_in.png")
    found = [p.relative_to(root).as_posix() for p in discover(root)]
    assert found == ["a.dcm", "b.png", "bad.dcm", "link_in.png", "m.npz", "sub/NOEXT"]
    assert discover(root / "a.dcm") == [root / "a.dcm"]
    with pytest.raises(InputError):
        discover(tmp_path / "missing")

    records = list(load_path(root))  # lazy: listing never fails on a bad file
    keys = [r.key for r in records]
    # DICOM records keep their path as a key (the vault names them by the de-identified
    # SOP Instance UID); images and npz items get a keyed name, never their path.
    assert [keys[0], keys[2], keys[6]] == ["a.dcm", "bad.dcm", "sub/NOEXT"]
    assert all(re.fullmatch(r"img-[a-z2-7]{12}", k) for k in (keys[1], keys[3]))
    assert keys[1] != keys[3]
    npz_name = keys[4].split("/")[0]
    assert re.fullmatch(r"img-[a-z2-7]{12}", npz_name)
    assert keys[4:6] == [f"{npz_name}/train/00000", f"{npz_name}/train/00001"]
    assert not any("b.png" in k or "m.npz" in k for k in keys)
    ok, failed = [], []
    for r in records:
        try:
            ok.append(r.image())
        except InputError:
            failed.append(r.key)
    assert failed == ["bad.dcm"] and len(ok) == 6
    dicoms = [i for i in ok if i.source == "dicom"]
    assert all(i.deid is None for i in dicoms)  # no de-identifier given: headers as they are
    from medseal.ingest import Deidentifier

    rec = next(iter(load_path(root / "a.dcm", deidentifier=Deidentifier(b"k" * 32))))
    assert rec.key == "a.dcm" and rec.image().deid is not None
    unknown = list(load_path(root / "notes.txt"))
    assert len(unknown) == 1
    with pytest.raises(UnsupportedImageError):
        unknown[0].image()
