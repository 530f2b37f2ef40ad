"""The versioned byte layout of a sealed container (format version 1).

Sits inside ``crypto``: :mod:`medseal.crypto.seal` builds and parses
containers with these helpers; nothing here touches keys or encrypts. The
layout is specified byte by byte in ``docs/format.md``; change it only with a
new version number and a new known-answer vector.

::

    offset  size  field
    0       5     magic  b"MSEAL"
    5       1     version (u8) = 1
    6       1     algorithm (u8): 1 = aes-256-gcm, 2 = aes-256-cbc-hmac-sha256
    7       1     key-id length k (u8, 1..255)
    8       k     key id (ASCII, lowercase hex)
    8+k     1     nonce/IV length n (u8): 12 for GCM, 16 for CBC
    9+k     n     nonce (GCM) or IV (CBC)
    9+k+n   ...   ciphertext
    end-t   t     tag: GCM tag (16) or HMAC-SHA256 (32)

The header (offsets 0 .. 9+k+n) is self-delimiting, so ``header || caller AAD``
is an unambiguous associated-data string.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from medseal.errors import DecryptionError, InputError

__all__ = [
    "DECRYPTION_FAILED",
    "FORMAT_VERSION",
    "HEADER_FIXED_SIZE",
    "KEY_ID_BYTES",
    "MAGIC",
    "Algorithm",
    "AlgorithmCode",
    "Header",
    "coerce_algorithm",
    "parse_header",
]

MAGIC = b"MSEAL"
FORMAT_VERSION = 1
#: magic + version + algorithm + key-id length + nonce length
HEADER_FIXED_SIZE = len(MAGIC) + 4
#: random bytes in a data-key id; its hex form (24 chars) goes into the header
KEY_ID_BYTES = 12

#: The one message every failure to open a container or wrapped key carries.
DECRYPTION_FAILED = (
    "could not open the sealed object (wrong key, wrong associated data, or damaged)"
)


class Algorithm(StrEnum):
    """Authenticated-encryption recipes a container can use."""

    AES_256_GCM = "aes-256-gcm"
    AES_256_CBC_HMAC_SHA256 = "aes-256-cbc-hmac-sha256"


class AlgorithmCode(IntEnum):
    """The algorithm byte written at offset 6."""

    AES_256_GCM = 1
    AES_256_CBC_HMAC_SHA256 = 2


#: nonce/IV length, tag length, data-key length per algorithm
NONCE_SIZE: dict[Algorithm, int] = {
    Algorithm.AES_256_GCM: 12,
    Algorithm.AES_256_CBC_HMAC_SHA256: 16,
}
TAG_SIZE: dict[Algorithm, int] = {
    Algorithm.AES_256_GCM: 16,
    Algorithm.AES_256_CBC_HMAC_SHA256: 32,
}
DEK_SIZE: dict[Algorithm, int] = {
    Algorithm.AES_256_GCM: 32,
    # 32-byte AES key || 32-byte HMAC key: two independent keys, see docs/format.md
    Algorithm.AES_256_CBC_HMAC_SHA256: 64,
}

_CODE_OF = {
    Algorithm.AES_256_GCM: AlgorithmCode.AES_256_GCM,
    Algorithm.AES_256_CBC_HMAC_SHA256: AlgorithmCode.AES_256_CBC_HMAC_SHA256,
}
_ALG_OF = {code: alg for alg, code in _CODE_OF.items()}
# One C-level match instead of a Python loop per character (this runs on every seal/unseal).
_KEY_ID = re.compile(r"[0-9a-f]{1,255}")
_KEY_ID_BYTES_RE = re.compile(rb"[0-9a-f]+")


def coerce_algorithm(algorithm: Algorithm | str) -> Algorithm:
    """Accept an :class:`Algorithm` or its plain-string value."""
    try:
        return Algorithm(algorithm)
    except ValueError:
        allowed = ", ".join(a.value for a in Algorithm)
        raise InputError(f"unknown algorithm {algorithm!r}; choose one of: {allowed}") from None


def valid_key_id(key_id: str) -> bool:
    """True for a non-empty lowercase-hex id of at most 255 characters."""
    return isinstance(key_id, str) and _KEY_ID.fullmatch(key_id) is not None


@dataclass(frozen=True)
class Header:
    """A parsed container header (all fields public, nothing secret)."""

    algorithm: Algorithm
    key_id: str
    nonce: bytes
    raw: bytes  # the exact header bytes, used as the start of the associated data

    @property
    def size(self) -> int:
        return len(self.raw)


def build_header(algorithm: Algorithm, key_id: str, nonce: bytes) -> bytes:
    """Serialize a version-1 header."""
    if not valid_key_id(key_id):
        raise InputError("key id must be 1..255 lowercase hex characters")
    if len(nonce) != NONCE_SIZE[algorithm]:
        raise InputError(f"{algorithm.value} needs a {NONCE_SIZE[algorithm]}-byte nonce")
    kid = key_id.encode("ascii")
    return b"".join(
        (MAGIC, bytes((FORMAT_VERSION, _CODE_OF[algorithm], len(kid))), kid, bytes((len(nonce),)), nonce)
    )


def parse_header(data: bytes | bytearray | memoryview) -> Header:
    """Parse and validate the header at the start of ``data``.

    Raises
    ------
    DecryptionError
        For anything that is not a well-formed version-1 header followed by at
        least a tag's worth of bytes; always with the same generic message.
    """
    view = memoryview(data)
    try:
        if bytes(view[: len(MAGIC)]) != MAGIC:
            raise ValueError
        pos = len(MAGIC)
        version, code, kid_len = struct.unpack_from("<BBB", view, pos)
        if version != FORMAT_VERSION or kid_len == 0:
            raise ValueError
        algorithm = _ALG_OF[AlgorithmCode(code)]
        pos += 3
        kid = bytes(view[pos : pos + kid_len])
        if len(kid) != kid_len or _KEY_ID_BYTES_RE.fullmatch(kid) is None:
            raise ValueError
        pos += kid_len
        (nonce_len,) = struct.unpack_from("<B", view, pos)
        if nonce_len != NONCE_SIZE[algorithm]:
            raise ValueError
        pos += 1
        nonce = bytes(view[pos : pos + nonce_len])
        if len(nonce) != nonce_len:
            raise ValueError
        pos += nonce_len
        body = len(view) - pos - TAG_SIZE[algorithm]
        if body < 0:
            raise ValueError
        if algorithm is Algorithm.AES_256_CBC_HMAC_SHA256 and (body == 0 or body % 16):
            raise ValueError
    except (ValueError, KeyError, struct.error, TypeError):
        raise DecryptionError(DECRYPTION_FAILED) from None
    return Header(
        algorithm=algorithm, key_id=kid.decode("ascii"), nonce=nonce, raw=bytes(view[:pos])
    )


def fixed_overhead(algorithm: Algorithm, key_id_len: int = 2 * KEY_ID_BYTES) -> int:
    """Header plus tag bytes (CBC adds 1..16 padding bytes on top)."""
    return HEADER_FIXED_SIZE + key_id_len + NONCE_SIZE[algorithm] + TAG_SIZE[algorithm]
