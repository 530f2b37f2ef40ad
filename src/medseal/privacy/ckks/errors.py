"""Errors raised by the CKKS privacy mode (subclasses of the medseal tree).

::

    InputError (ValueError)
    ├── CKKSProfileError           parameters below 128-bit security or malformed
    ├── CKKSPlanError              a program does not fit a profile (depth, scale, slots)
    ├── CKKSContextMismatchError   ciphertexts/contexts from different keys mixed
    ├── CKKSModelMismatchError     a batch encrypted for one model evaluated with another
    └── CKKSFormatError            serialized bytes malformed, truncated, tampered or of
                                   an unknown version
    ConfigError
    └── CKKSBackendUnavailableError  the HE library is not installed (says what to install)
    CKKSSecretError (TypeError)    a secret-key operation attempted where no secret is held,
                                   or a secret key pickled
"""

from __future__ import annotations

from medseal.errors import ConfigError, InputError, MedsealError

__all__ = [
    "CKKSBackendUnavailableError",
    "CKKSContextMismatchError",
    "CKKSFormatError",
    "CKKSModelMismatchError",
    "CKKSPlanError",
    "CKKSProfileError",
    "CKKSSecretError",
]


class CKKSProfileError(InputError):
    """CKKS parameters are malformed or give less than the stated security level."""


class CKKSPlanError(InputError):
    """A compiled program needs more depth, scale headroom or slots than the profile has."""


class CKKSContextMismatchError(InputError):
    """Objects made under different CKKS keys (or profiles) were combined."""


class CKKSModelMismatchError(InputError):
    """A batch encrypted for one compiled model was given to another."""


class CKKSFormatError(InputError):
    """Serialized CKKS bytes are malformed, truncated, tampered or of an unknown version."""


class CKKSBackendUnavailableError(ConfigError):
    """The homomorphic-encryption library is missing; the message says what to install."""


class CKKSSecretError(MedsealError, TypeError):
    """A secret-key operation on an object that holds no secret, or a secret key pickled."""
