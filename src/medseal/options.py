"""Options as enums: one parser for CLI flags, study settings and library arguments.

A fixed set of choices is a :class:`~enum.StrEnum`; :func:`choice_of` turns a
user's spelling into its member, or raises one :class:`~medseal.errors.InputError`
line that names the option and every valid spelling.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from medseal.errors import InputError

__all__ = ["choice_of"]

_E = TypeVar("_E", bound=Enum)


def choice_of(kind: type[_E], value: Any, name: str) -> _E:
    """``value`` as a member of the enum ``kind``, or an :class:`InputError` naming ``name``
    and every valid spelling in one line (how options, settings and CLI flags are checked).

    >>> from enum import StrEnum
    >>> class Packing(StrEnum):
    ...     THROUGHPUT = "throughput"
    ...     SINGLE = "single"
    >>> choice_of(Packing, "single", "packing")
    <Packing.SINGLE: 'single'>
    >>> choice_of(Packing, "fast", "--packing")
    Traceback (most recent call last):
    ...
    medseal.errors.InputError: --packing must be one of throughput, single (got 'fast')
    """
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(str(m.value) for m in kind)
        raise InputError(f"{name} must be one of {known} (got {value!r})") from None
