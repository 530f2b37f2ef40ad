"""Evaluation: metrics, leakage measurement and attacks on each privacy mode (stage after models).

Needs the ``eval`` extra (``pip install 'medseal[eval]'``: the ``ml`` extra plus
scikit-image, ImageHash and Matplotlib); importing the package without it raises
:class:`~medseal._extras.MissingExtraError`, one line naming the extra. The
names below are imported on first use, so importing the package stays light.

- one study per privacy mode: :func:`run_seed000` (masking), :func:`run_seed003`
  (MORE), :func:`run_he_study` (CKKS), and :func:`write_modes_report` comparing them;
- metrics: :func:`summarize`, :func:`auc_with_ci`, :func:`binary_metrics`;
- leakage of a protected image against its plaintext: :func:`compare_leakage`;
- attacks: :mod:`medseal.evaluate.attacks`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from medseal._extras import Extra, require_extra
from medseal._lazy import lazy_exports

require_extra(Extra.EVAL)

if TYPE_CHECKING:  # pragma: no cover
    from medseal.evaluate.he import HEData, HEStudyConfig, run_he_study, train_he_cnn
    from medseal.evaluate.leakage import compare as compare_leakage
    from medseal.evaluate.metrics import auc_with_ci, summarize
    from medseal.evaluate.report import write_report
    from medseal.evaluate.report_modes import Mode, modes_markdown, write_modes_report
    from medseal.evaluate.report_seed003 import summary_lines as seed003_summary_lines
    from medseal.evaluate.seed000 import Seed000Config, run_seed000
    from medseal.evaluate.seed003 import Seed003Config, run_seed003
    from medseal.evaluate.seed003 import write_outputs as write_seed003_report
    from medseal.evaluate.sequence_metrics import binary_metrics

_LAZY = {
    "HEData": "medseal.evaluate.he",
    "HEStudyConfig": "medseal.evaluate.he",
    "run_he_study": "medseal.evaluate.he",
    "train_he_cnn": "medseal.evaluate.he",
    "auc_with_ci": "medseal.evaluate.metrics",
    "summarize": "medseal.evaluate.metrics",
    "binary_metrics": "medseal.evaluate.sequence_metrics",
    "write_report": "medseal.evaluate.report",
    "Mode": "medseal.evaluate.report_modes",
    "modes_markdown": "medseal.evaluate.report_modes",
    "write_modes_report": "medseal.evaluate.report_modes",
    "Seed000Config": "medseal.evaluate.seed000",
    "run_seed000": "medseal.evaluate.seed000",
    "Seed003Config": "medseal.evaluate.seed003",
    "run_seed003": "medseal.evaluate.seed003",
}
# Names whose defining module's name would be too generic here: public name -> (module, name).
_RENAMED = {
    "compare_leakage": ("medseal.evaluate.leakage", "compare"),
    "seed003_summary_lines": ("medseal.evaluate.report_seed003", "summary_lines"),
    "write_seed003_report": ("medseal.evaluate.seed003", "write_outputs"),
}

__all__ = [
    "HEData",
    "HEStudyConfig",
    "Mode",
    "Seed000Config",
    "Seed003Config",
    "auc_with_ci",
    "binary_metrics",
    "compare_leakage",
    "modes_markdown",
    "run_he_study",
    "run_seed000",
    "run_seed003",
    "seed003_summary_lines",
    "summarize",
    "train_he_cnn",
    "write_modes_report",
    "write_report",
    "write_seed003_report",
]

_lazy = lazy_exports(__name__, _LAZY)


def __getattr__(name: str) -> Any:
    if name in _RENAMED:
        module, attr = _RENAMED[name]
        return getattr(importlib.import_module(module), attr)
    return _lazy(name)
