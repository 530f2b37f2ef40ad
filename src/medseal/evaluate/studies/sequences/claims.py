"""The claims step of the sequence study: the issue's goals judged from the numbers.

Where it sits: evaluate stage, a step of :mod:`medseal.evaluate.studies.sequences`;
every verdict comes from :mod:`medseal.evaluate.verdict`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["goals"]


def goals(nets_out: dict[str, Any], pooled: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's goals judged with :mod:`medseal.evaluate.verdict` from the numbers."""
    from medseal.evaluate.verdict import Goal, judge

    out = []
    if pooled is not None:
        best = pooled["ranking"][0]
        a = pooled["auc"][best]
        out.append(
            judge(
                Goal(
                    "patient_auc_best_net",
                    f"plaintext patient-level AUC of the best network ({best}) >= 0.90",
                    0.90,
                ),
                a["estimate"],
                a["ci"],
            )
        )
    eq = [e["equality"] for e in nets_out.values() if "equality" in e]
    if eq:
        worst = max(e["max_abs_weight_diff"] for e in eq)
        same = all(e["all_same_epochs"] for e in eq)
        est = -worst if same else float("-inf")
        out.append(
            judge(
                Goal(
                    "more_identical",
                    "MORE-trained weights equal plaintext (minus max |weight diff| >= -1e-8, "
                    "same epochs; deterministic, CI is the value)",
                    -1e-8,
                ),
                est,
                [est, est],
            )
        )
    ratios = [r["more_over_plain"] for e in nets_out.values() for r in e.get("cost_ratios", [])]
    if ratios:
        arr = np.asarray(ratios)
        out.append(
            judge(
                Goal(
                    "more_cost",
                    "MORE training within 10x plaintext (minus the per-fold ratio >= -10; "
                    "CI: lowest..highest fold)",
                    -10.0,
                ),
                -float(np.median(arr)),
                [-float(arr.max()), -float(arr.min())],
            )
        )
    if pooled is not None:
        for pair, d in pooled["differences"].items():
            out.append(
                judge(
                    Goal(f"rank {pair}", f"patient-level AUC {pair} > 0", 0.0),
                    d["estimate"],
                    d["ci"],
                )
            )
    return out
