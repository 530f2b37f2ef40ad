"""The default codec, JPEG-LS, HTJ2K decoded by OpenJPH, and export in the syntax asked for."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medseal.codec import (
    DEFAULT_CODEC,
    CodecName,
    TransferSyntax,
    available_codecs,
    decode,
    default_codec,
    encode,
    pack,
    to_dicom,
    transcode_dicom,
    unpack,
    write_dicom,
)
from medseal.codec import htj2k as htj2k_backend
from medseal.codec.dicom_export import encoded_from_dicom
from medseal.codec.jpegls import strip_spiff
from medseal.codec.registry import read_jpegls_header
from medseal.errors import CodecError, CodecUnavailableError, ImageTooLargeError, InputError
from medseal.types import EncodedImage, Image

needs_imagecodecs = pytest.mark.skipif(
    available_codecs()["htj2k"] is not None or available_codecs()["jpegls"] is not None,
    reason="imagecodecs (OpenJPH, CharLS) is not installed here",
)

J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
JPEGLS_LOSSLESS = "1.2.840.10008.1.2.4.80"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _ct(shape: tuple[int, ...] = (61, 47), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-2000, 3000, shape).astype(np.int16)


# ------------------------------------------------------------------ default codec


@needs_imagecodecs
def test_the_default_codec_is_htj2k_by_measurement() -> None:
    assert DEFAULT_CODEC is CodecName.HTJ2K and default_codec() is CodecName.HTJ2K
    assert encode(Image(pixels=_ct(), bits_stored=16)).codec == "htj2k"


def test_the_default_falls_back_to_j2k_without_an_htj2k_encoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # import fails as if missing
    assert default_codec() is CodecName.J2K
    enc = encode(Image(pixels=_ct(), bits_stored=16))
    assert enc.codec == "j2k"
    np.testing.assert_array_equal(decode(enc), _ct())


# ------------------------------------------------------------------ JPEG-LS


@needs_imagecodecs
@pytest.mark.parametrize(
    ("dtype", "bits", "lo", "hi"),
    [(np.uint8, 8, 0, 255), (np.int8, 8, -128, 127), (np.uint16, 12, 0, 4095),
     (np.int16, 16, -32768, 32767), (np.int16, 12, -2048, 2047), (np.uint16, 16, 0, 65535)],
)  # fmt: skip
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (28, 28), (33, 17), (2, 7, 9)])
def test_jpegls_round_trip_is_bit_exact_for_8_and_16_bit_and_odd_sizes(
    dtype: type, bits: int, lo: int, hi: int, shape: tuple[int, ...]
) -> None:
    pixels = np.random.default_rng(3).integers(lo, hi, shape, endpoint=True).astype(dtype)
    pixels.flat[0], pixels.flat[-1] = lo, hi
    frames = shape[0] if len(shape) == 3 else 1
    img = Image(pixels=pixels, bits_stored=bits, frames=frames)
    enc, _ = unpack(pack(encode(img, codec="jpegls")))
    out = decode(enc)
    assert out.dtype == pixels.dtype
    np.testing.assert_array_equal(out, pixels)


@needs_imagecodecs
def test_jpegls_refuses_lossy_coding_with_a_clear_message() -> None:
    with pytest.raises(CodecError, match="lossless only"):
        encode(Image(pixels=_ct(), bits_stored=16), codec="jpegls", lossless=False, ratio=8)


@needs_imagecodecs
def test_jpegls_header_larger_than_the_record_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enc = encode(Image(pixels=_ct((40, 40)), bits_stored=16), codec="jpegls")
    cs = bytearray(enc.frames[0])
    sof = bytes(cs).index(b"\xff\xf7")
    struct.pack_into(">HH", cs, sof + 5, 8192, 8192)  # the header now claims 8192 x 8192

    def no_decoding(_: bytes) -> np.ndarray:
        raise AssertionError("the decoder must not run")

    monkeypatch.setattr("medseal.codec.jpegls.decode_frame", no_decoding)
    bomb = EncodedImage(**{**enc.__dict__, "frames": (bytes(cs),)})
    with pytest.raises(ImageTooLargeError):
        decode(bomb, max_pixels=1_000_000)
    with pytest.raises(CodecError, match="header says 8192 x 8192"):
        decode(bomb)


def test_jpegls_header_parser_rejects_foreign_and_truncated_streams() -> None:
    with pytest.raises(CodecError, match="no SOI"):
        read_jpegls_header(b"\xff\x4f\xff\x51" + b"\x00" * 60)
    with pytest.raises(CodecError, match="no SOF55"):
        read_jpegls_header(b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 10)
    with pytest.raises(CodecError):
        read_jpegls_header(b"\xff\xd8\xff\xf7\x00\x0b\x10\x00")  # cut inside SOF55
    head = read_jpegls_header(b"\xff\xd8\xff\xf7\x00\x0b\x0c\x00\x05\x00\x07\x01\x01\x11\x00")
    assert (head.width, head.height, head.components, head.precision) == (7, 5, 1, (12,))


@needs_imagecodecs
def test_a_truncated_jpegls_codestream_is_refused() -> None:
    enc = encode(Image(pixels=_ct((40, 40)), bits_stored=16), codec="jpegls")
    cut = EncodedImage(**{**enc.__dict__, "frames": (bytes(enc.frames[0])[:-40],)})
    with pytest.raises(CodecError):
        decode(cut)


def test_spiff_headers_are_stripped_and_other_streams_kept() -> None:
    spiff = b"\xff\xe8\x00\x04ab"
    body = b"\xff\xf7\x00\x0b" + b"\x00" * 9 + b"\xff\xd9"
    assert strip_spiff(b"\xff\xd8" + spiff + spiff + body) == b"\xff\xd8" + body
    assert strip_spiff(b"\xff\xd8" + body) == b"\xff\xd8" + body
    with pytest.raises(CodecError):
        strip_spiff(b"\x00\x00")


# ------------------------------------------------------------------ HTJ2K decoding


@needs_imagecodecs
def test_htj2k_is_decoded_by_openjph(monkeypatch: pytest.MonkeyPatch) -> None:
    enc = encode(Image(pixels=_ct(), bits_stored=16), codec="htj2k")
    monkeypatch.setitem(sys.modules, "openjpeg", None)  # OpenJPEG unavailable: OpenJPH decodes
    np.testing.assert_array_equal(decode(enc), _ct())
    import imagecodecs

    calls: list[int] = []
    real = imagecodecs.htj2k_decode

    def counting(data: bytes, *a: object, **kw: object) -> np.ndarray:
        calls.append(len(data))
        return real(data, *a, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(imagecodecs, "htj2k_decode", counting)
    decode(enc)
    assert calls == [len(enc.frames[0])]


@needs_imagecodecs
def test_htj2k_falls_back_to_openjpeg_without_imagecodecs(monkeypatch: pytest.MonkeyPatch) -> None:
    pixels = np.random.default_rng(2).integers(0, 4095, (37, 29), endpoint=True).astype(np.uint16)
    enc = encode(Image(pixels=pixels, bits_stored=12), codec="htj2k")
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    np.testing.assert_array_equal(decode(enc), pixels)
    monkeypatch.setitem(sys.modules, "openjpeg", None)
    with pytest.raises(CodecUnavailableError, match="pip install imagecodecs"):
        htj2k_backend.decode_frame(bytes(enc.frames[0]))


# ------------------------------------------------------------------ export


@needs_imagecodecs
@pytest.mark.parametrize("stored", ["htj2k", "jpegls", "j2k"])
@pytest.mark.parametrize(
    ("asked", "uid"),
    [(None, None), ("htj2k", HTJ2K_LOSSLESS), ("j2k", J2K_LOSSLESS),
     ("jpegls", JPEGLS_LOSSLESS), ("explicit-little-endian", EXPLICIT_LE)],
)  # fmt: skip
def test_export_writes_the_transfer_syntax_the_receiver_asks_for(
    tmp_path: Path, stored: str, asked: str | None, uid: str | None
) -> None:
    pixels = _ct((2, 33, 31))
    enc, _ = unpack(pack(encode(Image(pixels=pixels, bits_stored=16, frames=2), codec=stored)))
    out = write_dicom(tmp_path / "x.dcm", enc, transfer_syntax=asked)
    ds = pydicom.dcmread(out)
    want = uid or {"htj2k": HTJ2K_LOSSLESS, "jpegls": JPEGLS_LOSSLESS, "j2k": J2K_LOSSLESS}[stored]
    assert ds.file_meta.TransferSyntaxUID == want
    assert (ds.NumberOfFrames, ds.Rows, ds.Columns, ds.PixelRepresentation) == (2, 33, 31, 1)
    if want == EXPLICIT_LE:
        np.testing.assert_array_equal(ds.pixel_array, pixels)
        return
    back = encoded_from_dicom(ds)  # the frames as written, decoded by medseal's own decoders
    assert back.codec == {J2K_LOSSLESS: "j2k", HTJ2K_LOSSLESS: "htj2k"}.get(want, "jpegls")
    np.testing.assert_array_equal(decode(back), pixels)
    if want != JPEGLS_LOSSLESS:  # pydicom reads JPEG 2000 and HTJ2K here (no JPEG-LS plugin)
        np.testing.assert_array_equal(ds.pixel_array, pixels)
    if asked is None or asked == stored:  # no re-compression: the stored codestreams as they are
        assert [bytes(f).rstrip(b"\x00") for f in back.frames] == [
            bytes(f).rstrip(b"\x00") for f in enc.frames
        ]


@needs_imagecodecs
def test_an_rgb_export_to_jpegls_is_rgb_without_colour_transform(tmp_path: Path) -> None:
    pixels = np.random.default_rng(4).integers(0, 255, (24, 20, 3), dtype=np.uint8)
    enc = encode(Image(pixels=pixels, photometric="RGB"), codec="j2k")
    assert to_dicom(enc).PhotometricInterpretation == "YBR_RCT"
    ds = to_dicom(enc, transfer_syntax="jpegls")
    assert (
        ds.PhotometricInterpretation == "RGB" and ds.file_meta.TransferSyntaxUID == JPEGLS_LOSSLESS
    )
    native = to_dicom(enc, transfer_syntax=TransferSyntax.EXPLICIT_LITTLE_ENDIAN)
    assert native.PhotometricInterpretation == "RGB" and native.PlanarConfiguration == 0
    np.testing.assert_array_equal(native.pixel_array, pixels)


@needs_imagecodecs
def test_a_lossy_source_keeps_its_lossy_history_when_transcoded() -> None:
    smooth = (np.add.outer(np.arange(64), np.arange(64)) * 20).astype(np.uint16)
    enc = encode(Image(pixels=smooth, bits_stored=12), codec="j2k", lossless=False, ratio=10)
    ds = to_dicom(enc, transfer_syntax="htj2k")
    assert ds.file_meta.TransferSyntaxUID == HTJ2K_LOSSLESS
    assert ds.LossyImageCompression == "01" and ds.LossyImageCompressionMethod == "ISO_15444_1"
    np.testing.assert_array_equal(ds.pixel_array, decode(enc))


def test_an_unknown_transfer_syntax_is_refused() -> None:
    enc = encode(Image(pixels=np.zeros((32, 32), np.uint8)), codec="j2k")
    with pytest.raises(InputError, match="unknown transfer syntax 'jpeg-xl'; known: htj2k"):
        to_dicom(enc, transfer_syntax="jpeg-xl")


@needs_imagecodecs
def test_transcode_dicom_rewrites_a_file_in_place(tmp_path: Path) -> None:
    pixels = _ct((45, 39))
    path = write_dicom(tmp_path / "x.dcm", encode(Image(pixels=pixels, bits_stored=16)))
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == HTJ2K_LOSSLESS
    sop = pydicom.dcmread(path).SOPInstanceUID
    transcode_dicom(path, path, "j2k")
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == J2K_LOSSLESS and ds.SOPInstanceUID == sop
    np.testing.assert_array_equal(ds.pixel_array, pixels)
    assert not list(tmp_path.glob("*.tmp"))
    transcode_dicom(path, tmp_path / "n.dcm", "explicit-little-endian")
    np.testing.assert_array_equal(pydicom.dcmread(tmp_path / "n.dcm").pixel_array, pixels)
    with pytest.raises(CodecError, match="not one medseal converts from"):
        transcode_dicom(tmp_path / "n.dcm", tmp_path / "m.dcm", "j2k")


def _openjph_reports_in_callback(stream: bytes) -> bool:
    """True when imagecodecs swallows an OpenJPH error for ``stream`` (an unraisable report)."""
    import imagecodecs

    seen: list[object] = []
    previous = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        try:
            imagecodecs.htj2k_decode(stream)
        except Exception:
            return False
    finally:
        sys.unraisablehook = previous
    return bool(seen)


@needs_imagecodecs
def test_an_htj2k_error_that_openjph_reports_from_a_callback_fails_the_decode() -> None:
    pixels = np.random.default_rng(0).integers(-1000, 3000, (64, 48)).astype(np.int16)
    enc = encode(Image(pixels=pixels, bits_stored=16), codec="htj2k")
    cs = bytes(enc.frames[0])
    rng = np.random.default_rng(1)
    for _ in range(400):
        bad = bytearray(cs)
        for _ in range(3):
            bad[int(rng.integers(60, len(bad) - 2))] = int(rng.integers(0, 256))
        if _openjph_reports_in_callback(bytes(bad)):
            break
    else:
        pytest.skip("no mutation made OpenJPH report from its callback")
    seen: list[object] = []
    previous = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        with pytest.raises(CodecError, match="OpenJPH reported RuntimeError"):
            decode(EncodedImage(**{**enc.__dict__, "frames": (bytes(bad),)}))
    finally:
        sys.unraisablehook = previous
    assert seen == []  # collected for the decode, not printed as "Exception ignored"
    np.testing.assert_array_equal(decode(enc), pixels)  # and good streams still decode
