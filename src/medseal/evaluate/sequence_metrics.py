"""The sequence study's metrics under their earlier names (aliases).

The metrics and bootstrap CIs live in :mod:`medseal.evaluate.metrics`; the
image/patient levels in :mod:`medseal.evaluate.studies.sequences.cv`; the
goals in :mod:`medseal.evaluate.studies.sequences.claims`.
"""

from __future__ import annotations

from medseal.evaluate.metrics import BINARY_METRICS, binary_metrics, fold_summary
from medseal.evaluate.metrics import stratified_bootstrap_aucs as bootstrap_auc
from medseal.evaluate.studies.sequences.claims import goals
from medseal.evaluate.studies.sequences.cv import level_metrics

__all__ = [
    "METRICS",
    "binary_metrics",
    "bootstrap_auc",
    "goals",
    "level_metrics",
    "summarise",
]

METRICS = BINARY_METRICS
summarise = fold_summary
