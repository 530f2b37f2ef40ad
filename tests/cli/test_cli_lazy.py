"""The command line registers a command's module only when that command runs (issue 10, part 5)."""

from __future__ import annotations

import subprocess
import sys

import pytest

OTHER_COMMANDS = [
    "medseal.cli.he_cmd",
    "medseal.cli.evaluate_cmd",
    "medseal.cli.train_cmd",
    "medseal.cli.mask_cmd",
    "medseal.cli.predict_cmd",
    "medseal.cli.more_cmd",
    "medseal.cli.attack_cmd",
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


@pytest.mark.parametrize(
    ("noun", "module"),
    [("train", "medseal.cli.train_cmd"), ("attack", "medseal.cli.attack_cmd"),
     ("mask", "medseal.cli.mask_cmd")],
)  # fmt: skip
def test_each_top_level_command_registers_its_own_module_and_no_other(noun, module):
    watched = [*OTHER_COMMANDS, "medseal.cli.masked_cmd"]
    assert _loaded_after([noun, "--help"], watched) == [module]


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


GET_PROBE = """
import os, sys
import numpy as np
from medseal.crypto import KeyRing
from medseal.types import Image
from medseal.vault import Vault
root = sys.argv[1]
os.environ.update(MEDSEAL_PASSPHRASE="pw", MEDSEAL_KEYRING=root + "/ring.json", MEDSEAL_USER="o")
ring = KeyRing.create(root + "/ring.json", "pw", scrypt_n=2**10)
with Vault.init(root + "/v", keyring=ring, owner="o") as v:
    ref = v.put(Image(pixels=np.arange(64, dtype=np.uint8).reshape(8, 8), bits_stored=8),
                dataset="d", as_="o")
from medseal.cli import main
assert main(["vault", "ls", "--json", "-V", root + "/v"]) == 0
assert main(["vault", "get", ref.id, "-o", root + "/x.npy", "-V", root + "/v"]) == 0
assert (np.load(root + "/x.npy") == np.arange(64).reshape(8, 8)).all()
print("loaded:" + ",".join(m for m in ("rich", "torch", "medseal.ingest") if m in sys.modules))
"""


def test_vault_get_and_ls_json_run_without_importing_rich_or_torch(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", GET_PROBE, str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert f"wrote {tmp_path}/x.npy" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "loaded:"
