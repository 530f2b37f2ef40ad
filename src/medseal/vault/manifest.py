"""An object's manifest, its associated data and its blob key.

The manifest is the catalogue's PHI-free description of a sealed object
(shape, codec, photometric, which header tags de-identification removed, and
the policy-relevant facts: dataset, kind, parent). It is stored as canonical
JSON beside the row; its SHA-256 is bound into the AEAD associated data of the
sealed blob, so a swapped manifest never decrypts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from medseal.errors import InvalidIdError

__all__ = [
    "MANIFEST_FORMAT",
    "blob_key",
    "build_manifest",
    "canonical",
    "check_id",
    "jsonable",
    "manifest_sha256",
    "object_aad",
]

MANIFEST_FORMAT = 1
_ID = re.compile(r"[0-9a-f]{32}")


def check_id(object_id: str) -> str:
    """Object ids are 32 lowercase hex digits; anything else (``../x``, ``/etc``) is refused."""
    if not isinstance(object_id, str) or not _ID.fullmatch(object_id):
        raise InvalidIdError("invalid object id: expected 32 hexadecimal digits")
    return object_id


def canonical(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def jsonable(value: Any) -> Any:
    """``value`` with mappings, sequences and numpy scalars made plain JSON types."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def blob_key(object_id: str) -> str:
    """Where the sealed bytes of ``object_id`` live in the blob store."""
    return f"objects/{object_id[:2]}/{object_id}"


def object_aad(object_id: str, manifest_digest: str) -> bytes:
    """The associated data sealed with an object: its id and its manifest's hash."""
    return b"medseal-object-v1\x00" + object_id.encode() + b"\x00" + bytes.fromhex(manifest_digest)


def manifest_sha256(manifest_bytes: bytes) -> str:
    return hashlib.sha256(manifest_bytes).hexdigest()


def build_manifest(
    *,
    object_id: str,
    dataset: str,
    kind: str,
    parent_id: str | None,
    source: str,
    codec: str,
    lossless: bool,
    codec_params: Mapping[str, Any],
    shape: tuple[int, ...] | list[int],
    dtype: str,
    bits_stored: int,
    photometric: str,
    frames: int,
    meta: Mapping[str, Any],
    deid: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "id": object_id,
        "dataset": dataset,
        "kind": kind,
        "parent_id": parent_id,
        "source": source,
        "codec": codec,
        "lossless": lossless,
        "codec_params": jsonable(dict(codec_params)),
        "shape": list(shape),
        "dtype": dtype,
        "bits_stored": bits_stored,
        "photometric": photometric,
        "frames": frames,
        "meta": jsonable(dict(meta)),
        "deid": None if deid is None else jsonable(dict(deid)),
    }
