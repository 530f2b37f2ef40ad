"""Authenticated encryption of stored objects, with envelope keys.

Third stage of the flow (``ingest -> codec -> crypto -> vault``): the vault
hands encoded image bytes to :func:`seal` and stores the returned container
plus its wrapped data key; :func:`unseal` reverses it. :class:`KeyRing` holds
the key-encryption keys (rotation) and a derivation root (:meth:`KeyRing.derive`).
The container format is specified in ``docs/format.md``.

>>> from medseal.crypto import KeyRing, seal, unseal
>>> ring = KeyRing.in_memory()
>>> blob = seal(b"hello", keyring=ring, associated_data=b"id-1")
>>> unseal(blob.data, blob.wrapped_key, keyring=ring, associated_data=b"id-1")
b'hello'
"""

from __future__ import annotations

from medseal.crypto._format import Algorithm
from medseal.crypto.keyring import KeyRing, WrappedKey
from medseal.crypto.seal import (
    CONTAINER_OVERHEAD,
    SealedBlob,
    container_header_size,
    seal,
    seal_into,
    sealed_size,
    unseal,
    unseal_into,
)

__all__ = [
    "CONTAINER_OVERHEAD",
    "Algorithm",
    "KeyRing",
    "SealedBlob",
    "WrappedKey",
    "container_header_size",
    "seal",
    "seal_into",
    "sealed_size",
    "unseal",
    "unseal_into",
]
