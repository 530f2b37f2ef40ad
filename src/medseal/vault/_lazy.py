"""``medseal.codec``, imported on first use: listing, showing and auditing never load it.

The codec package imports pydicom and the image codecs (about 0.3 s); a
``medseal vault ls`` process needs neither.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["codec"]


class _LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


codec = _LazyModule("medseal.codec")
