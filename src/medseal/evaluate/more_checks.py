"""Checks of the MORE runs beside the metrics: attacks on what the server held, cost per frame size.

Where it sits: evaluate stage, used by :mod:`medseal.evaluate.seed003`.
:func:`more_attacks` runs the eigenvalue and known-plaintext attacks on
ciphertexts of the very sequences and weights a MORE training used;
:func:`measure_frame_sizes` times one training step plain vs MORE at each
candidate frame size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medseal.evaluate.attacks.more_eigenvalue import eigenvalue_attack
from medseal.evaluate.attacks.more_known_plaintext import known_plaintext_attack
from medseal.models.nets.sequence_nets import build_sequence_net
from medseal.models.sequences import SequenceSet
from medseal.privacy.more import MoreKey

__all__ = ["measure_frame_sizes", "more_attacks"]

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


def measure_frame_sizes(
    loader: Callable[[int], SequenceSet],
    sizes: tuple[int, ...],
    *,
    net_name: str = "conv-bilstm",
    batch: int = 32,
    pairs: int = 3,
    seed: int = 0,
    conv_channels: tuple[int, ...] = (4, 8),
    hidden: int = 8,
) -> list[dict[str, Any]]:
    """Time one training step (forward, backward, Adam) plain vs MORE at each frame size.

    Steps are interleaved (plain, MORE, plain, ...) so both see the same
    machine load; the ratio is the median of the per-pair ratios. Also
    returns the data set's size at each frame size (for the run-time projection).
    """
    from medseal.models.backend import NumpyBackend, blas_single_thread
    from medseal.models.more_client import MoreClient
    from medseal.models.more_train import Adam

    key = MoreKey.generate(n=2, seed=seed + 4048)
    rows = []
    for size in sizes:
        data = loader(size)
        net = build_sequence_net(
            net_name, frames=data.x.shape[1], size=size, conv_channels=conv_channels,
            hidden=hidden, in_channels=data.x.shape[2],
        )  # fmt: skip
        xb = data.x[:batch]
        yb = data.y[:batch].astype(np.float64)
        init = net.init_params(seed)
        client = MoreClient(key, rng=np.random.default_rng(seed))
        be_m = client.backend()
        xc, yc, pc = client.encrypt(xb), client.encrypt(yb), client.encrypt_params(init)
        be_p = NumpyBackend()
        opt_p, opt_m = Adam(be_p, init, lr=1e-3), Adam(be_m, pc, lr=1e-3)
        plain_t, more_t, ratios = [], [], []
        with blas_single_thread():
            for _ in range(pairs):
                t0 = time.perf_counter()
                _, g, _ = net.loss_and_grads(be_p, init, xb, yb)
                opt_p.step(init, g)
                t1 = time.perf_counter()
                _, gc, _ = net.loss_and_grads(be_m, pc, xc, yc)
                opt_m.step(pc, gc)
                t2 = time.perf_counter()
                plain_t.append(t1 - t0)
                more_t.append(t2 - t1)
                ratios.append((t2 - t1) / (t1 - t0))
        rows.append(
            {
                "size": size,
                "net": net_name,
                "shape": list(data.x.shape[1:]),
                "sequences": len(data),
                "plain_ms_per_seq": 1000.0 * float(np.median(plain_t)) / len(xb),
                "more_ms_per_seq": 1000.0 * float(np.median(more_t)) / len(xb),
                "ratio": float(np.median(ratios)),
                "ratio_range": [float(min(ratios)), float(max(ratios))],
                "pairs": pairs,
            }
        )
    return rows
