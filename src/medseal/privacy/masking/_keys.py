"""Key handling for the masking schemes: sub-key derivation and keyed permutations.

Sits under :mod:`medseal.privacy.masking`: every permutation and flip pattern a
scheme uses is a pure function of a 32-byte key, so the key holder can always
rebuild it (and invert the mask), on any machine and any numpy version.

- Sub-keys: HKDF-SHA256 (RFC 5869) with ``info=b"medseal/mask/<purpose>"``.
- Keyed randomness: the ChaCha20 keystream under the sub-key (nonce = the
  length of the object being permuted), read as 64-bit integers. A permutation
  of ``n`` items is the stable ``argsort`` of ``n`` such integers ("random sort
  keys"); with 64-bit sort keys a tie among ``n <= 2**20`` items has
  probability below ``2**-25``, and a tie is still resolved deterministically.

We do not use ``numpy.random.Generator`` here on purpose: NumPy does not promise
that a seeded stream or ``permutation`` stays the same across releases, and a
dataset masked today must be unmaskable after an upgrade.
"""

from __future__ import annotations

import hashlib

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from medseal.errors import InputError

__all__ = [
    "KEY_SIZE",
    "check_key",
    "derive_key",
    "image_key",
    "key_id",
    "keyed_flags",
    "keyed_permutation",
]

KEY_SIZE = 32
_INFO_PREFIX = b"medseal/mask/"


def check_key(key: object) -> bytes:
    """Return ``key`` as ``bytes`` after checking its type and length (never echoes it)."""
    if isinstance(key, str) or not isinstance(key, bytes | bytearray | memoryview):
        raise TypeError(f"masking key must be bytes, got {type(key).__name__}")
    raw = bytes(key)
    if len(raw) != KEY_SIZE:
        raise InputError(f"masking key must be {KEY_SIZE} bytes, got {len(raw)} bytes")
    return raw


def derive_key(key: bytes, purpose: str | bytes) -> bytes:
    """HKDF-SHA256 sub-key of ``key`` with ``info = b"medseal/mask/" + purpose``."""
    label = purpose.encode("utf-8") if isinstance(purpose, str) else bytes(purpose)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=_INFO_PREFIX + label)
    return hkdf.derive(check_key(key))


def image_key(dataset_key: bytes, image_id: str | bytes) -> bytes:
    """Per-image key: HKDF(dataset key, info = b"medseal/mask/image/" + image id).

    The ``image/`` label keeps per-image keys apart from the schemes' sub-keys
    (an image called ``"shuffle"`` cannot collide with the shuffle sub-key).
    """
    ident = image_id.encode("utf-8") if isinstance(image_id, str) else bytes(image_id)
    if not ident:
        raise InputError("image id must not be empty")
    return derive_key(dataset_key, b"image/" + ident)


def key_id(key: bytes) -> str:
    """Public fingerprint of a key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(b"medseal/mask/key-id\x00" + check_key(key)).hexdigest()[:16]


def _keystream_u64(subkey: bytes, n: int) -> np.ndarray:
    """``n`` little-endian uint64 values from ChaCha20(subkey), nonce bound to ``n``."""
    # The 16-byte nonce is (64-bit block counter = 0, 64-bit nonce = n): streams for
    # different lengths are independent, so the permutation of 64 items says
    # nothing about the permutation of 192 items under the same sub-key.
    nonce = (0).to_bytes(8, "little") + int(n).to_bytes(8, "little")
    encryptor = Cipher(algorithms.ChaCha20(subkey, nonce), mode=None).encryptor()
    stream = encryptor.update(bytes(8 * n))
    return np.frombuffer(stream, dtype="<u8")


def keyed_permutation(subkey: bytes, n: int) -> np.ndarray:
    """A uniformly distributed (up to 64-bit sort-key ties) permutation of ``range(n)``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return np.argsort(_keystream_u64(check_key(subkey), n), kind="stable").astype(np.intp)


def keyed_flags(subkey: bytes, n: int, fraction: float) -> np.ndarray:
    """Boolean mask with exactly ``round(fraction * n)`` keyed ``True`` positions."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    flags = np.zeros(n, dtype=bool)
    flags[keyed_permutation(subkey, n)[: round(fraction * n)]] = True
    return flags
