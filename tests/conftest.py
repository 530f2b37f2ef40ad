"""Fixtures shared by every test area."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from medseal.config import shared_data_dir
from medseal.types import Image


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("MEDSEAL_PROGRESS", "0")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if root is None:
        pytest.skip("../shared/data is not beside this checkout (CI has it)")
    return root


@pytest.fixture
def keyring():
    from medseal.crypto import KeyRing

    return KeyRing.in_memory()


@pytest.fixture
def vault(tmp_path, keyring):
    from medseal.vault import Vault

    v = Vault.init(tmp_path / "vault", keyring=keyring, owner="olivia")
    yield v
    v.close()


def has_tenseal() -> bool:
    """Whether TenSEAL (the ``he`` extra) is installed. Under CI, where the ``test`` extra
    installs it, a missing TenSEAL fails instead: its tests must never pass by skipping."""
    if importlib.util.find_spec("tenseal") is not None:
        return True
    if os.environ.get("CI"):
        pytest.fail("tenseal is missing: the `test` extra installs it in CI")
    return False


def need_tenseal(*, module_level: bool = False) -> None:
    """Skip this test (``module_level``: the whole module) when TenSEAL is missing."""
    if not has_tenseal():
        pytest.skip(
            "tenseal not installed (pip install 'medseal[he]')", allow_module_level=module_level
        )


def make_image(seed: int = 0, shape: tuple[int, int] = (48, 40), bits: int = 12) -> Image:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 2**bits, size=shape, dtype=np.uint16)
    return Image(
        pixels=pixels,
        photometric="MONOCHROME2",
        bits_stored=bits,
        source="test",
        meta={"modality": "OT"},
    )


@pytest.fixture
def image() -> Image:
    return make_image()


@pytest.fixture
def env(tmp_path):
    """The environment of a command-line user with a key ring, a passphrase and a default vault."""
    e = dict(os.environ)
    e.update(
        MEDSEAL_PASSPHRASE="cli test passphrase",
        MEDSEAL_KEYRING=str(tmp_path / "ring.json"),
        MEDSEAL_USER="olivia",
        MEDSEAL_VAULT=str(tmp_path / "vault"),
    )
    return e
