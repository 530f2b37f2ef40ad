"""``python -m medseal``."""

from __future__ import annotations

import sys

from medseal.cli import main

# Guarded, so that importing this module (a tool, a test) does not run the CLI.
# (multiprocessing's spawn already skips ``*.__main__`` modules in its workers.)
if __name__ == "__main__":
    sys.exit(main())
