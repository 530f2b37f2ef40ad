"""Privacy-preserving representations of images (the stage after the vault).

Three modes, one subpackage each, with their security level stated in
``docs/threat-model.md``:

- :mod:`medseal.privacy.masking`: keyed block-wise masking (obfuscation; a
  Masked-CNN learns on it). ``docs/masking.md``.
- :mod:`medseal.privacy.more`: MORE matrix encryption as a NumPy tensor type
  (exact and fast, no confidentiality against the compute host). ``docs/more.md``.
- :mod:`medseal.privacy.ckks`: CKKS homomorphic inference at 128-bit security
  (needs the ``he`` extra). ``docs/he.md``.

Each subpackage is imported on first use (``medseal.privacy.more`` or
``from medseal.privacy import more``).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medseal.privacy import ckks, masking, more

__all__ = ["ckks", "masking", "more"]


def __getattr__(name: str) -> ModuleType:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
