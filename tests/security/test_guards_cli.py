"""A mistyped command or option ends in typer's usage line and one error line, exit 2.

The installed CLI is run as a subprocess (``python -m medseal.cli`` and, where it
exists, the ``medseal`` console script next to the interpreter), with the
caller's ``PYTHONPATH`` kept so that the checkout under test is what runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONSOLE_SCRIPT = Path(sys.executable).with_name("medseal")

LAUNCHERS = [pytest.param([sys.executable, "-m", "medseal.cli"], id="python-m")]
if CONSOLE_SCRIPT.exists():
    LAUNCHERS.append(pytest.param([str(CONSOLE_SCRIPT)], id="console-script"))

#: ``import click`` fails, as on a fresh install of a typer that no longer depends on it
_WITHOUT_CLICK = """
import sys
class _NoClick:
    def find_spec(self, name, path=None, target=None):
        if name == "click" or name.startswith("click."):
            raise ImportError("click is not installed")
        return None
sys.meta_path.insert(0, _NoClick())
from medseal.cli import main
sys.exit(main(sys.argv[1:]))
"""

MISTAKES = [
    pytest.param(["vault", "lss"], "No such command", id="unknown-command"),
    pytest.param(["evaluate", "seed000", "--seedz", "0,1"], "No such option", id="unknown-option"),
]


def _run(launcher: list[str], args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # a relative PYTHONPATH (``PYTHONPATH=src``) would not resolve from ``cwd=tmp_path``
    paths = [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("MEDSEAL_VAULT", str(tmp_path / "vault"))
    env.setdefault("MEDSEAL_KEYRING", str(tmp_path / "ring.json"))
    return subprocess.run(
        [*launcher, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _assert_usage_error(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Traceback" not in proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, proc.stderr
    assert expected in errors[0]
    # at most typer's usage line and its "Try ... --help" hint besides the error line
    others = [line for line in proc.stderr.splitlines() if line.strip() and line not in errors]
    assert len(others) <= 2, proc.stderr
    assert all(line.startswith(("Usage:", "Try ")) for line in others), proc.stderr


@pytest.mark.parametrize("launcher", LAUNCHERS)
@pytest.mark.parametrize(("args", "expected"), MISTAKES)
def test_a_mistyped_command_or_option_prints_one_error_line_and_exits_2(
    launcher, args, expected, tmp_path
):
    _assert_usage_error(_run(launcher, args, tmp_path), expected)


@pytest.mark.parametrize(("args", "expected"), MISTAKES)
def test_usage_errors_are_handled_when_click_is_not_installed(args, expected, tmp_path):
    proc = _run([sys.executable, "-c", _WITHOUT_CLICK], args, tmp_path)
    _assert_usage_error(proc, expected)


def test_a_medseal_error_keeps_its_one_line_handling(tmp_path):
    bad_id = "../../etc/passwd"
    proc = _run([sys.executable, "-m", "medseal.cli"], ["vault", "show", bad_id], tmp_path)
    assert proc.returncode in (1, 2, 3), proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_the_top_level_help_still_works(launcher, tmp_path):
    proc = _run(launcher, ["--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "vault" in proc.stdout and "ingest" in proc.stdout


def test_the_subprocess_runs_the_checkout_under_test(tmp_path):
    code = "import medseal, sys; sys.stdout.write(medseal.__file__)"
    proc = _run([sys.executable, "-c", code], [], tmp_path)
    import medseal

    assert Path(proc.stdout).resolve() == Path(medseal.__file__).resolve()
