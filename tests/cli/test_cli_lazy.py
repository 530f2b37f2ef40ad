"""The command line registers a command's module only when that command runs (issue 10, part 5)."""

from __future__ import annotations

import subprocess
import sys

OTHER_COMMANDS = [
    "medseal.cli.he_cmd",
    "medseal.cli.masked_cmd",
    "medseal.cli.more_cmd",
    "medseal.cli.keys",
    "medseal.cli.demo",
    "medseal.cli.ingest_cmd",
]
NOT_NEEDED = ["torch", "medseal.ingest", "medseal.models", "rich.progress"]


def _loaded_after(args: list[str], watch: list[str]) -> list[str]:
    probe = (
        "import sys\n"
        "from medseal.cli import main\n"
        f"main({args!r})\n"
        f"print('loaded:' + ','.join(m for m in {watch!r} if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return [m for m in proc.stdout.strip().splitlines()[-1].removeprefix("loaded:").split(",") if m]


def test_vault_get_loads_no_other_command_module_and_nothing_it_does_not_use():
    assert _loaded_after(["vault", "get", "--help"], OTHER_COMMANDS + NOT_NEEDED) == []


def test_full_help_registers_every_command_module():
    assert _loaded_after(["--help"], OTHER_COMMANDS) == OTHER_COMMANDS


def test_a_lone_command_keeps_its_name_in_usage_and_groups_register_once(capsys):
    from medseal.cli import main

    assert main(["ingest", "--help"]) == 0
    assert "Usage: " in (out := capsys.readouterr().out) and " ingest [OPTIONS]" in out
    for _ in range(2):  # a second run in the same process registers nothing twice
        assert main(["train", "--help"]) == 0
        assert capsys.readouterr().out.count("conv-bilstm") == 1
    assert main(["evaluate", "--help"]) == 0
    listed = capsys.readouterr().out
    assert all(listed.count(f" {name} ") == 1 for name in ("seed000", "seed003", "he"))


def test_full_help_lists_commands_in_their_usual_order(capsys):
    from medseal.cli import main

    main(["vault", "--help"])  # registers `vault` first: the full help still has its order
    capsys.readouterr()
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    order = ["ingest", "mask", "predict", "demo", "keys", "vault", "train", "evaluate", "more",
             "attack", "he"]  # fmt: skip
    positions = [out.index(f"│ {name} ") for name in order]
    assert positions == sorted(positions)
