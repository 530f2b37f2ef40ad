"""Evaluation: metrics, leakage measurement and attacks on each privacy mode (stage after models).

Needs the ``eval`` extra (``pip install 'medseal[eval]'``: the ``ml`` extra plus
scikit-image, ImageHash and Matplotlib); importing the package without it raises
:class:`~medseal._extras.MissingExtraError`, one line naming the extra.
"""

from __future__ import annotations

from medseal._extras import Extra, require_extra

require_extra(Extra.EVAL)
