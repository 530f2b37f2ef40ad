"""An object's manifest, its associated data and its blob key.

The manifest is the catalogue's PHI-free description of a sealed object
(shape, codec, photometric, which header tags de-identification removed, and
the policy-relevant facts: dataset, kind, parent). It is stored as canonical
JSON beside the row; its SHA-256 is bound into the AEAD associated data of the
sealed blob, so a swapped manifest never decrypts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import operator
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from json.encoder import encode_basestring_ascii
from typing import Any

from medseal.errors import IntegrityError, InvalidIdError

__all__ = [
    "MANIFEST_FORMAT",
    "PLAINTEXT_KINDS",
    "DerivedKind",
    "blob_dirs",
    "blob_key",
    "build_manifest",
    "canonical",
    "check_id",
    "jsonable",
    "manifest_sha256",
    "object_aad",
    "row_mac",
    "check_row",
]

MANIFEST_FORMAT = 2
# Row columns bound by the manifest MAC (everything but the manifest text, which its
# hash stands for, the timestamp and the MAC itself).
BOUND_COLUMNS = (
    "id", "dataset", "kind", "name", "label", "patient", "split", "parent_id",
    "manifest_sha256", "blob_key", "blob_sha256", "blob_size", "payload_size",
    "algorithm", "key_id", "created_by", "source_fp",
)  # fmt: skip
# Manifest fields that must equal the row's (the policy reads them from the row).
MIRRORED = ("id", "dataset", "kind", "parent_id", "name", "label", "patient", "split")
_ID = re.compile(r"[0-9a-f]{32}")


class DerivedKind(StrEnum):
    """What a derived object's opaque payload is (its catalogue ``kind``)."""

    CKKS = "ckks"  # a CKKS-encrypted image: serialized ciphertexts, meant for analysts


# Kinds whose payload is a packed image (``get``, ``get_many``, ``export_dicom`` read them).
PLAINTEXT_KINDS = frozenset({"image", "masked"})


def check_id(object_id: str) -> str:
    """Object ids are 32 lowercase hex digits; anything else (``../x``, ``/etc``) is refused."""
    if not isinstance(object_id, str) or not _ID.fullmatch(object_id):
        raise InvalidIdError("invalid object id: expected 32 hexadecimal digits")
    return object_id


# One encoder for every call (``json.dumps`` with options builds a new one each time).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, ASCII only."""
    return _CANONICAL.encode(obj).encode()


_PLAIN = (str, int, float, bool)


def jsonable(value: Any) -> Any:
    """``value`` with mappings, sequences and numpy scalars made plain JSON types."""
    if value is None or type(value) in _PLAIN:  # the common case, before the ABC checks
        return value
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


def blob_dirs() -> list[str]:
    """Every directory :func:`blob_key` uses (``objects/00`` ... ``objects/ff``)."""
    return [f"objects/{i:02x}" for i in range(256)]


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
    name: str | None,
    label: int | None,
    patient: str | None,
    split: str | None,
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
        "name": name,
        "label": label,
        "patient": patient,
        "split": split,
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


_ROW_MAC_PREFIX = b"medseal-object-row-v2\x00"
_bound_values = operator.attrgetter(*BOUND_COLUMNS)


def row_mac(key: bytes, values: Mapping[str, Any]) -> str:
    """HMAC-SHA256 over the bound columns of a catalogue row."""
    return _mac(key, [values.get(c) for c in BOUND_COLUMNS])


# (index into BOUND_COLUMNS, '"name":') in canonical (sorted) key order.
_ROW_PLAN = tuple(
    (i, '"' + BOUND_COLUMNS[i] + '":')
    for i in sorted(range(len(BOUND_COLUMNS)), key=BOUND_COLUMNS.__getitem__)
)


def _row_body(values: Sequence[Any]) -> bytes:
    """``canonical`` of the bound columns, written directly when they are str, int or None
    (every catalogue row): the same bytes at half the cost of building and sorting a dict."""
    parts = []
    for i, prefix in _ROW_PLAN:
        v = values[i]
        t = type(v)
        if t is str:
            parts.append(prefix + encode_basestring_ascii(v))
        elif v is None:
            parts.append(prefix + "null")
        elif t is int:
            parts.append(prefix + int.__repr__(v))
        else:  # numpy scalars, floats, bools: the general path
            return canonical({c: jsonable(x) for c, x in zip(BOUND_COLUMNS, values, strict=True)})
    return ("{" + ",".join(parts) + "}").encode()


def _mac(key: bytes, values: Sequence[Any]) -> str:
    return hmac.digest(key, _ROW_MAC_PREFIX + _row_body(values), "sha256").hex()


def check_row(key: bytes, row: Any) -> dict[str, Any]:
    """The manifest of ``row`` after checking it is the one the vault stored.

    Raises :class:`IntegrityError` when the manifest's hash, the row's MAC or
    any policy-relevant field (dataset, kind, parent ...) disagree: a catalogue
    writer without the key ring cannot move, relabel or re-route an object.
    """
    object_id = str(row.id)
    text = str(row.manifest)
    if manifest_sha256(text.encode()) != row.manifest_sha256:
        raise IntegrityError(f"object {object_id}: manifest does not match its hash")
    try:
        manifest = json.loads(text)
    except ValueError:
        raise IntegrityError(f"object {object_id}: manifest is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise IntegrityError(
            f"object {object_id}: manifest format {manifest.get('format') if isinstance(manifest, dict) else '?'} "
            f"is not {MANIFEST_FORMAT} (stored by an older medseal; ingest it again)"
        )
    bound = _bound_values(row)  # one C call for the 17 columns
    if not hmac.compare_digest(_mac(key, bound), str(row.manifest_mac or "")):
        raise IntegrityError(
            f"object {object_id}: catalogue row does not match its authenticated manifest"
        )
    values = dict(zip(BOUND_COLUMNS, bound, strict=True))
    differ = [c for c in MIRRORED if manifest.get(c) != values[c]]
    if differ:  # pragma: no cover - the MAC covers these; kept as a second, explicit check
        raise IntegrityError(
            f"object {object_id}: catalogue row and manifest disagree on {', '.join(differ)}"
        )
    return manifest
