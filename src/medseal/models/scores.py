"""ROC AUC, the one implementation every stage uses (scikit-learn's ``roc_auc_score``).

Where it sits: models stage, so the training loop scores its validation split
with it; :mod:`medseal.evaluate.metrics` re-exports it beside the bootstrap CIs.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = ["roc_auc"]


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); ``nan`` when only one class is present.

    ``p`` of shape ``(N, K)`` (softmax scores): the macro one-vs-rest AUC, the
    mean over the classes present of class ``k`` against the rest, as
    MedMNIST's evaluator computes it.
    """
    y = np.asarray(y).astype(np.int64).ravel()
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] > 1:
        per = [roc_auc((y == k).astype(np.int64), p[:, k]) for k in range(p.shape[1])]
        per = [a for a in per if not np.isnan(a)]
        return float(np.mean(per)) if per else float("nan")
    p = p.ravel()
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, p))
