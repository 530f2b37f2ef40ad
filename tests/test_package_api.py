"""The top-level names a user types first, and the package's shape."""

from __future__ import annotations

import subprocess
import sys

import pytest

import medseal


@pytest.mark.parametrize("name", [n for n in medseal.__all__ if n != "__version__"])
def test_top_level_names_resolve(name):
    assert getattr(medseal, name) is not None


def test_unknown_name():
    with pytest.raises(AttributeError):
        medseal.nope  # noqa: B018


def test_import_is_light():
    """`import medseal` must not pull torch, SQLAlchemy or pydicom in."""
    code = "import sys, medseal; print(sorted(m for m in ('torch','sqlalchemy','pydicom') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_errors_share_one_base():
    from medseal import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.MedsealError)
