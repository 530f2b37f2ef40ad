"""``python -m medseal`` runs the CLI; importing the module (as spawned workers do) does not."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["medseal.__main__", "medseal.cli.__main__"])
def test_importing_the_main_module_runs_nothing(module: str) -> None:
    # unguarded, the import ran the CLI with the process's arguments (here: a whole
    # `evaluate seed000`)
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}; print('imported')", "evaluate", "seed000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "imported"


def test_python_dash_m_medseal_still_runs_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "medseal", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "vault" in proc.stdout
