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

This module holds the keys and what is done with them (:class:`WrappedKey`,
:class:`KeyRing`). The key store file they are kept in (one JSON file,
written atomically with mode ``0o600``, holding only wrapped keys, the scrypt
salt and parameters, public ids and an HMAC over all of it) is read, checked
and written by :mod:`medseal.crypto._ringfile`.
"""

from __future__ import annotations

import binascii
import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from medseal.crypto import _ringfile as store
from medseal.crypto._format import (
    DECRYPTION_FAILED,
    DEK_SIZE,
    KEY_ID_BYTES,
    Algorithm,
    coerce_algorithm,
)
from medseal.crypto._ringfile import KEY_BYTES, SCRYPT_N_DEFAULT
from medseal.errors import ConfigError, DecryptionError, InputError

__all__ = ["KeyRing", "WrappedKey"]

logger = logging.getLogger(__name__)

_KEK_ID_BYTES = 8
_RING_ID_BYTES = 16
_HKDF_MAX = 255 * 32


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
            "wrapped": store.b64(self.wrapped),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WrappedKey:
        """Inverse of :meth:`to_json`; malformed input raises :class:`DecryptionError`."""
        try:
            key_id, kek_id, wrapped = d["key_id"], d["kek_id"], d["wrapped"]
            if not (isinstance(key_id, str) and isinstance(kek_id, str)):
                raise TypeError
            raw = store.unb64(wrapped)  # TypeError unless a string
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error):
            raise DecryptionError(DECRYPTION_FAILED) from None
        return cls(key_id=key_id, kek_id=kek_id, wrapped=raw)


def _hkdf(secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


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
        pw = store.check_passphrase(passphrase)
        n = store.check_scrypt_n(scrypt_n)
        target = Path(path)
        if target.exists() and not overwrite:
            raise ConfigError(
                f"a key store already exists at {target}; refusing to overwrite it "
                "(everything sealed under it would become unreadable)"
            )
        salt = os.urandom(store.SALT_BYTES)
        master = store.scrypt(pw, salt, n)
        kek_id = secrets.token_hex(_KEK_ID_BYTES)
        ring = cls(
            ring_id=secrets.token_hex(_RING_ID_BYTES),
            keks={kek_id: os.urandom(KEY_BYTES)},
            current_kek_id=kek_id,
            root=os.urandom(KEY_BYTES),
            path=target,
            master=master,
            kdf=store.scrypt_params(n, salt),
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
        raw = store.read(target, missing_hint=True)
        pw = store.check_passphrase(passphrase)
        stored = store.parse(raw, target)
        master = store.scrypt(pw, stored.salt, stored.n)
        root, keks = stored.unlock(master, target)
        return cls(
            ring_id=stored.ring_id,
            keks=keks,
            current_kek_id=stored.current,
            root=root,
            path=target,
            master=master,
            kdf=stored.kdf,
            created=stored.created,
            file_digest=store.digest(raw),
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
            secret = os.urandom(KEY_BYTES)
        elif isinstance(seed, bytes | bytearray) and seed:
            secret = bytes(seed)
        else:
            raise InputError("seed must be non-empty bytes (or None for a random ring)")
        ring_id = _hkdf(secret, b"medseal/in-memory/ring-id", _RING_ID_BYTES).hex()
        kek_id = _hkdf(secret, b"medseal/in-memory/kek-id", _KEK_ID_BYTES).hex()
        return cls(
            ring_id=ring_id,
            keks={kek_id: _hkdf(secret, b"medseal/in-memory/kek", KEY_BYTES)},
            current_kek_id=kek_id,
            root=_hkdf(secret, b"medseal/in-memory/root", KEY_BYTES),
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
        self._keks[kek_id] = os.urandom(KEY_BYTES)
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
        pw = store.check_passphrase(new)
        if self.path is None or self._kdf is None:
            raise ConfigError("an in-memory key ring has no passphrase to change")
        salt = os.urandom(store.SALT_BYTES)
        previous = (self._master, self._kdf)
        self._master = store.scrypt(pw, salt, int(self._kdf["n"]))
        self._kdf = {**self._kdf, "salt": store.b64(salt)}
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
        raw = store.read(self.path, missing_hint=False)
        digest = store.digest(raw)
        if digest == self._file_digest:
            return False
        keks, current, created = store.reload(
            raw, self._master, ring_id=self.id, known=self._keks, path=self.path
        )
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
            store.ensure_unchanged(self.path, self._file_digest)
        data = store.dump(
            self._master,
            self._kdf,
            self._root,
            self._keks,
            self._created,
            ring_id=self.id,
            current=self._current,
        )
        store.atomic_write(self.path, data)
        self._file_digest = store.digest(data)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
