"""A base install (no extras) runs the vault; features that need an extra say which one.

Each check runs in a fresh interpreter whose ``sys.meta_path`` refuses the ML and
evaluation stack (torch, scikit-learn, SciPy, scikit-image, Matplotlib,
ImageHash), as if ``pip install medseal`` had been run without extras.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from medseal._extras import EXTRA_MODULES, Extra, MissingExtraError, extra_for_module, require_extra

BLOCKED = ("torch", "sklearn", "scipy", "skimage", "matplotlib", "imagehash")

# Runs `python -m medseal ARGS` (or `-c CODE`) with the blocked packages unimportable.
WRAPPER = f"""
import importlib.abc, runpy, sys

BLOCKED = {BLOCKED!r}


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (refused)", name=name)
        return None


sys.meta_path.insert(0, Refuse())
if sys.argv[1] == "-c":
    exec(sys.argv[2])
else:
    sys.argv = ["medseal", *sys.argv[1:]]
    runpy.run_module("medseal", run_name="__main__")
"""

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def no_extras(tmp_path):
    wrapper = tmp_path / "no_extras.py"
    wrapper.write_text(WRAPPER, encoding="utf-8")
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([SRC, env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        MEDSEAL_PASSPHRASE="extras test passphrase",
        MEDSEAL_KEYRING=str(tmp_path / "ring.json"),
        MEDSEAL_USER="olivia",
        MEDSEAL_VAULT=str(tmp_path / "vault"),
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(wrapper), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )

    return run


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_the_wrapper_really_refuses_the_blocked_packages(no_extras):
    proc = no_extras("-c", "import torch")
    assert proc.returncode != 0 and "refused" in proc.stderr


def test_the_vault_layers_import_without_any_extra(no_extras):
    code = (
        "import sys\n"
        "import medseal, medseal.vault, medseal.crypto, medseal.ingest, medseal.codec\n"
        "import medseal.privacy.masking, medseal.privacy.more\n"
        f"print(sorted(m for m in sys.modules if m.partition('.')[0] in {BLOCKED!r}))\n"
    )
    assert _ok(no_extras("-c", code)).strip() == "[]"


def test_the_vault_commands_run_without_any_extra(no_extras, tmp_path):
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(2):
        arr = (np.arange(32 * 32).reshape(32, 32) * (i + 1) % 256).astype(np.uint8)
        PILImage.fromarray(arr).save(folder / f"img{i}.png")
    _ok(no_extras("keys", "init"))
    _ok(no_extras("vault", "init", str(tmp_path / "vault")))
    assert "stored 2 objects" in _ok(no_extras("ingest", str(folder), "--dataset", "chest"))
    items = json.loads(_ok(no_extras("vault", "ls", "--json")))
    assert len(items) == 2
    _ok(no_extras("vault", "get", items[0]["id"], "-o", str(tmp_path / "back.png")))
    back = np.asarray(PILImage.open(tmp_path / "back.png"))
    assert back.shape == (32, 32)
    assert "vault OK" in _ok(no_extras("vault", "verify", "--deep"))


@pytest.mark.parametrize(
    ("package", "extra"), [("medseal.models", "ml"), ("medseal.evaluate", "eval")]
)
def test_importing_a_package_that_needs_an_extra_names_the_pip_command(no_extras, package, extra):
    code = (
        "from medseal._extras import MissingExtraError\n"
        "try:\n"
        f"    import {package}\n"
        "except MissingExtraError as exc:\n"
        "    print(exc)\n"
    )
    out = _ok(no_extras("-c", code)).strip()
    assert out.endswith(f"pip install 'medseal[{extra}]'")
    assert "\n" not in out and "torch" in out


def test_a_command_that_needs_an_extra_fails_with_one_line_not_a_traceback(no_extras, tmp_path):
    proc = no_extras("attack", "more", "--ciphertexts", str(tmp_path / "none.more"))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "needs the 'eval' extra" in proc.stderr
    assert "pip install 'medseal[eval]'" in proc.stderr  # printed as text, not rich markup
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_demo_says_which_extra_it_needs_before_doing_any_work(no_extras, tmp_path):
    proc = no_extras("demo", "--workdir", str(tmp_path / "w"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr + proc.stdout
    assert "pip install 'medseal[eval]'" in proc.stderr
    assert not (tmp_path / "w").exists()


def test_require_extra_passes_when_the_modules_are_installed():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    pytest.importorskip("scipy")
    require_extra(Extra.ML)


def test_a_missing_extra_is_an_import_error_and_a_medseal_error():
    from medseal.errors import MedsealError

    exc = MissingExtraError(Extra.HE, ("tenseal",))
    assert isinstance(exc, ImportError) and isinstance(exc, MedsealError)
    assert (
        str(exc)
        == "this feature needs the 'he' extra (missing: tenseal): pip install 'medseal[he]'"
    )


def test_a_module_maps_to_the_smallest_extra_that_brings_it():
    assert extra_for_module("torch.nn") is Extra.ML
    assert extra_for_module("skimage.metrics") is Extra.EVAL
    assert extra_for_module("tenseal") is Extra.HE
    assert extra_for_module("numpy") is None
    assert set(EXTRA_MODULES[Extra.ML]) <= set(EXTRA_MODULES[Extra.EVAL])
