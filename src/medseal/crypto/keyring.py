"""The key ring: envelope keys from a passphrase, with rotation and key derivation.

Sits in ``crypto`` under :mod:`medseal.crypto.seal`: ``seal`` asks the ring
for a fresh data key, ``unseal`` asks it to unwrap one; the vault calls
:meth:`KeyRing.rewrap` during rotation and :meth:`KeyRing.derive` for its
audit and pseudonymisation keys.

Key hierarchy (``docs/format.md`` has the details)::

    passphrase --scrypt--> master (wrap key || file-MAC key)
        master --AES-KW (RFC 3394)--> KEK_1 .. KEK_n   (newest is "current")
        master --AES-KW--> derivation root            (never rotated)
        KEK    --AES-KW--> DEK (one per sealed object, stored beside it)
        root   --HKDF-SHA256(info="medseal/"+purpose)--> purpose keys

The key store is one JSON file, written atomically with mode ``0o600``. It
holds only wrapped keys, the scrypt salt and parameters, public ids and an
HMAC over all of it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from medseal.crypto._format import (
    DECRYPTION_FAILED,
    DEK_SIZE,
    KEY_ID_BYTES,
    Algorithm,
    coerce_algorithm,
    valid_key_id,
)
from medseal.errors import ConfigError, DecryptionError, InputError, WrongPassphraseError

__all__ = ["KeyRing", "WrappedKey"]

logger = logging.getLogger(__name__)

FILE_FORMAT = "medseal-keyring"
FILE_VERSION = 1
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_N_MIN = 2**10
SCRYPT_N_MAX = 2**20  # 1 GiB of scrypt memory at r=8: a hostile file cannot ask for more
# New rings: 2**17 (128 MiB, ~0.3 s), the cost OWASP's password storage guide gives for
# scrypt. Stored rings keep the N written in them, so older rings (2**15) still open.
SCRYPT_N_DEFAULT = 2**17
_SALT_BYTES = 16
_KEY_BYTES = 32
_KEK_ID_BYTES = 8
_RING_ID_BYTES = 16
_HKDF_MAX = 255 * 32
_WRONG_PASSPHRASE = "could not open the key store: wrong passphrase"


@dataclass(frozen=True)
class WrappedKey:
    """A per-object data key (DEK), wrapped by a key-encryption key (KEK).

    ``key_id`` names the DEK (random hex, also written in the container
    header); ``kek_id`` names the KEK of the ring that wrapped it; ``wrapped``
    is the RFC 3394 output (40 bytes for a 32-byte DEK, 72 for 64). It is safe
    to store, but its bytes never appear in ``repr``.
    """

    key_id: str
    kek_id: str
    wrapped: bytes = field(repr=False)

    def to_json(self) -> dict[str, str]:
        """A JSON-ready dict (``wrapped`` as standard base64)."""
        return {
            "key_id": self.key_id,
            "kek_id": self.kek_id,
            "wrapped": base64.b64encode(self.wrapped).decode("ascii"),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WrappedKey:
        """Inverse of :meth:`to_json`; malformed input raises :class:`DecryptionError`."""
        try:
            key_id, kek_id, wrapped = d["key_id"], d["kek_id"], d["wrapped"]
            if not (isinstance(key_id, str) and isinstance(kek_id, str)):
                raise TypeError
            if not isinstance(wrapped, str):
                raise TypeError
            raw = base64.b64decode(wrapped.encode("ascii"), validate=True)
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error):
            raise DecryptionError(DECRYPTION_FAILED) from None
        return cls(key_id=key_id, kek_id=kek_id, wrapped=raw)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected a base64 string")
    return base64.b64decode(text.encode("ascii"), validate=True)


def _hkdf(secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _check_passphrase(passphrase: object) -> bytes:
    if not isinstance(passphrase, str):
        raise ConfigError("the passphrase must be a string")
    if not passphrase:
        raise ConfigError("refusing an empty passphrase")
    # NFC so the same visible passphrase works whatever keyboard typed it
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _check_scrypt_n(n: object) -> int:
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


def _scrypt(passphrase: bytes, salt: bytes, n: int) -> tuple[bytes, bytes]:
    """(master wrap key, file-MAC key) from the passphrase."""
    out = Scrypt(salt=salt, length=2 * _KEY_BYTES, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)
    return out[:_KEY_BYTES], out[_KEY_BYTES:]


def _file_mac(mac_key: bytes, body: dict[str, Any]) -> str:
    h = crypto_hmac.HMAC(mac_key, hashes.SHA256())
    h.update(b"medseal-keyring-v1\x00" + _canonical(body))
    return h.finalize().hex()


def _atomic_write(path: Path, data: bytes) -> None:
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


class KeyRing:
    """Key-encryption keys and a derivation root, unlocked by a passphrase.

    Create one with :meth:`create`, :meth:`open` or :meth:`in_memory`; the
    constructor is private. The newest KEK wraps new data keys; every KEK the
    ring ever had still unwraps (``MultiFernet``-style rotation).

    Examples
    --------
    >>> ring = KeyRing.in_memory(seed=b"doc-example")
    >>> old = ring.current_kek_id
    >>> key = ring.derive("audit/demo")
    >>> new = ring.rotate()
    >>> new != old and ring.derive("audit/demo") == key
    True
    """

    def __init__(
        self,
        *,
        ring_id: str,
        keks: dict[str, bytes],
        current_kek_id: str,
        root: bytes,
        path: Path | None = None,
        master: tuple[bytes, bytes] | None = None,
        kdf: dict[str, Any] | None = None,
        created: dict[str, str] | None = None,
        file_digest: str | None = None,
    ) -> None:
        self.id = ring_id
        self.path = path
        self._keks = dict(keks)
        self._current = current_kek_id
        self._root = root
        self._master = master
        self._kdf = kdf
        self._created = dict(created or {})
        self._file_digest = file_digest

    # ---------------------------------------------------------------- construction
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        passphrase: str,
        *,
        scrypt_n: int = SCRYPT_N_DEFAULT,
        overwrite: bool = False,
    ) -> KeyRing:
        """Create a new key store file with one KEK and a fresh derivation root.

        Parameters
        ----------
        path : path-like
            Where to write the key store (parent directories are created).
        passphrase : str
            Unlocks the store; empty passphrases are refused.
        scrypt_n : int, optional
            scrypt cost (power of two, 2**10 .. 2**20; r=8, p=1). The default
            2**17 takes ~0.3 s and 128 MiB; tests use 2**10. The value is
            stored in the file, so a ring opens with the cost it was made with.
        overwrite : bool, optional
            Replace an existing file. Everything sealed under the old store
            becomes unreadable, so the default refuses.

        Raises
        ------
        ConfigError
            Empty passphrase, bad ``scrypt_n``, existing file, or write failure.
        """
        pw = _check_passphrase(passphrase)
        n = _check_scrypt_n(scrypt_n)
        target = Path(path)
        if target.exists() and not overwrite:
            raise ConfigError(
                f"a key store already exists at {target}; refusing to overwrite it "
                "(everything sealed under it would become unreadable)"
            )
        salt = os.urandom(_SALT_BYTES)
        master = _scrypt(pw, salt, n)
        kek_id = secrets.token_hex(_KEK_ID_BYTES)
        ring = cls(
            ring_id=secrets.token_hex(_RING_ID_BYTES),
            keks={kek_id: os.urandom(_KEY_BYTES)},
            current_kek_id=kek_id,
            root=os.urandom(_KEY_BYTES),
            path=target,
            master=master,
            kdf={"name": "scrypt", "n": n, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
            created={kek_id: _now()},
        )
        ring._write(check_unchanged=False)
        logger.info("created key ring %s with KEK %s", ring.id, kek_id)
        return ring

    @classmethod
    def open(cls, path: str | os.PathLike[str], passphrase: str) -> KeyRing:
        """Open an existing key store.

        Raises
        ------
        ConfigError
            The file is missing (run ``medseal keys init``), unreadable,
            corrupt, or was modified outside medseal.
        WrongPassphraseError
            The passphrase does not unlock it.
        """
        target = Path(path)
        try:
            raw = target.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"no key store at {target}; create one with `medseal keys init`"
            ) from None
        except OSError as exc:
            raise ConfigError(f"could not read the key store at {target}: {exc.strerror}") from None
        pw = _check_passphrase(passphrase)
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("format") != FILE_FORMAT:
                raise ValueError
            if doc.get("version") != FILE_VERSION:
                raise ValueError
            kdf = doc["kdf"]
            if kdf.get("name") != "scrypt" or kdf.get("r") != SCRYPT_R or kdf.get("p") != SCRYPT_P:
                raise ValueError
            n = _check_scrypt_n(kdf.get("n"))
            salt = _unb64(kdf["salt"])
            ring_id = doc["id"]
            current = doc["current_kek"]
            wrapped_root = _unb64(doc["root"])
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
                wrapped_keks[kid] = _unb64(entry["wrapped"])
                created[kid] = str(entry.get("created", ""))
            if current not in wrapped_keks or len(salt) < _SALT_BYTES:
                raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError, ConfigError, binascii.Error):
            raise ConfigError(
                f"the key store at {target} is corrupt or not a medseal key store"
            ) from None

        master = _scrypt(pw, salt, n)
        try:
            root = aes_key_unwrap(master[0], wrapped_root)
        except (InvalidUnwrap, ValueError):
            raise WrongPassphraseError(_WRONG_PASSPHRASE) from None
        body = {k: v for k, v in doc.items() if k != "mac"}
        if not hmac.compare_digest(_file_mac(master[1], body), mac):
            raise ConfigError(
                f"the key store at {target} was modified outside medseal; refusing it"
            )
        try:
            keks = {kid: aes_key_unwrap(master[0], w) for kid, w in wrapped_keks.items()}
        except (InvalidUnwrap, ValueError):  # pragma: no cover - the MAC already vouched for these
            raise ConfigError(f"the key store at {target} is corrupt") from None
        return cls(
            ring_id=ring_id,
            keks=keks,
            current_kek_id=current,
            root=root,
            path=target,
            master=master,
            kdf=kdf,
            created=created,
            file_digest=hashlib.sha256(raw).hexdigest(),
        )

    @classmethod
    def in_memory(cls, *, seed: bytes | None = None) -> KeyRing:
        """A ring that lives only in this process (tests, demos).

        With ``seed``, the ring id, first KEK and derivation root are derived
        from it (HKDF), so :meth:`derive` is reproducible across runs. Data
        keys, nonces and KEKs made by later :meth:`rotate` calls are always
        random.
        """
        if seed is None:
            secret = os.urandom(_KEY_BYTES)
        elif isinstance(seed, bytes | bytearray) and seed:
            secret = bytes(seed)
        else:
            raise InputError("seed must be non-empty bytes (or None for a random ring)")
        ring_id = _hkdf(secret, b"medseal/in-memory/ring-id", _RING_ID_BYTES).hex()
        kek_id = _hkdf(secret, b"medseal/in-memory/kek-id", _KEK_ID_BYTES).hex()
        return cls(
            ring_id=ring_id,
            keks={kek_id: _hkdf(secret, b"medseal/in-memory/kek", _KEY_BYTES)},
            current_kek_id=kek_id,
            root=_hkdf(secret, b"medseal/in-memory/root", _KEY_BYTES),
            created={kek_id: _now()},
        )

    # ---------------------------------------------------------------- public state
    @property
    def current_kek_id(self) -> str:
        """The KEK that wraps new data keys."""
        return self._current

    @property
    def kek_ids(self) -> tuple[str, ...]:
        """All KEK ids, oldest first."""
        return tuple(self._keks)

    def __repr__(self) -> str:
        where = "in-memory" if self.path is None else "file"
        return (
            f"KeyRing(id={self.id!r}, current_kek_id={self._current!r}, "
            f"kek_ids={self.kek_ids!r}, {where})"
        )

    # ---------------------------------------------------------------- data keys
    def new_data_key(self, algorithm: Algorithm | str) -> tuple[bytes, WrappedKey]:
        """A fresh random DEK and its wrapping under the current KEK.

        The DEK is 32 bytes for AES-256-GCM and 64 bytes (AES key || HMAC key)
        for AES-256-CBC-HMAC-SHA256. Its id is 12 random bytes as hex.
        """
        alg = coerce_algorithm(algorithm)
        dek = os.urandom(DEK_SIZE[alg])
        wrapped = aes_key_wrap(self._keks[self._current], dek)
        key_id = secrets.token_hex(KEY_ID_BYTES)
        return dek, WrappedKey(key_id=key_id, kek_id=self._current, wrapped=wrapped)

    def unwrap(self, wk: WrappedKey) -> bytes:
        """The DEK inside ``wk``.

        Raises
        ------
        DecryptionError
            Unknown KEK id, damaged wrapping, or anything else: one message.
        """
        try:
            kek = self._keks.get(wk.kek_id) if isinstance(wk.kek_id, str) else None
            if kek is None or not isinstance(wk.wrapped, bytes | bytearray | memoryview):
                raise ValueError
            dek = aes_key_unwrap(kek, bytes(wk.wrapped))
        except (InvalidUnwrap, ValueError, TypeError, AttributeError):
            raise DecryptionError(DECRYPTION_FAILED) from None
        if len(dek) not in set(DEK_SIZE.values()):
            raise DecryptionError(DECRYPTION_FAILED)
        return dek

    def rewrap(self, wk: WrappedKey) -> WrappedKey:
        """The same DEK (same ``key_id``) wrapped under the current KEK."""
        dek = self.unwrap(wk)
        return WrappedKey(
            key_id=wk.key_id,
            kek_id=self._current,
            wrapped=aes_key_wrap(self._keks[self._current], dek),
        )

    # ---------------------------------------------------------------- maintenance
    def rotate(self) -> str:
        """Add a new random KEK and make it current; returns its id.

        Old KEKs stay in the ring so old wrapped keys still open; use
        :meth:`rewrap` (the vault's ``rotate_keys``) to move them to the new
        KEK. The derivation root is unchanged. A file ring is saved at once.
        """
        kek_id = secrets.token_hex(_KEK_ID_BYTES)
        while kek_id in self._keks:  # pragma: no cover - 2**-64
            kek_id = secrets.token_hex(_KEK_ID_BYTES)
        previous = (dict(self._keks), self._current, dict(self._created))
        self._keks[kek_id] = os.urandom(_KEY_BYTES)
        self._current = kek_id
        self._created[kek_id] = _now()
        try:
            self._persist()
        except BaseException:
            self._keks, self._current, self._created = previous
            raise
        logger.info("key ring %s rotated to KEK %s", self.id, kek_id)
        return kek_id

    def change_passphrase(self, new: str) -> None:
        """Re-wrap every KEK and the root under a master key from ``new`` (fresh salt).

        Raises
        ------
        ConfigError
            Empty passphrase, or the ring has no file (``in_memory``).
        """
        pw = _check_passphrase(new)
        if self.path is None or self._kdf is None:
            raise ConfigError("an in-memory key ring has no passphrase to change")
        salt = os.urandom(_SALT_BYTES)
        previous = (self._master, self._kdf)
        self._master = _scrypt(pw, salt, int(self._kdf["n"]))
        self._kdf = {**self._kdf, "salt": _b64(salt)}
        try:
            self._persist()
        except BaseException:
            self._master, self._kdf = previous
            raise
        logger.info("key ring %s: passphrase changed", self.id)

    def refresh(self) -> bool:
        """Re-read the key store file, picking up KEKs another process added by rotation.

        Returns ``True`` when the file had changed. In-memory rings return
        ``False``. The file must still open with this ring's master key (same
        passphrase and salt) and be the same ring.

        Raises
        ------
        ConfigError
            The file is unreadable, another ring, or its passphrase changed
            (open it again with the new passphrase).
        """
        if self.path is None or self._master is None:
            return False
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"could not read the key store at {self.path}: {exc.strerror}"
            ) from None
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self._file_digest:
            return False
        stale = ConfigError(
            f"the key store at {self.path} changed in a way this process cannot follow "
            "(passphrase changed or another ring); open it again"
        )
        try:
            doc = json.loads(raw)
            body = {k: v for k, v in doc.items() if k != "mac"}
            if doc.get("id") != self.id or not hmac.compare_digest(
                _file_mac(self._master[1], body), str(doc["mac"])
            ):
                raise stale
            keks: dict[str, bytes] = {}
            created: dict[str, str] = {}
            for entry in doc["keks"]:
                kid = entry["id"]
                if not isinstance(kid, str) or not valid_key_id(kid):
                    raise ValueError
                keks[kid] = aes_key_unwrap(self._master[0], _unb64(entry["wrapped"]))
                created[kid] = str(entry.get("created", ""))
            current = doc["current_kek"]
            if current not in keks or any(k not in keks for k in self._keks):
                raise ValueError
        except ConfigError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, InvalidUnwrap, binascii.Error):
            raise stale from None
        self._keks, self._current, self._created = keks, current, created
        self._file_digest = digest
        logger.info("key ring %s reloaded; current KEK %s", self.id, current)
        return True

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """A secret for ``purpose``: HKDF-SHA256(root, info=b"medseal/" + purpose).

        Deterministic per ring and purpose, independent across purposes, and
        unaffected by :meth:`rotate`.
        """
        if not isinstance(purpose, str) or not purpose:
            raise InputError("purpose must be a non-empty string")
        if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= _HKDF_MAX:
            raise InputError(f"length must be between 1 and {_HKDF_MAX}")
        return _hkdf(self._root, b"medseal/" + purpose.encode("utf-8"), length)

    # ---------------------------------------------------------------- persistence
    def _persist(self) -> None:
        if self.path is not None:
            self._write(check_unchanged=True)

    def _write(self, *, check_unchanged: bool) -> None:
        assert self.path is not None and self._master is not None and self._kdf is not None
        if check_unchanged:
            # another process may have rotated meanwhile; do not silently drop its KEK
            try:
                on_disk = hashlib.sha256(self.path.read_bytes()).hexdigest()
            except OSError:
                on_disk = None
            if on_disk != self._file_digest:
                raise ConfigError(
                    f"the key store at {self.path} changed since it was opened; open it again"
                )
        wrap_key, mac_key = self._master
        body: dict[str, Any] = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "id": self.id,
            "kdf": self._kdf,
            "root": _b64(aes_key_wrap(wrap_key, self._root)),
            "keks": [
                {
                    "id": kid,
                    "wrapped": _b64(aes_key_wrap(wrap_key, kek)),
                    "created": self._created.get(kid, ""),
                }
                for kid, kek in self._keks.items()
            ],
            "current_kek": self._current,
        }
        doc = {**body, "mac": _file_mac(mac_key, body)}
        data = json.dumps(doc, indent=2, sort_keys=True).encode("utf-8") + b"\n"
        _atomic_write(self.path, data)
        self._file_digest = hashlib.sha256(data).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
