"""The key-store file: the on-disk form of a :class:`~medseal.crypto.keyring.KeyRing`.

Sits in ``crypto`` under :mod:`medseal.crypto.keyring`, which owns the key
operations and calls this module to read, unlock, reload and write its file.
Here lives everything about the file and nothing about using the keys: the
passphrase and scrypt checks, the master key (scrypt), the file MAC, the
JSON layout (parse and serialise) and the atomic write.

The store is one JSON file, written atomically with mode ``0o600``. It holds
only wrapped keys (AES-KW under the master wrap key), the scrypt salt and
parameters, public ids and an HMAC-SHA256 over all of it (the file-MAC key is
the second half of the scrypt output). ``docs/format.md`` has the layout.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from medseal.crypto._format import valid_key_id
from medseal.errors import ConfigError, WrongPassphraseError

FILE_FORMAT = "medseal-keyring"
FILE_VERSION = 1
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_N_MIN = 2**10
SCRYPT_N_MAX = 2**20  # 1 GiB of scrypt memory at r=8: a hostile file cannot ask for more
# New rings: 2**17 (128 MiB, ~0.3 s), the cost OWASP's password storage guide gives for
# scrypt. Stored rings keep the N written in them, so older rings (2**15) still open.
SCRYPT_N_DEFAULT = 2**17
SALT_BYTES = 16
KEY_BYTES = 32
_WRONG_PASSPHRASE = "could not open the key store: wrong passphrase"

Master = tuple[bytes, bytes]
"""(master wrap key, file-MAC key), both from scrypt over the passphrase."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected a base64 string")
    return base64.b64decode(text.encode("ascii"), validate=True)


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def digest(data: bytes) -> str:
    """The SHA-256 of the file's bytes: how a ring notices the file changed under it."""
    return hashlib.sha256(data).hexdigest()


def check_passphrase(passphrase: object) -> bytes:
    if not isinstance(passphrase, str):
        raise ConfigError("the passphrase must be a string")
    if not passphrase:
        raise ConfigError("refusing an empty passphrase")
    # NFC so the same visible passphrase works whatever keyboard typed it
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def check_scrypt_n(n: object) -> int:
    if (
        not isinstance(n, int)
        or isinstance(n, bool)
        or n < SCRYPT_N_MIN
        or n > SCRYPT_N_MAX
        or n & (n - 1)
    ):
        raise ConfigError(
            f"scrypt_n must be a power of two between {SCRYPT_N_MIN} and {SCRYPT_N_MAX}"
        )
    return n


def scrypt(passphrase: bytes, salt: bytes, n: int) -> Master:
    """(master wrap key, file-MAC key) from the passphrase."""
    out = Scrypt(salt=salt, length=2 * KEY_BYTES, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)
    return out[:KEY_BYTES], out[KEY_BYTES:]


def scrypt_params(n: int, salt: bytes) -> dict[str, Any]:
    """The ``kdf`` entry of a new store."""
    return {"name": "scrypt", "n": n, "r": SCRYPT_R, "p": SCRYPT_P, "salt": b64(salt)}


def _file_mac(mac_key: bytes, body: dict[str, Any]) -> str:
    h = crypto_hmac.HMAC(mac_key, hashes.SHA256())
    h.update(b"medseal-keyring-v1\x00" + _canonical(body))
    return h.finalize().hex()


# ---------------------------------------------------------------- reading
def read(path: Path, *, missing_hint: bool) -> bytes:
    """The file's bytes; with ``missing_hint`` a missing file says how to create one."""
    try:
        return path.read_bytes()
    except OSError as exc:
        if missing_hint and isinstance(exc, FileNotFoundError):
            raise ConfigError(
                f"no key store at {path}; create one with `medseal keys init`"
            ) from None
        raise ConfigError(f"could not read the key store at {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class StoredRing:
    """A parsed, still locked key-store file: what :func:`parse` checked, before scrypt."""

    ring_id: str
    current: str
    kdf: dict[str, Any]
    n: int
    salt: bytes = field(repr=False)
    wrapped_root: bytes = field(repr=False)
    wrapped_keks: dict[str, bytes] = field(repr=False)
    created: dict[str, str]
    mac: str = field(repr=False)
    body: dict[str, Any] = field(repr=False)

    def unlock(self, master: Master, path: Path) -> tuple[bytes, dict[str, bytes]]:
        """(derivation root, KEKs by id) under ``master``, after checking the file MAC.

        Raises
        ------
        WrongPassphraseError
            ``master`` does not unwrap the root.
        ConfigError
            The file MAC does not match (modified outside medseal).
        """
        try:
            root = aes_key_unwrap(master[0], self.wrapped_root)
        except (InvalidUnwrap, ValueError):
            raise WrongPassphraseError(_WRONG_PASSPHRASE) from None
        if not hmac.compare_digest(_file_mac(master[1], self.body), self.mac):
            raise ConfigError(f"the key store at {path} was modified outside medseal; refusing it")
        try:
            keks = {kid: aes_key_unwrap(master[0], w) for kid, w in self.wrapped_keks.items()}
        except (InvalidUnwrap, ValueError):  # pragma: no cover - the MAC already vouched for these
            raise ConfigError(f"the key store at {path} is corrupt") from None
        return root, keks


def parse(raw: bytes, path: Path) -> StoredRing:
    """Check the layout of a key-store file; any defect is one :class:`ConfigError`."""
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("format") != FILE_FORMAT:
            raise ValueError
        if doc.get("version") != FILE_VERSION:
            raise ValueError
        kdf = doc["kdf"]
        if kdf.get("name") != "scrypt" or kdf.get("r") != SCRYPT_R or kdf.get("p") != SCRYPT_P:
            raise ValueError
        n = check_scrypt_n(kdf.get("n"))
        salt = unb64(kdf["salt"])
        ring_id = doc["id"]
        current = doc["current_kek"]
        wrapped_root = unb64(doc["root"])
        entries = doc["keks"]
        mac = doc["mac"]
        if not (isinstance(ring_id, str) and isinstance(current, str) and isinstance(mac, str)):
            raise ValueError
        wrapped_keks: dict[str, bytes] = {}
        created: dict[str, str] = {}
        for entry in entries:
            kid = entry["id"]
            if not isinstance(kid, str) or not valid_key_id(kid) or kid in wrapped_keks:
                raise ValueError
            wrapped_keks[kid] = unb64(entry["wrapped"])
            created[kid] = str(entry.get("created", ""))
        if current not in wrapped_keks or len(salt) < SALT_BYTES:
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError, ConfigError, binascii.Error):
        raise ConfigError(
            f"the key store at {path} is corrupt or not a medseal key store"
        ) from None
    return StoredRing(
        ring_id=ring_id,
        current=current,
        kdf=kdf,
        n=n,
        salt=salt,
        wrapped_root=wrapped_root,
        wrapped_keks=wrapped_keks,
        created=created,
        mac=mac,
        body={k: v for k, v in doc.items() if k != "mac"},
    )


def reload(
    raw: bytes, master: Master, *, ring_id: str, known: dict[str, bytes], path: Path
) -> tuple[dict[str, bytes], str, dict[str, str]]:
    """(KEKs by id, current KEK id, creation times) of a file an open ring wrote before.

    The file must carry ``ring_id``, its MAC must check under ``master`` and it
    must still hold every KEK in ``known``; otherwise one :class:`ConfigError`
    says to open the store again.
    """
    stale = ConfigError(
        f"the key store at {path} changed in a way this process cannot follow "
        "(passphrase changed or another ring); open it again"
    )
    try:
        doc = json.loads(raw)
        body = {k: v for k, v in doc.items() if k != "mac"}
        if doc.get("id") != ring_id or not hmac.compare_digest(
            _file_mac(master[1], body), str(doc["mac"])
        ):
            raise stale
        keks: dict[str, bytes] = {}
        created: dict[str, str] = {}
        for entry in doc["keks"]:
            kid = entry["id"]
            if not isinstance(kid, str) or not valid_key_id(kid):
                raise ValueError
            keks[kid] = aes_key_unwrap(master[0], unb64(entry["wrapped"]))
            created[kid] = str(entry.get("created", ""))
        current = doc["current_kek"]
        if current not in keks or any(k not in keks for k in known):
            raise ValueError
    except ConfigError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, InvalidUnwrap, binascii.Error):
        raise stale from None
    return keks, current, created


# ---------------------------------------------------------------- writing
def ensure_unchanged(path: Path, expected: str | None) -> None:
    """Refuse to write over a file another process changed since this one read it."""
    # another process may have rotated meanwhile; do not silently drop its KEK
    try:
        on_disk: str | None = digest(path.read_bytes())
    except OSError:
        on_disk = None
    if on_disk != expected:
        raise ConfigError(f"the key store at {path} changed since it was opened; open it again")


def dump(
    master: Master,
    kdf: dict[str, Any],
    root: bytes,
    keks: dict[str, bytes],
    created: dict[str, str],
    *,
    ring_id: str,
    current: str,
) -> bytes:
    """The file's bytes: every key wrapped under the master key, then the file MAC."""
    wrap_key, mac_key = master
    body: dict[str, Any] = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "id": ring_id,
        "kdf": kdf,
        "root": b64(aes_key_wrap(wrap_key, root)),
        "keks": [
            {
                "id": kid,
                "wrapped": b64(aes_key_wrap(wrap_key, kek)),
                "created": created.get(kid, ""),
            }
            for kid, kek in keks.items()
        ],
        "current_kek": current,
    }
    doc = {**body, "mac": _file_mac(mac_key, body)}
    return json.dumps(doc, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def atomic_write(path: Path, data: bytes) -> None:
    """tmp file in the same directory + fsync + os.replace, mode 0o600."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"could not write the key store at {path}: {exc.strerror}") from None
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(f"could not write the key store at {path}: {exc.strerror}") from None
    # make the rename itself durable; not every platform lets us open a directory
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
