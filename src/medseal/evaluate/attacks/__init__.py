"""Attacks on medseal's privacy modes, one attack per module; each reports a success rate.

The attacks the command line runs are exported here (imported on first use):
:func:`views_attack` and :func:`mask_known_plaintext_attack` on keyed masking,
:func:`eigenvalue_attack` on MORE ciphertexts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medseal._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from medseal.evaluate.attacks.mask_known_plaintext import mask_known_plaintext_attack
    from medseal.evaluate.attacks.more_eigenvalue import eigenvalue_attack
    from medseal.evaluate.attacks.views import views_attack

_LAZY = {
    "eigenvalue_attack": "medseal.evaluate.attacks.more_eigenvalue",
    "mask_known_plaintext_attack": "medseal.evaluate.attacks.mask_known_plaintext",
    "views_attack": "medseal.evaluate.attacks.views",
}

__all__ = ["eigenvalue_attack", "mask_known_plaintext_attack", "views_attack"]

__getattr__ = lazy_exports(__name__, _LAZY)
