"""Running the command line as a user does, for the command-line tests."""

from __future__ import annotations

import subprocess
import sys


def run_cli(args: list[str], env: dict[str, str], cwd: object, check: bool = True):
    """``python -m medseal.cli ARGS`` as a user runs it (no stdin); fails the test on a
    non-zero exit when ``check``, printing both streams."""
    proc = subprocess.run(
        [sys.executable, "-m", "medseal.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc
