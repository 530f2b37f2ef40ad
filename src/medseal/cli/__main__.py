"""``python -m medseal.cli``."""

from __future__ import annotations

import sys

from medseal.cli import main

# Guarded: worker processes started with "spawn" import the parent's main module
# (as __mp_main__); unguarded, each worker of `evaluate seed000 --jobs 2` re-ran
# the whole command before doing its own task.
if __name__ == "__main__":
    sys.exit(main())
