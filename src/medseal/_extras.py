"""Optional dependency groups (pip extras) and the one-line error when one is missing.

The base install (``pip install medseal``) holds the vault: ingest, codec,
crypto, vault and the NumPy-only privacy modes. Heavier features live in
extras, named after what they bring:

- ``ml``: torch, scikit-learn and SciPy; everything under :mod:`medseal.models`.
- ``eval``: ``ml`` plus scikit-image, ImageHash and Matplotlib; everything under
  :mod:`medseal.evaluate` (metrics, leakage, attacks, reports).
- ``he``: TenSEAL, for the CKKS mode (:mod:`medseal.privacy.ckks`).

:func:`require_extra` checks that an extra's modules are installed without
importing them (``importlib.util.find_spec``), so a package can guard its
import cheaply; a missing one raises :class:`MissingExtraError`, which the CLI
prints as one line naming the ``pip install`` command.
"""

from __future__ import annotations

import importlib.util
from enum import StrEnum

from medseal.errors import MedsealError

__all__ = ["EXTRA_MODULES", "Extra", "MissingExtraError", "extra_for_module", "require_extra"]


class Extra(StrEnum):
    """The pip extras of the ``medseal`` distribution that :func:`require_extra` knows."""

    ML = "ml"
    EVAL = "eval"
    HE = "he"


#: Top-level import names each extra provides (what ``find_spec`` looks for).
EXTRA_MODULES: dict[Extra, tuple[str, ...]] = {
    Extra.ML: ("torch", "sklearn", "scipy"),
    Extra.EVAL: ("torch", "sklearn", "scipy", "skimage", "imagehash", "matplotlib"),
    Extra.HE: ("tenseal",),
}


class MissingExtraError(MedsealError, ImportError):
    """A feature needs an optional dependency group that is not installed."""

    def __init__(self, extra: Extra, missing: tuple[str, ...]) -> None:
        self.extra = extra
        self.missing = missing
        super().__init__(
            f"this feature needs the '{extra}' extra (missing: {', '.join(missing)}): "
            f"pip install 'medseal[{extra}]'"
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_extra(extra: Extra | str) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` is installed.

    Nothing is imported; the check costs a few file-system look-ups.
    """
    which = Extra(extra)
    missing = tuple(m for m in EXTRA_MODULES[which] if not _installed(m))
    if missing:
        raise MissingExtraError(which, missing)


def extra_for_module(module: str) -> Extra | None:
    """The smallest extra that provides top-level module ``module`` (``None`` if none does).

    Lets a caller turn a bare :class:`ModuleNotFoundError` (``exc.name``) into
    :class:`MissingExtraError`.
    """
    root = module.partition(".")[0]
    for extra in (Extra.ML, Extra.HE, Extra.EVAL):
        if root in EXTRA_MODULES[extra]:
            return extra
    return None
