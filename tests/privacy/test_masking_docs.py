"""The examples in docs/masking.md and in the masking docstrings run as written."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

import medseal.privacy.masking as masking
from medseal.privacy.masking import _blocks, schemes, transforms

DOC = Path(__file__).resolve().parents[2] / "docs" / "masking.md"


def test_docs_python_blocks_run():
    if not DOC.exists():
        pytest.skip("docs/ is not beside this checkout")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "docs/masking.md has no python example"
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), {})


@pytest.mark.parametrize("module", [masking, _blocks, schemes, transforms])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, "no examples found"
    assert result.failed == 0
