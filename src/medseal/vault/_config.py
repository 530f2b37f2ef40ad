"""``vault.json``: a vault's settings (id, owner, key ring, catalogue and blob URLs).

Writing it is the last step of creating a vault (:func:`create`): a directory
without it holds no vault, whatever else a failed creation left there.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from medseal.errors import ConfigError, StorageError
from medseal.vault._catalog_repo import Catalog
from medseal.vault.anchor import ANCHOR_NAME
from medseal.vault.catalog import SCHEMA_VERSION
from medseal.vault.manifest import blob_dirs

if TYPE_CHECKING:  # pragma: no cover
    from medseal.vault._parts import VaultParts

__all__ = [
    "CONFIG_NAME",
    "anchor_path",
    "blob_options",
    "blob_url",
    "codec_name",
    "create",
    "db_url",
    "default_codec",
    "new_config",
    "read_config",
    "set_default_codec",
    "write_config",
]

CONFIG_NAME = "vault.json"

_V = TypeVar("_V", bound="VaultParts")


def create(root: Path, config: Mapping[str, Any], make: Callable[[], _V]) -> _V:
    """Create the vault of ``config`` at ``root``: catalogue schema, its settings and the
    ``init`` audit entry, then ``vault.json``. ``make`` builds the vault object."""
    if (root / CONFIG_NAME).exists():
        raise ConfigError(f"a vault already exists at {root}")
    root.mkdir(parents=True, exist_ok=True)
    vault = make()
    try:
        vault.catalog.create_schema()
    except Exception as exc:
        raise StorageError(f"could not create the catalogue: {type(exc).__name__}") from exc
    vault.blobs.make_dirs(blob_dirs())
    with vault._tx("create the catalogue") as conn:
        Catalog.claim(conn, vault.id, SCHEMA_VERSION, vault.keyring.current_kek_id)
        where = {"db": vault.catalog.dialect, "blobs": "local" if vault.blobs.local else "remote"}
        vault._record(vault.owner, "init", "ok", detail=where, conn=conn)
    write_config(root, config)
    return vault


def new_config(
    *,
    owner: str,
    keyring_id: str,
    db: str | None,
    blobs: str | None,
    storage_options: Mapping[str, Any] | None,
    audit_anchor: str | None = None,
    codec: str | None = None,
) -> dict[str, Any]:
    """A new vault's settings; ``codec`` is the default codec of its objects.

    ``codec=None`` records :func:`medseal.codec.default_codec` (HTJ2K where an
    HTJ2K encoder is installed, else classic JPEG 2000).
    """
    for secret in ("key", "secret", "token", "password"):
        if storage_options and secret in storage_options:
            raise ConfigError(
                f"storage option {secret!r} looks like a credential; pass credentials "
                "through the environment, not the vault settings"
            )
    return {
        "format": "medseal-vault",
        "version": SCHEMA_VERSION,
        "id": uuid.uuid4().hex,
        "owner": owner,
        "keyring_id": keyring_id,
        "db": db or "sqlite:///catalog.sqlite",
        "blobs": blobs or "blobs",
        "storage_options": dict(storage_options or {}),
        "audit_anchor": audit_anchor or ANCHOR_NAME,
        "codec": codec_name(codec),
        "created_at": datetime.now(UTC).isoformat(),
    }


def codec_name(codec: str | None) -> str:
    """``codec`` checked against the codec registry (``None``: the measured default)."""
    from medseal.codec.registry import CodecName, UnknownCodecError, default_codec

    if codec is None:
        return str(default_codec().value)
    try:
        return str(CodecName(str(codec).lower()).value)
    except ValueError:
        known = ", ".join(sorted(c.value for c in CodecName))
        raise UnknownCodecError(f"unknown codec {codec!r}; known codecs: {known}") from None


def default_codec(config: Mapping[str, Any]) -> str:
    """The codec new objects use: ``config["codec"]``, or the measured default.

    Vaults created before the setting existed have no ``"codec"``: they get
    the default too (each stored object records its own codec, so older
    objects keep decoding whatever the setting says).
    """
    value = config.get("codec")
    if value is not None and not isinstance(value, str):
        raise ConfigError("vault settings: 'codec' must be a codec name")
    try:
        return codec_name(value)
    except ValueError as exc:
        raise ConfigError(f"vault settings: {exc}") from None


def set_default_codec(root: Path, codec: str) -> str:
    """Record ``codec`` as the default codec in ``root``'s ``vault.json``; returns its name."""
    name = codec_name(codec)
    config = read_config(root)
    config["codec"] = name
    write_config(root, config)
    return name


def write_config(root: Path, config: Mapping[str, Any]) -> None:
    """Write ``vault.json`` atomically, readable by its owner only (0600)."""
    tmp = root / (CONFIG_NAME + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(dict(config), indent=2) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / CONFIG_NAME)


def read_config(root: Path) -> dict[str, Any]:
    path = root / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"no vault at {root} (run `medseal vault init {root}`)")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"vault settings at {path} are unreadable: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != "medseal-vault":
        raise ConfigError(f"{path} is not a medseal vault")
    return config


def db_url(root: Path, config: Mapping[str, Any]) -> str:
    url = str(config["db"])
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url[len("sqlite:///") :]
        if rel and not os.path.isabs(rel):
            return f"sqlite:///{(root / rel).resolve()}"
    return url


def anchor_path(root: Path, config: Mapping[str, Any]) -> Path:
    """The audit anchor file (relative paths are inside the vault directory)."""
    path = Path(str(config.get("audit_anchor") or ANCHOR_NAME)).expanduser()
    return path if path.is_absolute() else root / path


def blob_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """fsspec options; ``MEDSEAL_S3_ENDPOINT`` sets the endpoint of an ``s3://`` store."""
    options = dict(config.get("storage_options") or {})
    endpoint = os.environ.get("MEDSEAL_S3_ENDPOINT")
    if endpoint and str(config["blobs"]).startswith("s3://"):
        options.setdefault("client_kwargs", {}).setdefault("endpoint_url", endpoint)
    return options


def blob_url(root: Path, config: Mapping[str, Any]) -> str:
    url = str(config["blobs"])
    if "://" in url or os.path.isabs(url):
        return url
    return str((root / url).resolve())
