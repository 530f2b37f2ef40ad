"""Fixtures of the command-line tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def env(tmp_path):
    """The environment of a user with a key ring, a passphrase and a default vault."""
    e = dict(os.environ)
    e.update(
        MEDSEAL_PASSPHRASE="cli test passphrase",
        MEDSEAL_KEYRING=str(tmp_path / "ring.json"),
        MEDSEAL_USER="olivia",
        MEDSEAL_VAULT=str(tmp_path / "vault"),
    )
    return e
