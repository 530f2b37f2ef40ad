"""Compressed frames whose own header disagrees with the dataset are refused before decoding.

A 6.7 KB DICOM declaring 64 x 64 but holding an 8192 x 8192 JPEG 2000 stream
passed the pixel-count guard (which reads Rows/Columns) and grew the process to
426 MB while openjpeg decoded it. Each frame's SIZ (JPEG 2000, HTJ2K, JP2),
SOFn (JPEG), SOF55 (JPEG-LS) header or RLE segment table is now checked first.
"""

from __future__ import annotations

import copy
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSLossless,
    RLELossless,
    SecondaryCaptureImageStorage,
)

from medseal.errors import ImageTooLargeError, InputError, InvalidDicomError
from medseal.ingest import dicom as dicom_module
from medseal.ingest import read_dicom
from medseal.ingest._frame_guard import j2k_header, jpeg_header

#: ``imagecodecs.jpeg2k_encode(np.zeros((8192, 8192), np.uint8), level=0, codecformat="J2K")``
#: (imagecodecs 2026.3.6, OpenJPEG 2.5.4): a complete, valid 340-byte stream that
#: decodes to 64 Mi samples. Kept as bytes because encoding it needs ~430 MB.
BOMB_8192 = bytes.fromhex(
    "ff4fff510029000000002000000020000000000000000000000020000000200000000000"
    "000000000001070101ff52000c00000001000504040001ff5c0013404048485048485048"
    "4850484850484850ff640025000143726561746564206279204f70656e4a504547207665"
    "7273696f6e20322e352e34ff90000a0000000000db0001ff93f7f8057f00aff8057f00af"
    "e015fc02bf8057f00aff402bf8057fc02bf8057f00afe015fc02bf8050115054afff7fe9"
    "89607f115054afff7fe989607f115054afff7fe989607f115054afff7fe989607f115054"
    "afff7fe989607f115054afff7fe989607f115054afff7fe989607f115054afff7fe98960"
    "7f115054afff7fe989607f115054afff7fe989607f115054afff7fe989607f115054afff"
    "7fe989607f115054afff7fe989607f115054afff7fe989607f115054afff7fe989607f11"
    "5054afff7fe989607f8080808080ffd9"
)

SECRET = "Doe^Jane"


def _siz(width: int, height: int, components: int = 1, precision: int = 8) -> bytes:
    """SOC + a valid SIZ marker segment + COD + EOC: a header with no coded data."""
    comps = bytes([precision - 1, 1, 1]) * components
    siz = struct.pack(
        ">HHIIIIIIIIH", 38 + 3 * components, 0, width, height, 0, 0, width, height, 0, 0, components
    )
    cod = bytes.fromhex("ff52000c00000001000504040000")
    return b"\xff\x4f\xff\x51" + siz + comps + cod + b"\xff\xd9"


def _jp2(codestream: bytes, *, boxes: bytes = b"") -> bytes:
    """A JP2 file: signature box, file type box, extra ``boxes``, then the jp2c box."""
    signature = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
    ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"jp2 ", 0, b"jp2 ")
    jp2c = struct.pack(">I4s", 8 + len(codestream), b"jp2c") + codestream
    return signature + ftyp + boxes + jp2c


def _sof(width: int, height: int, components: int = 1, precision: int = 8, marker=0xC0) -> bytes:
    """SOI + APP0 + SOFn/SOF55 frame header + EOI (no tables, no scan)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comps = b"".join(bytes([i + 1, 0x11, 0]) for i in range(components))
    sof = bytes([0xFF, marker]) + struct.pack(
        ">HBHHB", 8 + 3 * components, precision, height, width, components
    )
    return b"\xff\xd8" + app0 + sof + comps + b"\xff\xd9"


def _dataset(ts, frames: list[bytes] | None = None, *, rows=64, cols=64, bits=8) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientName = SECRET
    ds.Modality = "OT"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 0
    if frames is not None:
        if len(frames) > 1:
            ds.NumberOfFrames = len(frames)
        ds.PixelData = encapsulate(frames)
        ds["PixelData"].VR = "OB"
    return ds


def _save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if the pixel decoder is ever reached."""

    def _decode(*args, **kwargs):
        raise AssertionError("the pixel data were handed to the decoder")

    monkeypatch.setattr(dicom_module, "_decode", _decode)


def _refused(path: Path, error=ImageTooLargeError, **kwargs) -> str:
    with pytest.raises(error) as info:
        read_dicom(path, deidentify=False, **kwargs)
    message = str(info.value)
    assert SECRET not in message and "Doe" not in message
    assert str(path.parent) not in message
    return message


J2K_SYNTAXES = [JPEG2000Lossless, JPEG2000, HTJ2KLossless, HTJ2K]


