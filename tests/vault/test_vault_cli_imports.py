"""`medseal vault …` imports only what it needs (issue 10, part 5)."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import sys\n"
    "from medseal.cli import main\n"
    "try:\n"
    "    main(['vault', 'get', '--help'])\n"
    "except SystemExit:\n"
    "    pass\n"
    "heavy = ['medseal.ingest', 'torch', 'sklearn', 'matplotlib', 'medseal.models']\n"
    "print('loaded:' + ','.join(m for m in heavy if m in sys.modules))\n"
)


def test_a_vault_command_loads_no_ingest_model_or_plotting_stack():
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "loaded:"


def test_the_full_help_still_lists_every_command():
    from medseal.cli import main

    proc = subprocess.run(
        [sys.executable, "-m", "medseal.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert main is not None and "demo" in proc.stdout and "vault" in proc.stdout
