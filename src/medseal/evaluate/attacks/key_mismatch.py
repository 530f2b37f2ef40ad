"""Key mismatch: a Masked-CNN trained under one key, fed images masked with another.

Where it sits: evaluate stage. If masking really keys the model, an analyst
(or a thief of the model) who masks new images under another key, or who
feeds plaintext, should get chance-level predictions. The attack measures
how far that holds: the in-block permutation changes with the key, but some
statistics survive every key (block means of ``|x - mid|``, the block grid),
so the AUC may stay above 0.5; the report shows whatever it measures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from medseal.evaluate.metrics import _auc_many, _check, auc_with_ci, roc_auc
from medseal.privacy.masking import make_scheme

__all__ = ["key_mismatch_attack"]


def key_mismatch_attack(
    predict: Callable[[np.ndarray], np.ndarray],
    plain: np.ndarray,
    y: np.ndarray,
    *,
    spec: str,
    block: int,
    right_key: bytes,
    wrong_keys: list[bytes],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """AUC of ``predict`` on test images masked with the right key, other keys, and plaintext.

    The wrong-key figure is the mean AUC over ``wrong_keys``, and its CI is the
    CI of that mean (each bootstrap draw resamples the test images once for all
    keys). An AUC below 0.5 is information too (flip the scores), so
    ``information`` is the mean of ``max(AUC, 1 - AUC)`` over the keys, with its CI:
    0.5 means nothing learnt from the right key survives another key.

    Returns
    -------
    dict
        ``right_key``, ``plaintext``: ``{"auc", "ci", "information"}``;
        ``wrong_key``: ``{"auc", "ci", "information", "information_ci", "n_keys"}``;
        ``wrong_key_aucs``.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n_boot, len(y)))

    def score(x: np.ndarray, s: int) -> dict[str, Any]:
        r = auc_with_ci(y, predict(x), n_boot=n_boot, seed=seed + s)
        return {"auc": r.auc, "ci": [r.lo, r.hi], "information": max(r.auc, 1 - r.auc)}

    right = make_scheme(spec, key=right_key, block=block, bit_depth=8)
    out: dict[str, Any] = {"right_key": score(right.mask(plain), 0)}
    probs = [
        predict(make_scheme(spec, key=k, block=block, bit_depth=8).mask(plain)) for k in wrong_keys
    ]
    aucs = [roc_auc(y, p) for p in probs]
    out["wrong_key_aucs"] = aucs
    if probs:
        yy = _check(y, probs[0])[0]
        boots = np.stack([_auc_many(yy, _check(y, p)[1], idx) for p in probs])  # (keys, B)
        mean_b = np.nanmean(boots, axis=0)
        info_b = np.nanmean(np.maximum(boots, 1 - boots), axis=0)
        out["wrong_key"] = {
            "auc": float(np.mean(aucs)),
            "ci": [float(v) for v in np.nanquantile(mean_b, [0.025, 0.975])],
            "information": float(np.mean([max(a, 1 - a) for a in aucs])),
            "information_ci": [float(v) for v in np.nanquantile(info_b, [0.025, 0.975])],
            "n_keys": len(probs),
        }
    else:
        out["wrong_key"] = {"auc": float("nan"), "ci": None, "n_keys": 0}
    out["plaintext"] = score(plain, 99)
    return out
