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

from medseal.evaluate.metrics import auc_with_ci
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

    Returns
    -------
    dict
        ``right_key``, ``wrong_key`` (mean AUC over ``wrong_keys`` and the CI of the
        first), ``wrong_key_aucs``, ``plaintext``: each an AUC with CI as
        ``{"auc", "ci"}``.
    """

    def score(x: np.ndarray, s: int) -> dict[str, Any]:
        r = auc_with_ci(y, predict(x), n_boot=n_boot, seed=seed + s)
        return {"auc": r.auc, "ci": [r.lo, r.hi]}

    right = make_scheme(spec, key=right_key, block=block, bit_depth=8)
    out: dict[str, Any] = {"right_key": score(right.mask(plain), 0)}
    wrong = [
        score(make_scheme(spec, key=k, block=block, bit_depth=8).mask(plain), i + 1)
        for i, k in enumerate(wrong_keys)
    ]
    out["wrong_key_aucs"] = [w["auc"] for w in wrong]
    out["wrong_key"] = {
        "auc": float(np.mean(out["wrong_key_aucs"])),
        "ci": wrong[0]["ci"] if wrong else None,
    }
    out["plaintext"] = score(plain, 99)
    return out
