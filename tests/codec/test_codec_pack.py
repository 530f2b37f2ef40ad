"""The MSPK container: layout, determinism, header handling and malformed input."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from medseal.codec import decode, encode, pack, to_dicom, unpack
from medseal.codec.pack import MAGIC, VERSION
from medseal.errors import CodecError, ImageTooLargeError
from medseal.types import EncodedImage, Image


def _header() -> Dataset:
    ds = Dataset()
    ds.PatientID = "ANON-1"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["x"])
    ds.Modality = "CT"
    ds.Rows = 999  # stale pixel attributes are rewritten on export
    ds.PixelData = b"\x00" * 8  # must never be carried
    ds.RescaleIntercept = -1024
    seq_item = Dataset()
    seq_item.CodeValue = "113100"
    ds.DeidentificationMethodCodeSequence = [seq_item]
    return ds


def _enc(frames: int = 1) -> EncodedImage:
    shape = (frames, 40, 48) if frames > 1 else (40, 48)
    px = np.random.default_rng(0).integers(-1024, 2000, shape).astype(np.int16)
    return encode(Image(pixels=px, bits_stored=12, frames=frames))


def _split(blob: bytes) -> tuple[dict, int]:
    magic, version, dlen = struct.unpack_from(">4sBI", blob)
    assert (magic, version) == (MAGIC, VERSION)
    return json.loads(blob[9 : 9 + dlen]), 9 + dlen


def _repack(desc: dict, rest: bytes) -> bytes:
    blob = json.dumps(desc).encode()
    return struct.pack(">4sBI", MAGIC, VERSION, len(blob)) + blob + rest


@pytest.mark.parametrize("frames", [1, 3])
def test_pack_layout_and_roundtrip(frames: int) -> None:
    enc = _enc(frames)
    blob = pack(enc, _header())
    desc, body = _split(blob)
    assert desc["codec"] == enc.codec and desc["dtype"] == "int16" and desc["bits_stored"] == 12
    assert desc["frame_lengths"] == [len(f) for f in enc.frames]
    assert blob.endswith(b"".join(enc.frames))
    assert body + desc["header_length"] + sum(desc["frame_lengths"]) == len(blob)
    enc2, header = unpack(blob)
    assert enc2.frames == enc.frames and enc2.shape == enc.shape and enc2.params == enc.params
    assert header is not None and "PixelData" not in header
    assert header.PatientID == "ANON-1" and header.RescaleIntercept == -1024
    assert header.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    np.testing.assert_array_equal(decode(enc2), decode(enc))


def test_pack_is_deterministic_and_header_optional() -> None:
    enc = _enc()
    assert pack(enc, _header()) == pack(enc, _header())
    enc2, header = unpack(pack(enc))
    assert header is None and enc2.frames == enc.frames
    _, header = unpack(pack(enc, Dataset()))
    assert header is not None and len(header) == 0


def test_header_has_no_preamble_and_is_explicit_le() -> None:
    blob = pack(_enc(), _header())
    desc, body = _split(blob)
    hdr = blob[body : body + desc["header_length"]]
    assert not hdr.startswith(b"\x00" * 128) and b"DICM" not in hdr[:200]
    assert hdr[:4] == b"\x08\x00\x16\x00" and hdr[4:6] == b"UI"  # (0008,0016) UI, explicit LE


def test_every_truncation_is_a_codec_error() -> None:
    blob = pack(_enc(), _header())
    for cut in [0, 3, 8, 9, 20, len(blob) // 2, len(blob) - 1]:
        with pytest.raises(CodecError):
            unpack(blob[:cut])
    with pytest.raises(CodecError, match="lengths do not add up"):
        unpack(blob + b"\x00")


def test_bad_magic_and_version() -> None:
    blob = pack(_enc())
    with pytest.raises(CodecError, match="bad magic"):
        unpack(b"XXXX" + blob[4:])
    with pytest.raises(CodecError, match="version 9"):
        unpack(blob[:4] + b"\x09" + blob[5:])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("shape", [40, "48"]),
        ("shape", [40, -48]),
        ("shape", [3, 40, 48]),  # one frame of 48 samples: disagrees with the SIZ header
        ("dtype", "float64"),
        ("bits_stored", 40),
        ("frame_lengths", []),
        ("frame_lengths", [0]),
        ("header_length", -1),
        ("codec", 5),
        ("lossless", "yes"),
    ],
)
def test_malformed_descriptor(key: str, value: object) -> None:
    desc, body = _split(blob := pack(_enc()))
    desc[key] = value
    with pytest.raises(CodecError):
        enc, _ = unpack(_repack(desc, blob[body:]))
        decode(enc)


def test_descriptor_bomb_is_refused_before_slicing() -> None:
    desc, body = _split(blob := pack(_enc()))
    desc["shape"] = [60000, 60000]
    with pytest.raises(ImageTooLargeError):
        unpack(_repack(desc, blob[body:]))
    with pytest.raises(ImageTooLargeError):
        unpack(blob, max_pixels=100)


def test_corrupt_header_bytes() -> None:
    blob = pack(_enc(), _header())
    desc, body = _split(blob)
    bad = bytearray(blob)
    bad[body + 4 : body + 6] = b"ZZ"  # an unknown VR
    bad[body + 6 : body + 8] = b"\xff\x7f"  # and a length past the end
    with pytest.raises(CodecError):
        unpack(bytes(bad))


def test_lossy_history_is_appended() -> None:
    header = _header()
    header.LossyImageCompression = "01"
    header.LossyImageCompressionRatio = "10"
    header.LossyImageCompressionMethod = "ISO_10918_1"
    px = np.random.default_rng(3).integers(0, 4000, (64, 64)).astype(np.uint16)
    enc = encode(Image(pixels=px, bits_stored=12), codec="j2k", lossless=False, ratio=12)
    ds = to_dicom(enc, header)
    assert list(ds.LossyImageCompressionMethod) == ["ISO_10918_1", "ISO_15444_1"]
    assert len(ds.LossyImageCompressionRatio) == 2 and float(ds.LossyImageCompressionRatio[1]) > 9
    assert ds.Rows == 64 and ds.SOPInstanceUID == header.SOPInstanceUID


def test_unpack_without_the_header_skips_its_parse_but_still_checks_the_lengths() -> None:
    blob = pack(_enc(), _header())
    enc, header = unpack(blob, header=False)
    assert header is None and enc.frames == unpack(blob)[0].frames
    with pytest.raises(CodecError, match="lengths do not add up"):
        unpack(blob + b"\x00", header=False)
