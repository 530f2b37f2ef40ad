"""``python -m medseal.cli``."""

from __future__ import annotations

import sys

from medseal.cli import main

sys.exit(main())
