"""The command line registers a command's module only when that command runs (issue 10, part 5)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import make_image
from medseal.crypto import KeyRing
from medseal.vault import Vault

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


def _loaded_after(
    args: list[str], watch: list[str], env: dict[str, str] | None = None
) -> tuple[list[str], str]:
    """Which of ``watch`` are imported after ``main(args)``, and what it printed."""
    probe = (
        "import sys\n"
        "from medseal.cli import main\n"
        f"assert main({args!r}) == 0\n"
        f"print('loaded:' + ','.join(m for m in {watch!r} if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True,
        env=env,
    )  # fmt: skip
    out, _, last = proc.stdout.strip().rpartition("\n")
    return [m for m in last.removeprefix("loaded:").split(",") if m], out


def test_vault_get_loads_no_other_command_module_and_nothing_it_does_not_use():
    assert _loaded_after(["vault", "get", "--help"], OTHER_COMMANDS + NOT_NEEDED)[0] == []


@pytest.mark.parametrize(
    ("noun", "module"),
    [("train", "medseal.cli.train_cmd"), ("attack", "medseal.cli.attack_cmd"),
     ("mask", "medseal.cli.mask_cmd")],
)  # fmt: skip
def test_each_top_level_command_registers_its_own_module_and_no_other(noun, module):
    watched = [*OTHER_COMMANDS, "medseal.cli.masked_cmd"]
    assert _loaded_after([noun, "--help"], watched)[0] == [module]


def test_full_help_registers_every_command_module():
    assert _loaded_after(["--help"], OTHER_COMMANDS)[0] == OTHER_COMMANDS


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


# Modules `vault get -o x.npy` and `vault ls` have no use for: rich costs ~45 ms to import
# (and ~2 ms a table row), typer 0.29 pulls in pydantic, pydicom and PIL read other formats.
NOT_IMPORTED_BY_GET_OR_LS = ["rich", "pydantic", "pydicom", "PIL", "torch", "medseal.ingest"]
# nor SQLAlchemy (0.3 s; the catalogue runs on sqlite3), and a listing has no pixels: no numpy
NOT_IMPORTED_BY_LS = [*NOT_IMPORTED_BY_GET_OR_LS, "sqlalchemy", "numpy"]


@pytest.mark.parametrize(
    "args",
    [["vault", "get", "{id}", "-o", "{tmp}/x.npy"], ["vault", "ls"], ["vault", "ls", "--json"]],
    ids=["get", "ls", "ls-json"],
)
def test_vault_get_and_ls_import_neither_rich_pydantic_pydicom_pil_nor_torch(tmp_path, args):
    ring = KeyRing.create(tmp_path / "ring.json", "pw", scrypt_n=2**10)
    with Vault.init(tmp_path / "v", keyring=ring, owner="o") as v:
        ref = v.put(make_image(0, shape=(8, 8), bits=8), dataset="d", as_="o")
    env = dict(
        os.environ, MEDSEAL_PASSPHRASE="pw", MEDSEAL_KEYRING=str(tmp_path / "ring.json"),
        MEDSEAL_USER="o", MEDSEAL_VAULT=str(tmp_path / "v"),
    )  # fmt: skip
    argv = [a.format(id=ref.id, tmp=tmp_path) for a in args]
    absent = NOT_IMPORTED_BY_LS if args[1] == "ls" else [*NOT_IMPORTED_BY_GET_OR_LS, "sqlalchemy"]
    loaded, out = _loaded_after(argv, absent, env=env)
    assert loaded == []
    if args[1] == "ls":
        assert ref.id in out
    else:
        assert f"wrote {tmp_path}/x.npy" in out
        assert (np.load(tmp_path / "x.npy") == make_image(0, shape=(8, 8), bits=8).pixels).all()


def test_a_subcommand_run_builds_only_that_subcommand_and_the_group_keeps_all(capsys, monkeypatch):
    import typer.main

    from medseal.cli import main, vault_cmd

    assert main(["--help"]) == 0  # every noun registered, as after other runs in one process
    capsys.readouterr()
    every = [c.name for c in vault_cmd.app.registered_commands]
    built: list[str | None] = []
    real = typer.main.get_command_from_info

    def spy(command_info, **kwargs):
        built.append(command_info.name)
        return real(command_info, **kwargs)

    monkeypatch.setattr(typer.main, "get_command_from_info", spy)
    assert main(["vault", "get", "--help"]) == 0
    assert built == ["get"] and "--transfer-syntax" in capsys.readouterr().out
    assert [c.name for c in vault_cmd.app.registered_commands] == every
    built.clear()
    assert main(["vault", "--help"]) == 0  # the group's help lists every command
    listed = capsys.readouterr().out
    assert built == every and all(f" {name} " in listed for name in every)


_BLAS_PROBE = """
import os, sys
from medseal.cli import main
assert main(sys.argv[1:]) == 0
print("blas:" + os.environ.get("OPENBLAS_NUM_THREADS", "unset"))
"""


@pytest.mark.parametrize(
    ("args", "preset", "expected"),
    [(["vault", "get", "--help"], None, "1"), (["keys", "--help"], None, "1"),
     (["vault", "get", "--help"], "4", "4"), (["train", "--help"], None, "unset"),
     (["--help"], None, "unset")],
)  # fmt: skip
def test_vault_and_keys_start_no_blas_thread_pool_unless_the_user_sets_one(args, preset, expected):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    proc = subprocess.run(
        [sys.executable, "-c", _BLAS_PROBE, *args], capture_output=True, text=True, timeout=120,
        check=True, env=env,
    )  # fmt: skip
    assert proc.stdout.strip().splitlines()[-1] == f"blas:{expected}"
