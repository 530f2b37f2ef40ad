"""The MSPK container: one encoded image plus its DICOM header, as one byte string.

Codec stage, last step: :func:`pack` turns an :class:`~medseal.types.EncodedImage`
(and the de-identified header) into the plaintext that ``crypto`` seals;
:func:`unpack` reverses it after unsealing. Layout (all integers big-endian)::

    b"MSPK" | version u8 | descriptor length u32 | descriptor (UTF-8 JSON)
            | DICOM header bytes | frame 0 codestream | frame 1 ... | (nothing else)

The descriptor holds ``codec, shape, dtype, bits_stored, photometric,
lossless, params, frame_lengths, header_length, has_header``, serialised with
sorted keys so equal inputs give equal bytes. The header is the dataset
without pixel data, written by pydicom as explicit VR little endian with no
preamble and no file meta. :func:`unpack` validates the descriptor and checks
the pixel count against ``max_pixels`` before slicing anything out.
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from medseal.codec.registry import SUPPORTED_DTYPES, check_size, params_jsonable
from medseal.errors import CodecError
from medseal.types import EncodedImage

if TYPE_CHECKING:  # pragma: no cover
    from pydicom.dataset import Dataset

# pydicom is imported inside the functions that need a DICOM header: containers
# of PNG and array sources pack and unpack without it (a lighter `vault get`).

__all__ = ["MAGIC", "VERSION", "header_bytes", "pack", "read_header", "unpack"]

MAGIC = b"MSPK"
VERSION = 1
_PREFIX = struct.Struct(">4sBI")
_MAX_DESCRIPTOR = 1 << 20  # 1 MiB of JSON is far more than any real descriptor
#: Elements never carried in the stored header: pixel data and what describes its encoding.
PIXEL_TAGS = (
    0x7FE00010,  # PixelData
    0x7FE00008,  # FloatPixelData
    0x7FE00009,  # DoubleFloatPixelData
    0x7FE00001,  # ExtendedOffsetTable
    0x7FE00002,  # ExtendedOffsetTableLengths
    0xFFFCFFFC,  # DataSetTrailingPadding
)


def strip_header(header: Dataset) -> Dataset:
    """A copy of ``header`` without pixel data, file meta (group 0002) or padding."""
    from pydicom.dataset import Dataset

    # Build the element dict directly: Dataset.add() per element costs ~40 us each.
    return Dataset(
        {
            tag: elem
            for tag, elem in header._dict.items()
            if tag not in PIXEL_TAGS and (tag >> 16) != 0x0002
        }
    )


def header_bytes(header: Dataset) -> bytes:
    """``header`` (pixel data removed) as explicit VR little-endian bytes, no preamble."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    try:
        write_dataset(fp, strip_header(header))
    except Exception as exc:  # pydicom raises many types for bad values
        raise CodecError(f"could not serialise the DICOM header: {type(exc).__name__}") from None
    return fp.getvalue()


