"""Seal and unseal: the authenticated-encryption recipe of medseal.

Sits between ``codec`` and ``vault`` in the flow: the vault hands an encoded
image (bytes) to :func:`seal`, stores the returned container and the wrapped
data key, and later calls :func:`unseal`. Bytes in, bytes out: no file I/O.

Each call to :func:`seal` gets a fresh data key (DEK) from the
:class:`~medseal.crypto.keyring.KeyRing` and a fresh random nonce/IV; neither
is ever a parameter. Every failure to open a container raises
:class:`~medseal.errors.DecryptionError` with one generic message, and the tag
or MAC is verified before any plaintext exists. The byte layout is in
:mod:`medseal.crypto._format` and ``docs/format.md``.
"""

from __future__ import annotations

import hmac
import os
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from medseal.crypto._format import (
    DECRYPTION_FAILED,
    DEK_SIZE,
    KEY_ID_BYTES,
    NONCE_SIZE,
    TAG_SIZE,
    Algorithm,
    build_header,
    coerce_algorithm,
    fixed_overhead,
    parse_header,
)
from medseal.errors import DecryptionError

if TYPE_CHECKING:  # pragma: no cover
    from medseal.crypto.keyring import KeyRing, WrappedKey

__all__ = [
    "CONTAINER_OVERHEAD", "SealedBlob", "container_header_size", "seal", "seal_into", "sealed_size",
    "unseal", "unseal_into",
]  # fmt: skip

#: Bytes a container adds over the plaintext for the standard 24-character key
#: id: header (9 + key id + nonce) + tag. GCM: 9+24+12+16 = 61.
#: CBC+HMAC: 9+24+16+32 = 81, plus 1..16 bytes of PKCS#7 padding (see
#: :func:`sealed_size` for the exact figure).
CONTAINER_OVERHEAD: dict[Algorithm, int] = {alg: fixed_overhead(alg) for alg in Algorithm}


@dataclass(frozen=True)
class SealedBlob:
    """A sealed container and the wrapped data key needed to open it.

    ``data`` is the complete container (header, ciphertext, tag); it is safe
    to store anywhere. ``wrapped_key`` is stored next to it (the vault keeps it
    in its catalogue so rotation never rewrites blobs).
    """

    data: bytes | bytearray = field(repr=False)  # bytearray for GCM: no extra copy of big images
    wrapped_key: WrappedKey

    def __repr__(self) -> str:
        return f"SealedBlob(size={len(self.data)}, wrapped_key={self.wrapped_key!r})"


GCM_TAG_SIZE = 16
# AESGCM.encrypt_into / decrypt_into (recent cryptography releases, detected here):
# ciphertext and tag in one call, at about a quarter of the fixed cost of a
# Cipher(AES, GCM) context; older releases take the Cipher path (the same bytes).
_AEAD_INTO = hasattr(AESGCM, "encrypt_into") and hasattr(AESGCM, "decrypt_into")


