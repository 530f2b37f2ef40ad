"""The attack step of the sequence study: MORE attacks on what the server held.

Where it sits: evaluate stage, a step of :mod:`medseal.evaluate.studies.sequences`.
:func:`more_attacks` runs the eigenvalue and known-plaintext attacks on
ciphertexts of the very sequences and weights a MORE training used.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medseal.evaluate.attacks.more_eigenvalue import eigenvalue_attack
from medseal.evaluate.attacks.more_known_plaintext import known_plaintext_attack
from medseal.models.sequences import SequenceSet
from medseal.privacy.more import MoreKey

__all__ = ["more_attacks"]

F64 = NDArray[np.float64]


def more_attacks(
    key: MoreKey, data: SequenceSet, weights: dict[str, F64], seed: int
) -> dict[str, Any]:
    """Run the two MORE attacks on what the compute host held; scored against the truth."""
    rng = np.random.default_rng(seed + 99)
    sample = data.x[: min(8, len(data))]
    ct = key.encrypt(sample, rng=rng)
    t0 = time.perf_counter()
    eig = eigenvalue_attack(ct, truth=sample, known_range=(0.0, 1.0))
    eig_blind = eigenvalue_attack(ct, truth=sample)
    t1 = time.perf_counter()
    flat = sample.reshape(-1)
    known = ct.reshape(-1)[:4]
    kpa = known_plaintext_attack(flat[:4], known, ct, truth=sample)
    name, w = next(iter(weights.items()))
    w_ct = key.encrypt(w, rng=rng)
    eig_w = eigenvalue_attack(w_ct, truth=w, hint=(0, float(w.reshape(-1)[0])))
    return {
        "eigenvalue_known_range": {
            "target": f"{sample.shape[0]} encrypted input sequences {sample.shape[1:]}",
            "success_rate": eig.success_rate,
            "side_information": "pixels lie in [0, 1]",
            "seconds": t1 - t0,
            "method": eig.method,
        },
        "eigenvalue_ciphertext_only": {
            "target": "the same ciphertexts, no side information",
            "success_rate": eig_blind.success_rate,
        },
        "known_plaintext": {
            "target": "the same ciphertexts, 4 known pixels",
            "success_rate": kpa.success_rate,
            "method": kpa.method,
        },
        "eigenvalue_weights": {
            "target": f"encrypted trained weights '{name}' {tuple(w.shape)}, one known value",
            "success_rate": eig_w.success_rate,
        },
    }
