"""medseal: privacy-preserving AI on medical images.

Store images encrypted, compute only on masked or encrypted representations,
and measure honestly how much each privacy mode leaks.
"""

from __future__ import annotations

__version__ = "0.1.0"
