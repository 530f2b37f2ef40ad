"""Names a package exports but imports only on first use (PEP 562 module ``__getattr__``).

Where it sits: beside ``errors`` and ``types``, usable by every package
``__init__``. ``import medseal`` and ``import medseal.models`` stay fast and
torch-free until a name that needs torch is touched.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` giving ``exports[name]``'s ``name``, imported when first asked.

    >>> getter = lazy_exports("pkg", {"sqrt": "math"})
    >>> getter("sqrt")(4.0)
    2.0
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
