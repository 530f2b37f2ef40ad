"""Synthetic round trips, lossy targets, the registry and the decompression-bomb guard."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from medseal.codec import (
    CodecName,
    available_codecs,
    decode,
    encode,
    pack,
    read_siz,
    unpack,
)
from medseal.codec.registry import UnknownCodecError, read_jpegls_header
from medseal.errors import (
    CodecError,
    CodecUnavailableError,
    ImageTooLargeError,
    InputError,
    UnsupportedImageError,
)
from medseal.types import EncodedImage, Image


def _smooth(rng: np.random.Generator, shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    """A smooth image plus noise: realistic enough for rate/PSNR targets."""
    rows, cols = shape[-2], shape[-1]
    yy, xx = np.mgrid[0:rows, 0:cols]
    base = np.sin(xx / 9.0) * np.cos(yy / 13.0)
    img = (base + 1) / 2 * (hi - lo) * 0.9 + lo + rng.normal(0, (hi - lo) * 0.01, (rows, cols))
    return np.clip(np.broadcast_to(img, shape), lo, hi)


def _roundtrip(img: Image, **kw: object) -> tuple[EncodedImage, np.ndarray]:
    enc = encode(img, **kw)  # type: ignore[arg-type]
    enc2, header = unpack(pack(enc, img.header))
    out = decode(enc2)
    assert out.shape == img.pixels.shape
    assert out.dtype == img.pixels.dtype
    return enc2, out


CASES = [
    # name, dtype, shape, bits, lo, hi, photometric, frames
    ("u8-grey", np.uint8, (64, 80), 8, 0, 255, "MONOCHROME2", 1),
    ("u16-full", np.uint16, (70, 50), 16, 0, 65535, "MONOCHROME2", 1),
    ("u16-12bit", np.uint16, (64, 64), 12, 0, 4095, "MONOCHROME1", 1),
    ("i16-ct", np.int16, (64, 96), 16, -3024, 3071, "MONOCHROME2", 1),
    ("i16-12bit", np.int16, (40, 40), 12, -2048, 2047, "MONOCHROME2", 1),
    ("i8", np.int8, (48, 48), 8, -128, 127, "MONOCHROME2", 1),
    ("rgb", np.uint8, (48, 64, 3), 8, 0, 255, "RGB", 1),
    ("multiframe", np.uint16, (3, 40, 36), 10, 0, 1023, "MONOCHROME2", 3),
    ("multiframe-rgb", np.uint8, (2, 33, 35, 3), 8, 0, 255, "RGB", 2),
    ("tiny-i16", np.int16, (16, 16), 12, -2048, 2047, "MONOCHROME2", 1),
    ("tiny-u16", np.uint16, (5, 31), 10, 0, 1023, "MONOCHROME2", 1),
    ("tiny-u8-28px", np.uint8, (28, 28), 8, 0, 255, "MONOCHROME2", 1),
    ("tiny-rgb", np.uint8, (8, 12, 3), 8, 0, 255, "RGB", 1),
    ("one-pixel", np.uint16, (1, 1), 16, 0, 65535, "MONOCHROME2", 1),
]


LOSSLESS_CODECS = [name for name, reason in available_codecs().items() if reason is None]


@pytest.mark.parametrize("codec", LOSSLESS_CODECS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_lossless_is_bit_exact(case: tuple, codec: str) -> None:
    _, dtype, shape, bits, lo, hi, photometric, frames = case
    rng = np.random.default_rng(7)
    pixels = rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)
    pixels.flat[0] = lo  # the extremes of the declared range must survive
    pixels.flat[-1] = hi
    img = Image(pixels=pixels, photometric=photometric, bits_stored=bits, frames=frames)
    enc, out = _roundtrip(img, codec=codec)
    np.testing.assert_array_equal(out, pixels)
    assert enc.lossless and enc.bits_stored == bits and enc.codec == codec
    assert len(enc.frames) == frames
    # JPEG-LS in DICOM has no colour transform: RGB stays RGB
    assert enc.params["mct"] is (photometric == "RGB" and codec != "jpegls")
    for cs in enc.frames:
        if codec == "jpegls":  # a plain interchange stream: SOI, then no SPIFF (APP8) header
            assert cs[:2] == b"\xff\xd8" and cs[2:4] != b"\xff\xe8"
            head = read_jpegls_header(cs)
            assert head.precision[0] == 8 * np.dtype(dtype).itemsize  # CharLS: full width
            assert (head.height, head.width) == img.pixels.shape[-2 - (photometric == "RGB") :][:2]
            continue
        siz = read_siz(cs)  # raw codestreams (SOC+SIZ), no JP2 box; SIZ says the truth
        assert siz.precision[0] == bits
        assert siz.signed[0] is (np.dtype(dtype).kind == "i")


def test_big_endian_input_is_accepted() -> None:
    pixels = np.arange(64 * 64, dtype=">u2").reshape(64, 64)
    out = decode(encode(Image(pixels=pixels, bits_stored=12)))
    np.testing.assert_array_equal(out, pixels)
    assert out.dtype == np.uint16


def test_encode_is_deterministic() -> None:
    pixels = np.random.default_rng(1).integers(0, 4096, (64, 64), dtype=np.uint16)
    img = Image(pixels=pixels, bits_stored=12)
    assert pack(encode(img)) == pack(encode(img))


@pytest.mark.parametrize("ratio", [10.0, 25.0])
def test_lossy_ratio_is_honoured(ratio: float) -> None:
    pixels = _smooth(np.random.default_rng(2), (128, 128), 0, 4095).astype(np.uint16)
    img = Image(pixels=pixels, bits_stored=12)
    enc, out = _roundtrip(img, lossless=False, ratio=ratio)
    achieved = pixels.nbytes / enc.nbytes
    assert not enc.lossless
    assert ratio * 0.8 <= achieved <= ratio * 1.5, achieved
    assert not np.array_equal(out, pixels)  # really lossy
    assert enc.params["ratio"] == ratio


@pytest.mark.parametrize(
    ("dtype", "bits", "lo", "hi", "target"),
    [
        (np.uint16, 12, 0, 4095, 45.0),
        (np.int16, 16, -1024, 3071, 50.0),
        (np.uint8, 8, 0, 255, 38.0),
    ],
)
def test_lossy_psnr_is_honoured(dtype: type, bits: int, lo: int, hi: int, target: float) -> None:
    pixels = _smooth(np.random.default_rng(3), (96, 112), lo, hi).astype(dtype)
    img = Image(pixels=pixels, bits_stored=bits)
    enc, out = _roundtrip(img, lossless=False, psnr=target)
    mse = float(np.mean((out.astype(float) - pixels.astype(float)) ** 2))
    measured = math.inf if mse == 0 else 10 * math.log10(((1 << bits) - 1) ** 2 / mse)
    assert measured >= target - 1.0, measured
    assert enc.nbytes < pixels.nbytes / 2  # and it did compress


def test_lossy_rgb_and_tiny_lossy() -> None:
    rng = np.random.default_rng(4)
    rgb = np.stack([_smooth(rng, (64, 64), 0, 255)] * 3, axis=-1).astype(np.uint8)
    enc, out = _roundtrip(Image(pixels=rgb, photometric="RGB"), lossless=False, ratio=8)
    assert enc.params["mct"] is True
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() < 8
    tiny = _smooth(rng, (28, 28), 0, 255).astype(np.uint8)  # PneumoniaMNIST-sized
    enc, out = _roundtrip(Image(pixels=tiny), lossless=False, psnr=35)
    assert not enc.lossless and np.abs(out.astype(int) - tiny.astype(int)).mean() < 8


def test_tiny_lossy_with_partial_bits_is_refused() -> None:
    img = Image(pixels=np.zeros((16, 16), np.uint16), bits_stored=12)
    with pytest.raises(CodecError, match="bits_stored == 16"):
        encode(img, codec="j2k", lossless=False, ratio=4)


@pytest.mark.parametrize(
    ("pixels", "kwargs", "match"),
    [
        (np.zeros((8, 8), np.float32), {}, "float32"),
        (np.zeros((8, 8), np.uint32), {"bits_stored": 16}, "uint32"),
        (np.zeros((8, 8), bool), {}, "bool"),
        (np.zeros((8, 8, 4), np.uint8), {}, "4 samples"),
        (np.zeros((8, 8, 2, 2), np.uint8), {}, "does not match frames"),
        (np.zeros((2, 8, 8), np.uint8), {"frames": 3}, "frames"),
        (np.full((8, 8), 4096, np.uint16), {"bits_stored": 12}, "do not fit"),
        (np.full((8, 8), -3000, np.int16), {"bits_stored": 12}, "do not fit"),
        (np.zeros((8, 8), np.uint8), {"bits_stored": 9}, "bits_stored=9"),
        (np.zeros((1, 70000), np.uint8), {}, "65535"),
    ],
)
def test_unsupported_images_are_refused(pixels: np.ndarray, kwargs: dict, match: str) -> None:
    with pytest.raises(UnsupportedImageError, match=match):
        encode(Image(pixels=pixels, **kwargs))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ratio": 10},
        {"psnr": 40},
        {"lossless": False},
        {"lossless": False, "ratio": 10, "psnr": 40},
        {"lossless": False, "ratio": 0.5},
        {"lossless": False, "psnr": float("nan")},
    ],
)
def test_inconsistent_lossy_options_are_refused(kwargs: dict) -> None:
    with pytest.raises(InputError):
        encode(Image(pixels=np.zeros((32, 32), np.uint8)), **kwargs)


# ------------------------------------------------------------------ registry / HTJ2K


def test_registry_lists_every_codec() -> None:
    codecs = available_codecs()
    assert set(codecs) == {"j2k", "htj2k", "jpegls"}
    assert codecs["j2k"] is None
    assert CodecName("htj2k") is CodecName.HTJ2K and CodecName.J2K == "j2k"


def test_unknown_codec_is_refused() -> None:
    with pytest.raises(UnknownCodecError, match="known codecs: htj2k, j2k, jpegls"):
        encode(Image(pixels=np.zeros((32, 32), np.uint8)), codec="jpegxl")


def test_htj2k_without_encoder_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # import fails as if missing
    reason = available_codecs()["htj2k"]
    assert reason is not None and "pip install imagecodecs" in reason
    assert "can only decode HTJ2K" in reason
    with pytest.raises(CodecUnavailableError, match="pip install imagecodecs"):
        encode(Image(pixels=np.zeros((32, 32), np.uint8)), codec="htj2k")


def test_missing_openjpeg_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "openjpeg", None)
    assert "pip install pylibjpeg-openjpeg" in (available_codecs()["j2k"] or "")
    with pytest.raises(CodecUnavailableError, match="pylibjpeg-openjpeg"):
        encode(Image(pixels=np.zeros((32, 32), np.uint8)), codec="j2k")


@pytest.mark.skipif(available_codecs()["htj2k"] is not None, reason="no HTJ2K encoder here")
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_htj2k_lossless_when_available(case: tuple) -> None:
    _, dtype, shape, bits, lo, hi, photometric, frames = case
    pixels = np.random.default_rng(8).integers(lo, hi, size=shape, endpoint=True).astype(dtype)
    img = Image(pixels=pixels, photometric=photometric, bits_stored=bits, frames=frames)
    enc, out = _roundtrip(img, codec="htj2k")
    np.testing.assert_array_equal(out, pixels)
    assert enc.codec == "htj2k"
    for cs in enc.frames:
        assert read_siz(cs).precision[0] == bits


@pytest.mark.skipif(available_codecs()["htj2k"] is not None, reason="no HTJ2K encoder here")
def test_htj2k_lossy_targets_when_available() -> None:
    smooth = _smooth(np.random.default_rng(5), (96, 96), 0, 4095).astype(np.uint16)
    img = Image(pixels=smooth, bits_stored=12)
    enc, _ = _roundtrip(img, codec="htj2k", lossless=False, ratio=10)
    assert smooth.nbytes / enc.nbytes >= 10 * 0.8
    enc, out = _roundtrip(img, codec="htj2k", lossless=False, psnr=45)
    mse = float(np.mean((out.astype(float) - smooth) ** 2))
    assert 10 * math.log10(4095**2 / mse) >= 44


# ------------------------------------------------------------------ bombs and corruption


def _encoded(shape: tuple[int, int] = (64, 64)) -> EncodedImage:
    pixels = np.random.default_rng(6).integers(0, 255, shape, dtype=np.uint8)
    return encode(Image(pixels=pixels))


def _patch_siz(cs: bytes, width: int, height: int) -> bytes:
    out = bytearray(cs)
    struct.pack_into(">II", out, 8, width, height)
    struct.pack_into(">II", out, 24, width, height)  # tile size too, like a real bomb
    return bytes(out)


def test_siz_claiming_a_huge_image_is_refused_before_decoding(monkeypatch) -> None:
    enc = _encoded()
    bomb = _patch_siz(enc.frames[0], 60000, 60000)
    assert read_siz(bomb).samples == 60000 * 60000

    def fail(*_a: object, **_k: object) -> None:  # the decoder must never be reached
        raise AssertionError("decoder was called")

    import medseal.codec.openjpeg as backend

    monkeypatch.setattr(backend, "decode_frame", fail)
    evil = EncodedImage(
        codec="j2k",
        frames=(bomb,),
        shape=(64, 64),
        dtype="uint8",
        bits_stored=8,
        photometric="MONOCHROME2",
        lossless=True,
    )
    with pytest.raises(ImageTooLargeError, match="codestream headers claim"):
        decode(evil)
    # and the recorded shape itself is checked against max_pixels
    with pytest.raises(ImageTooLargeError):
        decode(enc, max_pixels=64 * 64 - 1)


def test_siz_disagreeing_with_record_is_corrupt() -> None:
    enc = _encoded()
    lying = EncodedImage(
        codec="j2k",
        frames=(_patch_siz(enc.frames[0], 64, 65),),
        shape=(64, 64),
        dtype="uint8",
        bits_stored=8,
        photometric="MONOCHROME2",
        lossless=True,
    )
    with pytest.raises(CodecError, match="header says"):
        decode(lying)


def test_max_pixels_env_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    enc = _encoded()
    monkeypatch.setenv("MEDSEAL_MAX_PIXELS", "100")
    with pytest.raises(ImageTooLargeError):
        decode(enc)
    with pytest.raises(ImageTooLargeError):
        unpack(pack(enc))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda cs: cs[: len(cs) // 2],  # truncated
        lambda cs: cs[:-2],  # only the EOC marker missing
        lambda cs: b"\x00" * len(cs),  # not a codestream
        lambda cs: cs[:30],  # SIZ cut short
        lambda cs: b"\x00\x00\x00\x0cjP  \r\n\x87\n" + cs,  # JP2 box, not raw
        lambda cs: cs[:60] + b"\xff" * 40 + cs[100:],  # garbage in the headers
    ],
    ids=["half", "no-eoc", "zeros", "short-siz", "jp2", "garbage"],
)
def test_corrupt_codestream_raises_codec_error(mangle) -> None:
    enc = _encoded()
    bad = EncodedImage(
        codec=enc.codec,
        frames=(mangle(enc.frames[0]),),
        shape=enc.shape,
        dtype=enc.dtype,
        bits_stored=8,
        photometric="MONOCHROME2",
        lossless=True,
    )
    with pytest.raises(CodecError):
        decode(bad)
