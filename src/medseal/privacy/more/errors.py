"""Errors raised by the MORE tensor type (subclasses of the medseal tree).

::

    InputError (ValueError)
    ├── MoreContextMismatchError   tensors/keys from different MORE contexts mixed
    ├── MoreShapeError             incompatible tensor shapes (message shows both)
    │   └── MoreIndexError (IndexError)  too many indices for a tensor
    └── MoreFormatError            serialized bytes malformed, truncated or of unknown version
    MoreKeyPickleError (TypeError) a MoreKey was pickled; export it with to_bytes()
"""

from __future__ import annotations

from medseal.errors import InputError, MedsealError

__all__ = [
    "MoreContextMismatchError",
    "MoreFormatError",
    "MoreIndexError",
    "MoreKeyPickleError",
    "MoreShapeError",
]


class MoreContextMismatchError(InputError):
    """Operands come from different MORE contexts (different keys or sizes)."""


class MoreShapeError(InputError):
    """Tensor shapes are incompatible for the requested operation."""


class MoreIndexError(MoreShapeError, IndexError):
    """An index addresses more axes than the tensor has."""


class MoreFormatError(InputError):
    """Serialized MORE bytes are malformed, truncated, of another kind or an unknown version."""


class MoreKeyPickleError(MedsealError, TypeError):
    """A secret MORE key was pickled; key export must be explicit (``MoreKey.to_bytes``)."""
