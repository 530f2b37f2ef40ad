"""Versioned byte format shared by MORE tensors, public contexts and (explicitly exported) keys.

Layout, all integers little-endian::

    magic  b"MSMORE"        6 bytes
    kind   b"T" | b"C" | b"K" 1 byte   (tensor, public context, secret key)
    version                 1 byte   (FORMAT_VERSION)
    header_len              4 bytes  uint32
    header                  UTF-8 JSON object (sorted keys)
    payload                 raw float64 little-endian values (may be empty)
    crc32                   4 bytes  over everything before it

The CRC only catches accidental corruption and truncation: these bytes are not
authenticated. Seal them with ``medseal.crypto`` for storage or transport.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from medseal.privacy.more.errors import MoreFormatError

__all__ = ["FORMAT_VERSION", "KIND_CONTEXT", "KIND_KEY", "KIND_TENSOR", "pack", "unpack"]

MAGIC = b"MSMORE"
FORMAT_VERSION = 1
KIND_TENSOR = b"T"
KIND_CONTEXT = b"C"
KIND_KEY = b"K"
_KIND_NAMES = {KIND_TENSOR: "tensor", KIND_CONTEXT: "public context", KIND_KEY: "secret key"}
_PREFIX = struct.Struct("<6sc B I")
_CRC = struct.Struct("<I")
_MAX_HEADER = 1 << 16


def pack(kind: bytes, header: dict[str, Any], payload: bytes = b"") -> bytes:
    """Frame ``header`` and ``payload`` as versioned MORE bytes of the given kind."""
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    body = _PREFIX.pack(MAGIC, kind, FORMAT_VERSION, len(head)) + head + payload
    return body + _CRC.pack(zlib.crc32(body))


def unpack(blob: bytes | bytearray | memoryview, kind: bytes) -> tuple[dict[str, Any], memoryview]:
    """Check framing, kind, version and CRC; return ``(header, payload)``.

    Raises
    ------
    MoreFormatError
        Wrong magic or kind, unsupported version, bad length or CRC, invalid header.
    """
    data = memoryview(bytes(blob))
    want = _KIND_NAMES.get(kind, "?")
    if len(data) < _PREFIX.size + _CRC.size:
        raise MoreFormatError(f"not a serialized MORE {want}: too short ({len(data)} bytes)")
    magic, got_kind, version, head_len = _PREFIX.unpack_from(data, 0)
    if magic != MAGIC:
        raise MoreFormatError(f"not a serialized MORE {want}: bad magic")
    if got_kind != kind:
        got = _KIND_NAMES.get(got_kind, "unknown kind")
        raise MoreFormatError(f"expected a serialized MORE {want}, got a {got}")
    if version != FORMAT_VERSION:
        raise MoreFormatError(
            f"unsupported MORE {want} format version {version} (this build reads {FORMAT_VERSION})"
        )
    body_len = len(data) - _CRC.size
    (crc,) = _CRC.unpack_from(data, body_len)
    if zlib.crc32(data[:body_len]) != crc:
        raise MoreFormatError(f"serialized MORE {want} is corrupt or truncated (CRC mismatch)")
    if head_len > _MAX_HEADER or _PREFIX.size + head_len > body_len:
        raise MoreFormatError(f"serialized MORE {want} has an invalid header length")
    try:
        header = json.loads(bytes(data[_PREFIX.size : _PREFIX.size + head_len]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MoreFormatError(f"serialized MORE {want} has an unreadable header") from exc
    if not isinstance(header, dict):
        raise MoreFormatError(f"serialized MORE {want} has an invalid header")
    return header, data[_PREFIX.size + head_len : body_len]
