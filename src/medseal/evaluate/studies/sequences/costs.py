"""The cost step of the sequence study: one training step, plain vs MORE, per frame size.

Where it sits: evaluate stage, a step of :mod:`medseal.evaluate.studies.sequences`
(the masking study's latency and storage are in :mod:`medseal.evaluate.studies.costs`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from medseal.models.nets.sequence_nets import build_sequence_net
from medseal.models.sequences import SequenceSet
from medseal.privacy.more import MoreKey

__all__ = ["measure_frame_sizes"]


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
