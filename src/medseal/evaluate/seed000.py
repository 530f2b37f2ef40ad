"""Seed 000, measured: the masking study under its seed-number name.

``medseal evaluate seed000`` and this module's names are aliases of
:mod:`medseal.evaluate.studies.masking` (:class:`Seed000Config` is
:class:`~medseal.evaluate.studies.masking.MaskingStudyConfig`,
:func:`run_seed000` is :func:`~medseal.evaluate.studies.masking.run_masked_study`);
:func:`save_json` writes a result without its arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medseal.evaluate.studies.masking import (
    SEED_CLAIMS,
    MaskingStudyConfig,
    run_masked_study,
)

__all__ = ["SEED_CLAIMS", "Seed000Config", "run_seed000", "save_json"]

Seed000Config = MaskingStudyConfig
run_seed000 = run_masked_study


def save_json(result: dict[str, Any], path: str | Path) -> Path:
    """Write the results without the arrays."""
    import json

    path = Path(path)
    clean = {k: v for k, v in result.items() if not k.startswith("_")}
    path.write_text(json.dumps(clean, indent=2, default=_json_default) + "\n")
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
