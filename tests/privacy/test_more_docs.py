"""docs/more.md's example runs, and the module docstring examples hold."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import numpy as np
import pytest

import medseal.privacy.more as more_pkg
from medseal.privacy.more import MoreKey, context, key, tensor

DOC = Path(__file__).resolve().parents[2] / "docs" / "more.md"


def test_docs_example_runs():
    if not DOC.exists():
        pytest.skip("docs/more.md is not beside this checkout")
    block = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)[0]
    ns: dict[str, object] = {}
    exec(compile(block, str(DOC), "exec"), ns)
    out = ns["out"]
    assert isinstance(out, np.ndarray) and out.shape == (4, 2)
    assert np.all((out > 0) & (out < 1))


@pytest.mark.parametrize("module", [more_pkg, context, key, tensor], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_numpy_scalars_and_builtin_sum_defer_to_more_tensor():
    k = MoreKey.generate(seed=3)
    a, b = k.encrypt([1.0, 2.0]), k.encrypt([3.0, 4.0])
    np.testing.assert_allclose(k.decrypt(np.float64(2.0) * a), [2.0, 4.0], rtol=1e-12)
    np.testing.assert_allclose(k.decrypt(np.array([1.0, -1.0]) + a), [2.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(k.decrypt(sum([a, b])), [4.0, 6.0], rtol=1e-12)
    with pytest.raises(TypeError):
        np.exp(a)  # ufuncs are refused; use a.exp()