@pytest.mark.parametrize("ts", J2K_SYNTAXES, ids=lambda ts: ts.name)
def test_a_j2k_frame_larger_than_the_header_says_is_refused_before_decoding(
    ts, tmp_path, no_decoding
):
    path = _save(_dataset(ts, [_siz(8192, 8192)]), tmp_path / "bomb.dcm")
    message = _refused(path)
    assert "8192x8192" in message and "64x64" in message and "nothing was decoded" in message


@pytest.mark.parametrize("ts", J2K_SYNTAXES, ids=lambda ts: ts.name)
def test_a_j2k_bomb_inside_a_jp2_wrapper_is_refused(ts, tmp_path, no_decoding):
    ihdr = struct.pack(">I4sIIHBBBB", 22, b"ihdr", 64, 64, 1, 7, 7, 0, 0)
    jp2h = struct.pack(">I4s", 8 + len(ihdr), b"jp2h") + ihdr  # the wrapper claims 64x64
    frame = _jp2(_siz(8192, 8192), boxes=jp2h)
    path = _save(_dataset(ts, [frame]), tmp_path / "bomb.dcm")
    assert "8192x8192" in _refused(path)


def test_the_real_8192_square_stream_is_refused_without_growing_memory(tmp_path):
    """The issue's file, read in a fresh process: peak RSS must not grow by the decode."""
    path = _save(_dataset(JPEG2000Lossless, [BOMB_8192]), tmp_path / "bomb.dcm")
    assert path.stat().st_size < 8 * 1024
    assert j2k_header(BOMB_8192).samples == 8192 * 8192
    script = textwrap.dedent(
        """
        import resource, sys
        from medseal.errors import ImageTooLargeError
        from medseal.ingest import read_dicom
        import pydicom.pixels, pylibjpeg  # import the decoders before measuring
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            read_dicom(sys.argv[1], deidentify=False)
            outcome = "decoded"
        except ImageTooLargeError:
            outcome = "refused"
        except Exception as exc:
            outcome = type(exc).__name__
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(outcome, (after - before) // 1024)
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    outcome, grown_mib = proc.stdout.split()
    assert outcome == "refused"
    # decoding 8192 x 8192 takes > 256 MiB (OpenJPEG holds int32 samples)
    assert int(grown_mib) < 32, f"peak RSS grew by {grown_mib} MiB"


def test_a_jp2_box_that_would_hang_pydicom_is_refused_in_a_subprocess(tmp_path):
    # pydicom's JP2 box walk (get_j2k_parameters) never advances past a zero-length box
    zero_box = struct.pack(">I4s", 0, b"uuid") + b"\x00" * 16
    frame = _jp2(_siz(64, 64), boxes=zero_box)
    path = _save(_dataset(JPEG2000Lossless, [frame]), tmp_path / "hang.dcm")
    script = textwrap.dedent(
        """
        import sys
        from medseal.errors import InvalidDicomError
        from medseal.ingest import read_dicom
        try:
            read_dicom(sys.argv[1], deidentify=False)
        except InvalidDicomError as exc:
            print("refused:", exc)
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading the file hung")
    assert proc.stdout.startswith("refused:"), proc.stderr
    assert "JP2 box" in proc.stdout


@pytest.mark.parametrize(
    ("ts", "marker"),
    [(JPEGBaseline8Bit, 0xC0), (JPEGExtended12Bit, 0xC1), (JPEGLSLossless, 0xF7)],
    ids=["jpeg-baseline-sof0", "jpeg-extended-sof1", "jpeg-ls-sof55"],
)
def test_a_jpeg_frame_larger_than_the_header_says_is_refused(ts, marker, tmp_path, no_decoding):
    path = _save(_dataset(ts, [_sof(8192, 8192, marker=marker)]), tmp_path / "bomb.dcm")
    assert "8192x8192" in _refused(path)


def test_a_jpeg_frame_that_defers_its_height_to_a_dnl_marker_is_refused(tmp_path, no_decoding):
    path = _save(_dataset(JPEGBaseline8Bit, [_sof(64, 0)]), tmp_path / "dnl.dcm")
    assert "DNL" in _refused(path, InvalidDicomError)


@pytest.mark.parametrize(
    ("frame", "what"),
    [
        (_siz(32, 64), "32x64"),
        (_siz(64, 64, components=3), "3 samples"),
        (_sof(64, 32), "64x32"),
    ],
    ids=["narrower", "more-components", "jpeg-shorter"],
)
def test_a_frame_that_disagrees_with_the_header_is_refused(frame, what, tmp_path, no_decoding):
    ts = JPEG2000Lossless if frame.startswith(b"\xff\x4f") else JPEGBaseline8Bit
    message = _refused(_save(_dataset(ts, [frame]), tmp_path / "odd.dcm"), InputError)
    assert what in message


def test_a_frame_with_more_bits_than_allocated_is_refused(tmp_path, no_decoding):
    path = _save(_dataset(JPEG2000Lossless, [_siz(64, 64, precision=16)]), tmp_path / "deep.dcm")
    assert "BitsAllocated" in _refused(path, InvalidDicomError)


def test_a_bomb_in_a_later_frame_is_refused(tmp_path, no_decoding):
    path = _save(
        _dataset(JPEG2000Lossless, [_siz(64, 64), _siz(64, 64), _siz(4096, 4096)]),
        tmp_path / "multi.dcm",
    )
    assert "frame 2" in _refused(path)


def test_frames_beyond_the_pixel_limit_are_refused(tmp_path, no_decoding):
    path = _save(_dataset(JPEG2000Lossless, [_siz(64, 64)] * 3), tmp_path / "multi.dcm")
    # the header guard counts NumberOfFrames; the frame guard counts what it finds
    with pytest.raises(ImageTooLargeError):
        read_dicom(path, deidentify=False, max_pixels=64 * 64 * 2)


def test_a_truncated_or_foreign_j2k_frame_is_refused(tmp_path, no_decoding):
    for frame in (_siz(64, 64)[:30], b"\x00" * 64, _jp2(b"")[:-8]):
        path = _save(_dataset(JPEG2000Lossless, [frame]), tmp_path / "bad.dcm")
        _refused(path, InvalidDicomError)


def _rle_dataset(arr: np.ndarray) -> Dataset:
    ds = _dataset(ExplicitVRLittleEndian)
    ds.compress(RLELossless, arr)
    return ds


def test_an_rle_segment_longer_than_its_decoded_size_allows_is_refused(tmp_path, no_decoding):
    arr = np.random.default_rng(1).integers(0, 256, size=(64, 64), dtype=np.uint8)
    # PackBits: 2 bytes (-127, value) decode to 128 bytes; 64 KiB of them to 4 MiB
    runs = b"\x81\x00" * 32768
    header = struct.pack("<16I", 1, 64, *([0] * 14))
    ds = _rle_dataset(arr)
    ds.PixelData = encapsulate([header + runs])
    message = _refused(_save(ds, tmp_path / "rle.dcm"), InvalidDicomError)
    assert "RLE segment" in message


def test_an_rle_header_with_the_wrong_segment_count_is_refused(tmp_path, no_decoding):
    arr = np.zeros((64, 64), dtype=np.uint8)
    ds = _rle_dataset(arr)
    header = struct.pack("<16I", 3, 64, 64, 64, *([0] * 12))
    ds.PixelData = encapsulate([header + b"\x00\x00"])
    assert "segments" in _refused(_save(ds, tmp_path / "rle.dcm"), InvalidDicomError)


def test_well_formed_compressed_frames_still_decode_bit_exact(tmp_path):
    arr = np.random.default_rng(2).integers(0, 256, size=(64, 64), dtype=np.uint8)
    for ts in (JPEG2000Lossless, RLELossless):
        ds = _dataset(ExplicitVRLittleEndian)
        ds.compress(ts, arr)
        img = read_dicom(_save(ds, tmp_path / f"{ts.name[:4]}.dcm"), deidentify=False)
        np.testing.assert_array_equal(img.pixels, arr)


def test_a_jp2_wrapped_frame_with_matching_size_is_not_refused_by_the_guard(tmp_path):
    arr = np.random.default_rng(3).integers(0, 256, size=(64, 64), dtype=np.uint8)
    ds = _dataset(ExplicitVRLittleEndian)
    ds.compress(JPEG2000Lossless, arr)
    frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
    wrapped = copy.deepcopy(ds)
    ihdr = struct.pack(">I4sIIHBBBB", 22, b"ihdr", 64, 64, 1, 7, 7, 0, 0)
    colr = struct.pack(">I4sBBBI", 15, b"colr", 1, 0, 0, 17)  # greyscale
    jp2h = struct.pack(">I4s", 8 + len(ihdr) + len(colr), b"jp2h") + ihdr + colr
    wrapped.PixelData = encapsulate([_jp2(frame, boxes=jp2h)])
    img = read_dicom(_save(wrapped, tmp_path / "jp2.dcm"), deidentify=False)
    np.testing.assert_array_equal(img.pixels, arr)


def test_the_header_parsers_read_what_the_writers_wrote():
    head = j2k_header(_siz(300, 200, components=3, precision=12))
    assert (head.width, head.height, head.components, head.precision) == (300, 200, 3, 12)
    assert j2k_header(_jp2(_siz(5, 7))).samples == 35
    head = jpeg_header(_sof(640, 480, components=3, precision=12, marker=0xC3))
    assert (head.width, head.height, head.components, head.precision) == (640, 480, 3, 12)
    for bad in (b"", b"\xff\xd8", _sof(64, 64)[:-12]):
        with pytest.raises(ValueError):
            jpeg_header(bad)
