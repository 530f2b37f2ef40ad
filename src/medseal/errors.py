"""The whole medseal exception tree, in one place.

Every error medseal raises on purpose derives from :class:`MedsealError`, so a
caller can catch one name. Messages never carry PHI, key bytes or pixels.

::

    MedsealError
    ├── ConfigError                 bad settings, missing keyring, default secrets
    ├── InputError (ValueError)     input medseal refuses to process
    │   ├── InvalidDicomError       corrupt, truncated or non-image DICOM
    │   ├── UnsupportedImageError   format/transfer syntax/bit depth we cannot handle
    │   ├── ImageTooLargeError      pixel-count limit hit (decompression bomb guard)
    │   └── BurnedInAnnotationError DICOM says text is burned into the pixels
    ├── CodecError                  a codec failed or is not installed
    │   └── CodecUnavailableError   backend missing; message says what to install
    ├── CryptoError
    │   ├── DecryptionError         ANY failure to open a sealed object or key
    │   │   └── WrongPassphraseError   the key store could not be opened
    │   └── KeyNotFoundError        key id not in the key ring
    ├── VaultError
    │   ├── NotFoundError (KeyError)   unknown id, or an object the caller may not see
    │   ├── AccessDenied (PermissionError)  the policy refused the action
    │   ├── IntegrityError          stored bytes or catalogue do not match their hashes
    │   ├── AuditChainError         the audit log was edited, reordered or truncated
    │   └── StorageError (OSError)  the blob store or database failed (disk full, ...)
    └── InvalidIdError (ValueError) malformed object id (path traversal, bad chars)
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AuditChainError",
    "BurnedInAnnotationError",
    "CodecError",
    "CodecUnavailableError",
    "ConfigError",
    "CryptoError",
    "DecryptionError",
    "ImageTooLargeError",
    "InputError",
    "IntegrityError",
    "InvalidDicomError",
    "InvalidIdError",
    "KeyNotFoundError",
    "MedsealError",
    "NotFoundError",
    "StorageError",
    "UnsupportedImageError",
    "VaultError",
    "WrongPassphraseError",
]


class MedsealError(Exception):
    """Base class of every error medseal raises on purpose."""


class ConfigError(MedsealError):
    """Settings are missing, inconsistent or unsafe."""


class InputError(MedsealError, ValueError):
    """Input that medseal refuses to process."""


class InvalidDicomError(InputError):
    """A file is not a readable DICOM image (corrupt, truncated, or has no pixels)."""


class UnsupportedImageError(InputError):
    """An image format, transfer syntax or pixel layout that medseal cannot handle."""


class ImageTooLargeError(InputError):
    """The image exceeds the configured pixel-count limit (decompression-bomb guard)."""


class BurnedInAnnotationError(InputError):
    """The DICOM header says identifying text is burned into the pixel data."""


class CodecError(MedsealError):
    """An image codec failed to encode or decode."""


class CodecUnavailableError(CodecError):
    """The codec backend is not installed; the message names the package to install."""


class CryptoError(MedsealError):
    """Base class of cryptographic errors."""


class DecryptionError(CryptoError):
    """A sealed object or wrapped key could not be opened.

    Raised for every failure (bad tag, bad MAC, truncation, wrong key, unknown
    version) so that an attacker learns nothing from which check failed.
    """


class WrongPassphraseError(DecryptionError):
    """The key store could not be opened with the given passphrase."""


class KeyNotFoundError(CryptoError):
    """A key id is not present in the key ring."""


class VaultError(MedsealError):
    """Base class of vault errors."""


class NotFoundError(VaultError, KeyError):
    """No such object, or one the caller is not allowed to know about."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want plain text
        return str(self.args[0]) if self.args else "not found"


class AccessDenied(VaultError, PermissionError):
    """The vault's policy refused the action."""


class IntegrityError(VaultError):
    """Stored bytes or catalogue rows do not match their recorded hashes."""


class AuditChainError(IntegrityError):
    """The audit log's hash chain is broken: an entry was edited, removed or reordered."""


class StorageError(VaultError, OSError):
    """The blob store or metadata database failed; nothing was half-written."""


class InvalidIdError(MedsealError, ValueError):
    """A malformed object id (bad characters, path traversal)."""
