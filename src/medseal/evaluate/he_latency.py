"""Timed CKKS inference runs: owner and compute host apart, wall and CPU seconds.

Where it sits: evaluate, under :mod:`medseal.evaluate.he` (the study) and
``benchmarks/he.py`` (which calls these same loops). Every run goes through
bytes, as between two machines: the owner encrypts and serializes, a
:class:`~medseal.privacy.ckks.CKKSServer` built from the serialized public
context evaluates, the owner decrypts.

Wall time on a shared machine grows with its load; CPU seconds (this process
plus the server's forked workers, once reaped) do not, so each run reports
both: on an idle machine with as many cores as server workers, wall time is
about CPU time divided by the workers that ran in parallel.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from medseal.models.train import torch_threads
from medseal.privacy.ckks import (
    CKKSKey,
    CKKSPlanError,
    CKKSServer,
    HEProgram,
    Packing,
    round_trip,
)

__all__ = ["Clock", "single_image_run", "throughput_run", "torch_latency"]


def _cpu_now() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Clock:
    """Wall and CPU seconds (this process and its reaped children) since :meth:`start`."""

    wall0: float = 0.0
    cpu0: float = 0.0

    @classmethod
    def start(cls) -> Clock:
        return cls(time.perf_counter(), _cpu_now())

    @property
    def wall_s(self) -> float:
        return time.perf_counter() - self.wall0

    @property
    def cpu_s(self) -> float:
        return _cpu_now() - self.cpu0


def throughput_run(
    prog: HEProgram, key: CKKSKey, xf: np.ndarray, *, workers: int = 1
) -> dict[str, Any]:
    """``xf`` (floats in [0, 1]) in the throughput packing, one full batch at a time.

    A batch costs the same whatever its fill (one ciphertext per pixel), so
    ``per_image_full_batch_s`` is a batch's time over the profile's slots.
    """
    ctx_bytes = key.public_context(prog).to_bytes()
    server = CKKSServer(ctx_bytes, workers=workers)
    slots = prog.profile.slots
    clock = Clock.start()
    run = round_trip(key, server, prog, xf, packing=Packing.THROUGHPUT)
    wall, cpu, batches = clock.wall_s, clock.cpu_s, run.batches
    return {
        "logits": run.logits,
        "images": len(xf),
        "batches": batches,
        "client_encrypt_s": run.encrypt_s,
        "server_s": run.server_s,
        "client_decrypt_s": run.decrypt_s,
        "wall_s": wall,
        "cpu_s": cpu,
        "per_image_at_this_fill_s": wall / len(xf),
        "per_image_full_batch_s": wall / batches / slots,
        "per_image_full_batch_cpu_s": cpu / batches / slots,
        "batch_s": wall / batches,
        "server_per_layer_s": run.server_per_layer_s,
        "workers": workers,
        "public_context_bytes": len(ctx_bytes),
        "input_bytes": run.input_bytes,
        "input_bytes_per_image_full_batch": run.input_bytes / batches / slots,
        "output_bytes": run.output_bytes,
    }


def single_image_run(prog: HEProgram, key: CKKSKey, xf: np.ndarray) -> dict[str, Any] | None:
    """``xf`` one image at a time in the single-image packing; ``None`` if the program has none."""
    try:
        plan = prog.plan(Packing.SINGLE)
    except CKKSPlanError:
        return None
    ctx = key.public_context(prog, packing=Packing.SINGLE)
    ctx_bytes = ctx.to_bytes()
    server = CKKSServer(ctx_bytes)
    steps, total, cpu, logits, sizes = [], [], [], [], []
    for x in xf:
        clock = Clock.start()
        run = round_trip(key, server, prog, x[None], packing=Packing.SINGLE)
        total.append(clock.wall_s)
        cpu.append(clock.cpu_s)
        logits.append(float(run.logits[0]))
        steps.append((run.encrypt_s, run.server_s, run.decrypt_s))
        sizes.append(run.input_bytes)
    sim = prog.simulate(xf)[:, 0]
    z = np.asarray(logits)
    med = np.median(np.asarray(steps), axis=0)
    return {
        "images": len(xf),
        "plan": {k: v for k, v in plan.items() if k != "scale_budget"},
        "encrypt_s": float(med[0]),
        "server_s": float(med[1]),
        "decrypt_s": float(med[2]),
        "end_to_end_s": float(np.median(total)),
        "end_to_end_max_s": float(np.max(total)),
        # Owner and server run here, single-threaded: what one image costs on an idle core.
        "end_to_end_cpu_s": float(np.median(cpu)),
        "input_bytes_per_image": float(np.mean(sizes)),
        "public_context_bytes": len(ctx_bytes),
        "galois_keys_bytes": len(ctx.galois),
        "galois_steps": list(ctx.galois_steps),
        "agreement_with_simulate": float(np.mean((z > 0) == (sim > 0))),
        "max_abs_logit_diff_sim": float(np.max(np.abs(z - sim))),
    }


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def torch_latency(net: torch.nn.Module, x: np.ndarray, threads: int) -> dict[str, float]:
    """Plaintext latency of ``net`` on ``uint8`` images: one image (median of 5) and batched."""
    with torch_threads(threads), torch.no_grad():
        net.eval()
        one = torch.from_numpy(x[:1].astype(np.float32) / 255.0).unsqueeze(1)
        many = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
        net(one)
        singles = [_timed(lambda: net(one)) for _ in range(5)]
        t_many = _timed(lambda: net(many))
    return {"single_s": float(np.median(singles)), "amortized_s": t_many / len(x)}