def read_header(data: bytes) -> Dataset:
    """Parse bytes written by :func:`header_bytes`."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import read_dataset

    fp = DicomBytesIO(data)
    try:
        ds = read_dataset(cast(BinaryIO, fp), is_implicit_VR=False, is_little_endian=True)
        # force every element to be parsed now, so a corrupt header fails here
        for _ in ds.iterall():
            pass
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"malformed DICOM header in container: {type(exc).__name__}") from None
    if fp.tell() != len(data):
        raise CodecError("malformed DICOM header in container (trailing bytes)")
    return ds


def pack(enc: EncodedImage, header: Dataset | None = None) -> bytes:
    """Serialise an encoded image (and optional DICOM header) into one MSPK container.

    Parameters
    ----------
    enc
        From :func:`medseal.codec.encode`.
    header
        The (de-identified) DICOM header; pixel data in it is dropped.

    Returns
    -------
    bytes
        Deterministic for equal inputs: the plaintext the vault seals.
    """
    hdr = header_bytes(header) if header is not None else b""
    frames = [bytes(f) for f in enc.frames]
    descriptor = {
        "codec": str(enc.codec),
        "shape": [int(n) for n in enc.shape],
        "dtype": str(enc.dtype),
        "bits_stored": int(enc.bits_stored),
        "photometric": str(enc.photometric),
        "lossless": bool(enc.lossless),
        "params": params_jsonable(enc.params),
        "frame_lengths": [len(f) for f in frames],
        "header_length": len(hdr),
        "has_header": header is not None,
    }
    blob = json.dumps(descriptor, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    return b"".join([_PREFIX.pack(MAGIC, VERSION, len(blob)), blob, hdr, *frames])


def _field(desc: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = desc.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CodecError(f"malformed container descriptor: bad or missing {key!r}")
    return value


def unpack(
    data: bytes, *, max_pixels: int | None = None, header: bool = True
) -> tuple[EncodedImage, Dataset | None]:
    """Parse an MSPK container made by :func:`pack`.

    Parameters
    ----------
    data
        The container bytes (the vault's unsealed plaintext).
    max_pixels
        Pixel-sample limit (default :func:`medseal.config.max_pixels`), checked
        from the descriptor before the codestreams are sliced out.
    header
        Parse the DICOM header (the default). ``False`` returns ``None`` in its
        place and never imports pydicom: a caller that only wants the pixels
        (``vault get -o x.npy``) skips the parse. The container's lengths are
        checked either way.

    Raises
    ------
    CodecError
        Wrong magic or version, truncated or trailing bytes, malformed
        descriptor or header.
    ImageTooLargeError
        The descriptor's shape exceeds ``max_pixels``.
    """
    data = bytes(data)
    if len(data) < _PREFIX.size:
        raise CodecError("truncated container (shorter than its fixed prefix)")
    magic, version, dlen = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise CodecError("not a medseal image container (bad magic)")
    if version != VERSION:
        raise CodecError(f"unsupported container version {version} (this medseal reads {VERSION})")
    start = _PREFIX.size
    if dlen > _MAX_DESCRIPTOR or start + dlen > len(data):
        raise CodecError("truncated or malformed container descriptor")
    try:
        desc = json.loads(data[start : start + dlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CodecError("malformed container descriptor (not JSON)") from None
    if not isinstance(desc, dict):
        raise CodecError("malformed container descriptor (not an object)")

    codec = _field(desc, "codec", str)
    shape_list = _field(desc, "shape", list)
    dtype = _field(desc, "dtype", str)
    bits = _field(desc, "bits_stored", int)
    photometric = _field(desc, "photometric", str)
    lossless = _field(desc, "lossless", bool)
    params = _field(desc, "params", dict)
    lengths = _field(desc, "frame_lengths", list)
    hlen = _field(desc, "header_length", int)
    has_header = _field(desc, "has_header", bool)
    if dtype not in SUPPORTED_DTYPES:
        raise CodecError(f"malformed container descriptor: dtype {dtype!r}")
    if not 1 <= bits <= 16:
        raise CodecError("malformed container descriptor: bits_stored out of range")
    if not lengths or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in lengths):
        raise CodecError("malformed container descriptor: frame lengths")
    if hlen < 0 or (hlen > 0 and not has_header):
        raise CodecError("malformed container descriptor: header length")
    shape = tuple(shape_list)
    check_size(shape, len(lengths), max_pixels)  # ImageTooLargeError before slicing

    body = start + dlen
    if body + hlen + sum(lengths) != len(data):
        raise CodecError("truncated container (lengths do not add up to its size)")
    dataset = read_header(data[body : body + hlen]) if has_header and header else None
    pos = body + hlen
    frames = []
    for n in lengths:
        frames.append(data[pos : pos + n])
        pos += n
    enc = EncodedImage(
        codec=codec,
        frames=tuple(frames),
        shape=shape,
        dtype=dtype,
        bits_stored=bits,
        photometric=photometric,
        lossless=lossless,
        params=params_jsonable(params),
    )
    return enc, dataset