def _as_bytes(value: object, name: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{name} must be bytes, got {type(value).__name__}")


def _as_buffer(value: object, name: str) -> bytes | memoryview:
    """``value`` as a flat byte buffer without copying it (bytes as they are)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        view = memoryview(value)
        if not view.c_contiguous:
            return memoryview(view.tobytes())
        return view if view.format == "B" and view.ndim == 1 else view.cast("B")
    raise TypeError(f"{name} must be bytes, got {type(value).__name__}")


def _cbc_mac(mac_key: bytes, aad: bytes, ciphertext: bytes | memoryview) -> bytes:
    """HMAC-SHA256 over ``A || C || u64le(len(A))``; the trailing length makes the split unambiguous."""
    h = crypto_hmac.HMAC(mac_key, hashes.SHA256())
    h.update(aad)
    h.update(ciphertext)
    h.update(struct.pack("<Q", len(aad)))
    return h.finalize()


def _encrypt(
    plaintext: bytes | memoryview,
    dek: bytes,
    nonce: bytes,
    key_id: str,
    associated_data: bytes,
    algorithm: Algorithm,
) -> bytes | bytearray:
    if len(dek) != DEK_SIZE[algorithm]:
        raise ValueError(f"{algorithm.value} needs a {DEK_SIZE[algorithm]}-byte data key")
    header = build_header(algorithm, key_id, nonce)
    aad = header + associated_data
    if algorithm is Algorithm.AES_256_GCM:
        # One pass into a preallocated buffer laid out as header || ciphertext || tag:
        # AESGCM.encrypt plus a concatenation would copy a large image twice more.
        out = bytearray(len(header) + len(plaintext) + GCM_TAG_SIZE)
        _gcm_into(plaintext, dek, nonce, header, aad, memoryview(out))
        return out
    enc_key, mac_key = dek[:32], dek[32:]
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(enc_key), modes.CBC(nonce)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return header + ciphertext + _cbc_mac(mac_key, aad, ciphertext)


def _gcm_into(
    plaintext: bytes | memoryview,
    dek: bytes,
    nonce: bytes,
    header: bytes,
    aad: bytes,
    view: memoryview,
) -> int:
    """Write header || ciphertext || tag into ``view``; returns the container's size."""
    end = len(header) + len(plaintext)
    view[: len(header)] = header
    if _AEAD_INTO:
        written = AESGCM(dek).encrypt_into(nonce, plaintext, aad, view[len(header) : end + GCM_TAG_SIZE])
        if written != len(plaintext) + GCM_TAG_SIZE:  # pragma: no cover - GCM is a stream mode
            raise RuntimeError("AES-GCM wrote an unexpected number of bytes")
        return end + GCM_TAG_SIZE
    gcm = Cipher(algorithms.AES(dek), modes.GCM(nonce)).encryptor()
    gcm.authenticate_additional_data(aad)
    # update_into wants room for one extra block; the tag slot provides it
    written = gcm.update_into(plaintext, view[len(header) : end + GCM_TAG_SIZE])
    gcm.finalize()
    if written != len(plaintext):  # pragma: no cover - GCM is a stream mode
        raise RuntimeError("AES-GCM wrote an unexpected number of bytes")
    view[end : end + GCM_TAG_SIZE] = gcm.tag
    return end + GCM_TAG_SIZE


def _decrypt(
    data: bytes | memoryview, dek: bytes, key_id: str, associated_data: bytes
) -> bytes:
    """Open a container with a known DEK; every failure is a generic DecryptionError.

    The ciphertext is read through a memoryview of ``data`` (never copied); the
    one output buffer is the plaintext returned.
    """
    header = parse_header(data)
    # not secret, but compare in constant time anyway so no check leaks timing
    if not hmac.compare_digest(header.key_id.encode("ascii"), key_id.encode("ascii", "replace")):
        raise DecryptionError(DECRYPTION_FAILED)
    algorithm = header.algorithm
    if len(dek) != DEK_SIZE[algorithm]:
        raise DecryptionError(DECRYPTION_FAILED)
    aad = header.raw + associated_data
    body = memoryview(data)[header.size :]
    try:
        if algorithm is Algorithm.AES_256_GCM:
            return AESGCM(dek).decrypt(header.nonce, body, aad)
        enc_key, mac_key = dek[:32], dek[32:]
        tag_size = TAG_SIZE[algorithm]
        ciphertext, tag = body[:-tag_size], body[-tag_size:]
        expected = _cbc_mac(mac_key, aad, ciphertext)
        if not hmac.compare_digest(expected, tag):
            raise DecryptionError(DECRYPTION_FAILED)
        # only authenticated bytes reach the cipher and the unpadder
        decryptor = Cipher(algorithms.AES(enc_key), modes.CBC(header.nonce)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except (InvalidTag, ValueError):
        raise DecryptionError(DECRYPTION_FAILED) from None


def seal(
    plaintext: bytes | bytearray | memoryview,
    *,
    keyring: KeyRing,
    associated_data: bytes = b"",
    algorithm: Algorithm | str = Algorithm.AES_256_GCM,
) -> SealedBlob:
    """Encrypt and authenticate ``plaintext`` under a fresh data key.

    Parameters
    ----------
    plaintext : bytes
        What to protect (any length, including empty).
    keyring : KeyRing
        Supplies a new random data key, wrapped under its current KEK.
    associated_data : bytes, optional
        Context that is authenticated but not encrypted (e.g. the object id and
        manifest hash). The same bytes must be given to :func:`unseal`.
    algorithm : Algorithm or str, optional
        ``"aes-256-gcm"`` (default) or ``"aes-256-cbc-hmac-sha256"``.

    Returns
    -------
    SealedBlob
        The container bytes and the wrapped data key.

    Notes
    -----
    There is deliberately no way to pass a key, nonce or IV: reusing a GCM
    nonce under one key breaks confidentiality and authenticity. A random
    96-bit nonce is safe here because every data key encrypts exactly once.

    Examples
    --------
    >>> from medseal.crypto import KeyRing, seal, unseal
    >>> ring = KeyRing.in_memory()
    >>> blob = seal(b"pixels", keyring=ring, associated_data=b"obj-1")
    >>> unseal(blob.data, blob.wrapped_key, keyring=ring, associated_data=b"obj-1")
    b'pixels'
    """
    plain = _as_buffer(plaintext, "plaintext")  # read in place: no copy of a large image
    associated_data = _as_bytes(associated_data, "associated_data")
    alg = coerce_algorithm(algorithm)
    dek, wrapped = keyring.new_data_key(alg)
    nonce = os.urandom(NONCE_SIZE[alg])
    data = _encrypt(plain, dek, nonce, wrapped.key_id, associated_data, alg)
    return SealedBlob(data=data, wrapped_key=wrapped)


def unseal(
    data: bytes | bytearray | memoryview,
    wrapped_key: WrappedKey,
    *,
    keyring: KeyRing,
    associated_data: bytes = b"",
) -> bytes:
    """Verify and decrypt a container made by :func:`seal`.

    Parameters
    ----------
    data : bytes, bytearray or memoryview
        The full container (read in place, never copied).
    wrapped_key : WrappedKey
        The data key stored with it; its ``key_id`` must match the header.
    keyring : KeyRing
        Must hold the KEK named by ``wrapped_key.kek_id``.
    associated_data : bytes, optional
        Exactly the bytes given to :func:`seal`.

    Returns
    -------
    bytes
        The plaintext, produced only after the tag/MAC verified.

    Raises
    ------
    DecryptionError
        For every failure (damaged or truncated bytes, bad magic/version,
        unknown or wrong key, key-id mismatch, other associated data, bad
        padding), always with the same message.
    """
    try:
        view = _as_buffer(data, "data")  # decrypted in place: the ciphertext is not copied
        associated_data = _as_bytes(associated_data, "associated_data")
    except TypeError:
        raise DecryptionError(DECRYPTION_FAILED) from None
    # cheap header checks first, so garbage never costs a key unwrap
    header = parse_header(view)
    if not hmac.compare_digest(
        header.key_id.encode("ascii"), str(getattr(wrapped_key, "key_id", "")).encode("utf-8")
    ):
        raise DecryptionError(DECRYPTION_FAILED)
    dek = keyring.unwrap(wrapped_key)
    return _decrypt(view, dek, header.key_id, associated_data)


def seal_into(
    plaintext: bytes | bytearray | memoryview,
    out: bytearray | memoryview,
    *,
    keyring: KeyRing,
    associated_data: bytes = b"",
) -> tuple[int, WrappedKey]:
    """:func:`seal` (AES-256-GCM) into the caller's buffer ``out``, reused across calls.

    ``out`` must hold at least :func:`sealed_size` bytes; the container is
    ``out[:n]`` for the returned ``n``. Same container, same fresh data key
    and nonce per call as :func:`seal`: only the allocation is saved.
    """
    plain = _as_buffer(plaintext, "plaintext")
    associated_data = _as_bytes(associated_data, "associated_data")
    view = memoryview(out).cast("B") if not isinstance(out, bytearray) else memoryview(out)
    alg = Algorithm.AES_256_GCM
    dek, wrapped = keyring.new_data_key(alg)
    nonce = os.urandom(NONCE_SIZE[alg])
    header = build_header(alg, wrapped.key_id, nonce)
    if len(view) < len(header) + len(plain) + GCM_TAG_SIZE:
        raise ValueError("the output buffer is smaller than the sealed container")
    n = _gcm_into(plain, dek, nonce, header, header + associated_data, view)
    return n, wrapped


def unseal_into(
    data: bytes | bytearray | memoryview,
    wrapped_key: WrappedKey,
    out: bytearray | memoryview,
    *,
    keyring: KeyRing,
    associated_data: bytes = b"",
) -> int:
    """:func:`unseal` an AES-256-GCM container into the caller's buffer; returns its length.

    ``out`` needs room for the plaintext plus one block. Decryption streams
    into ``out`` and the tag is checked at the end: on any failure ``out`` is
    wiped before :class:`DecryptionError` is raised, so no unauthenticated
    byte is left to the caller.
    """
    try:
        view = _as_buffer(data, "data")
        associated_data = _as_bytes(associated_data, "associated_data")
    except TypeError:
        raise DecryptionError(DECRYPTION_FAILED) from None
    header = parse_header(view)
    if header.algorithm is not Algorithm.AES_256_GCM or not hmac.compare_digest(
        header.key_id.encode("ascii"), str(getattr(wrapped_key, "key_id", "")).encode("utf-8")
    ):
        raise DecryptionError(DECRYPTION_FAILED)
    dek = keyring.unwrap(wrapped_key)
    body = memoryview(view)[header.size :]
    n = len(body) - GCM_TAG_SIZE
    dest = memoryview(out).cast("B") if not isinstance(out, bytearray) else memoryview(out)
    if len(dest) < n + 16:
        raise ValueError("the output buffer is smaller than the plaintext plus one block")
    aad = header.raw + associated_data
    try:  # both paths write before the tag is known to be good: wiped below if it is not
        if _AEAD_INTO:
            AESGCM(dek).decrypt_into(header.nonce, body, aad, dest[:n])
        else:
            gcm = Cipher(algorithms.AES(dek), modes.GCM(header.nonce, bytes(body[n:]))).decryptor()
            gcm.authenticate_additional_data(aad)
            gcm.update_into(body[:n], dest)
            gcm.finalize()
    except (InvalidTag, ValueError):
        dest[: n + 16] = bytes(n + 16)
        raise DecryptionError(DECRYPTION_FAILED) from None
    return n


def container_header_size(data: bytes) -> int:
    """Size in bytes of the header of the container ``data`` (for overhead reports).

    Raises
    ------
    DecryptionError
        If ``data`` does not start with a well-formed version-1 header.
    """
    return parse_header(_as_bytes(data, "data")).size


def sealed_size(
    plaintext_size: int,
    algorithm: Algorithm | str = Algorithm.AES_256_GCM,
    *,
    key_id_len: int = 2 * KEY_ID_BYTES,
) -> int:
    """Exact container size for a plaintext of ``plaintext_size`` bytes.

    GCM: ``9 + key_id_len + 12 + n + 16``. CBC+HMAC:
    ``9 + key_id_len + 16 + 16 * (n // 16 + 1) + 32`` (PKCS#7 always pads).
    """
    alg = coerce_algorithm(algorithm)
    if plaintext_size < 0:
        raise ValueError("plaintext_size must be >= 0")
    body = plaintext_size
    if alg is Algorithm.AES_256_CBC_HMAC_SHA256:
        body = 16 * (plaintext_size // 16 + 1)
    return fixed_overhead(alg, key_id_len) + body


def _seal_with_key_for_test(
    plaintext: bytes,
    dek: bytes,
    nonce: bytes,
    key_id: str,
    aad: bytes,
    algorithm: Algorithm | str,
) -> bytes:
    """HAZMAT, TESTS ONLY: build a container from a caller-chosen key and nonce.

    .. warning::
       This exists only to produce and check the frozen known-answer vector in
       ``tests/vectors/container_v1.json``. Reusing a nonce with the same key
       destroys GCM's confidentiality and authenticity. Never call it from
       library code; use :func:`seal`, which draws a fresh key and nonce.
    """
    return bytes(
        _encrypt(
            _as_bytes(plaintext, "plaintext"),
            _as_bytes(dek, "dek"),
            _as_bytes(nonce, "nonce"),
            key_id,
            _as_bytes(aad, "aad"),
            coerce_algorithm(algorithm),
        )
    )


def _unseal_with_key_for_test(data: bytes, dek: bytes, key_id: str, aad: bytes) -> bytes:
    """HAZMAT, TESTS ONLY: open a container with a caller-supplied data key."""
    return _decrypt(_as_bytes(data, "data"), _as_bytes(dek, "dek"), key_id, _as_bytes(aad, "aad"))
