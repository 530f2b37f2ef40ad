"""Versioned byte framing of every CKKS object medseal writes.

Layout, all integers little-endian::

    magic   b"MSCKKS"        6 bytes
    kind    1 byte           C public context, K secret key, B encrypted batch, P program
    version 1 byte           FORMAT_VERSION
    header_len              4 bytes uint32
    header                  UTF-8 JSON object (sorted keys)
    payload                 backend bytes (SEAL/TenSEAL serializations, NumPy .npz)
    sha256                  32 bytes over everything before it

The digest detects truncation and corruption (accidental or not) of a blob on
its own; it is not a MAC: whoever can replace a blob can recompute it. Store
and ship these bytes sealed (``medseal.crypto`` / the vault) when an active
attacker matters.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from medseal.privacy.ckks.errors import CKKSFormatError

__all__ = [
    "malformed",
    "FORMAT_VERSION",
    "KIND_BATCH",
    "KIND_CONTEXT",
    "KIND_PROGRAM",
    "KIND_SECRET",
    "pack",
    "split_blobs",
    "unpack",
]

MAGIC = b"MSCKKS"
FORMAT_VERSION = 1
KIND_CONTEXT = b"C"
KIND_SECRET = b"K"
KIND_BATCH = b"B"
KIND_PROGRAM = b"P"
_NAMES = {
    KIND_CONTEXT: "public context",
    KIND_SECRET: "secret key",
    KIND_BATCH: "encrypted batch",
    KIND_PROGRAM: "compiled program",
}
_PREFIX = struct.Struct("<6sc B I")
_DIGEST = 32
_MAX_HEADER = 1 << 24


def pack(kind: bytes, header: dict[str, Any], payload: bytes = b"") -> bytes:
    """Frame ``header`` and ``payload`` as versioned CKKS bytes of ``kind``."""
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    body = _PREFIX.pack(MAGIC, kind, FORMAT_VERSION, len(head)) + head + payload
    return body + hashlib.sha256(body).digest()


def unpack(blob: bytes | bytearray | memoryview, kind: bytes) -> tuple[dict[str, Any], bytes]:
    """Check magic, kind, version, length and digest; return ``(header, payload)``.

    Raises
    ------
    CKKSFormatError
        One line naming what is wrong (never the content).
    """
    data = bytes(blob)
    want = _NAMES.get(kind, "object")
    if len(data) < _PREFIX.size + _DIGEST:
        raise CKKSFormatError(f"not a serialized CKKS {want}: too short ({len(data)} bytes)")
    magic, got, version, head_len = _PREFIX.unpack_from(data, 0)
    if magic != MAGIC:
        raise CKKSFormatError(f"not a serialized CKKS {want}: bad magic")
    if got != kind:
        raise CKKSFormatError(
            f"expected a serialized CKKS {want}, got a {_NAMES.get(got, 'unknown kind')}"
        )
    if version != FORMAT_VERSION:
        raise CKKSFormatError(
            f"unsupported CKKS {want} format version {version} (this build reads {FORMAT_VERSION})"
        )
    body = data[:-_DIGEST]
    if hashlib.sha256(body).digest() != data[-_DIGEST:]:
        raise CKKSFormatError(f"serialized CKKS {want} is truncated or corrupt (digest mismatch)")
    if head_len > _MAX_HEADER or _PREFIX.size + head_len > len(body):
        raise CKKSFormatError(f"serialized CKKS {want} has an invalid header length")
    try:
        header = json.loads(body[_PREFIX.size : _PREFIX.size + head_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CKKSFormatError(f"serialized CKKS {want} has an unreadable header") from exc
    if not isinstance(header, dict):
        raise CKKSFormatError(f"serialized CKKS {want} has an invalid header")
    return header, body[_PREFIX.size + head_len :]


def split_blobs(payload: bytes, lengths: list[int], what: str) -> list[bytes]:
    """Cut ``payload`` into consecutive pieces of the given lengths (checked)."""
    if any(not isinstance(n, int) or n < 0 for n in lengths) or sum(lengths) != len(payload):
        raise CKKSFormatError(f"serialized CKKS {what}: blob lengths do not match its payload")
    out, pos = [], 0
    for n in lengths:
        out.append(payload[pos : pos + n])
        pos += n
    return out


@contextmanager
def malformed(what: str) -> Iterator[None]:
    """Turn a reader's ``KeyError``/``TypeError``/``ValueError`` into one :class:`CKKSFormatError`.

    A :class:`CKKSFormatError` raised inside passes through unchanged.
    """
    try:
        yield
    except CKKSFormatError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CKKSFormatError(f"serialized CKKS {what} has a malformed header") from exc
