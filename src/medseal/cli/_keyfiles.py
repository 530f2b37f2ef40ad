"""Secret key files outside the vault (MORE and CKKS keys): written 0600, read sealed only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from medseal.cli._common import open_keyring
from medseal.errors import ConfigError, MedsealError

if TYPE_CHECKING:
    from medseal.privacy.more import MoreKey

__all__ = ["read_more_key", "sealed_key_bytes", "write_secret_file"]


def write_secret_file(path: Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` with mode 0600, atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sealed_key_bytes(path: Path, *, error: type[MedsealError] = ConfigError) -> bytes:
    """The bytes of the key file ``path``, refused with one ``error`` line when absent or in clear.

    A MORE key in clear was written before keys were sealed; ``more seal-key`` seals it.
    """
    from medseal.privacy.more import is_clear_key

    if not path.is_file():
        raise error(f"no key file at {path}")
    blob = path.read_bytes()
    if is_clear_key(blob):
        raise error(
            f"{path} holds a MORE key in clear (written before keys were sealed); "
            f"run `medseal more seal-key {path}` to seal it under the key ring"
        )
    return blob


def read_more_key(path: Path, keyring: Path | None) -> MoreKey:
    """The MORE key sealed in ``path``, opened with the key ring."""
    from medseal.privacy.more import MoreKey

    return MoreKey.unseal(sealed_key_bytes(path), open_keyring(keyring))
