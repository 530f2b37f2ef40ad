"""The distribution: one version, the licence, and a wheel that holds the package only."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import medseal

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_version_is_written_once_in_the_package():
    project = PYPROJECT["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "medseal.__version__"}
    parts = medseal.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


def test_the_licence_file_matches_the_declared_licence():
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text
    # The embedded images keep their own licence, beside the data.
    assert "CC BY 4.0" in (ROOT / "src/medseal/data/PNEUMONIAMNIST_LICENSE.md").read_text("utf-8")


def test_the_base_install_leaves_the_ml_stack_to_extras():
    heavy = ("torch", "scipy", "scikit-learn", "scikit-image", "imagehash", "matplotlib")
    base = " ".join(PYPROJECT["project"]["dependencies"]).lower()
    assert not [name for name in heavy if name in base]
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(req.startswith("torch") for req in extras["ml"])
    assert "medseal[ml]" in extras["eval"]


@pytest.mark.slow
def test_the_wheel_holds_the_package_and_no_build_scripts_or_benchmarks(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src-tree"
    skip = shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*cache"
    )
    shutil.copytree(ROOT, src, ignore=skip)
    assert (src / "scripts").is_dir() and (src / "benchmarks").is_dir()
    out = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("medseal-*.whl")
    assert wheel.name.startswith(f"medseal-{medseal.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    outside = [n for n in names if not n.startswith(("medseal/", "medseal-"))]
    assert outside == []
    assert "medseal/data/PNEUMONIAMNIST_LICENSE.md" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if "gen_e11_table" in n or "redteam" in n]
