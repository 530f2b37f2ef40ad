"""Settings read from the environment, with safe defaults.

- ``MEDSEAL_DATA_DIR``: where full public data sets live (default: a user cache dir).
- ``MEDSEAL_KEYRING``: the key store file (default: ``~/.local/share/medseal/keyring.json``).
- ``MEDSEAL_PASSPHRASE``: the key store passphrase (otherwise the CLI prompts).
- ``MEDSEAL_USER``: the acting principal for CLI commands (``--as`` wins).
- ``MEDSEAL_MAX_PIXELS``: decompression-bomb guard (default 2**28 pixel samples).
"""

from __future__ import annotations

import os
from pathlib import Path

from medseal.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "data_dir",
    "default_keyring_path",
    "max_pixels",
    "shared_data_dir",
]

DEFAULT_MAX_PIXELS = 1 << 28  # 268M samples: far above any real radiograph, stops bombs


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding full public data sets (``--data-dir`` > env > user cache)."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("MEDSEAL_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return _xdg("XDG_CACHE_HOME", ".cache") / "medseal" / "data"


def shared_data_dir() -> Path | None:
    """The project's ``../shared/data`` when running from a checkout, else ``None``."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "data"
        if (parent / "pyproject.toml").exists() and candidate.is_dir():
            return candidate
    return None


def default_keyring_path() -> Path:
    env = os.environ.get("MEDSEAL_KEYRING")
    if env:
        return Path(env).expanduser()
    return _xdg("XDG_DATA_HOME", ".local/share") / "medseal" / "keyring.json"


def max_pixels() -> int:
    raw = os.environ.get("MEDSEAL_MAX_PIXELS")
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError("MEDSEAL_MAX_PIXELS must be an integer") from None
    if value <= 0:
        raise ConfigError("MEDSEAL_MAX_PIXELS must be positive")
    return value
