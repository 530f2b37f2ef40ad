"""Benchmark of seed 000's masked inference: masking throughput and masked vs plain latency.

Side by side in one run, on real PneumoniaMNIST (28 px, embedded in the
package) and NIH-sized (64 px) images:

1. masking / unmasking throughput (images per second) for each scheme;
2. AES-GCM control throughput (images per second), for scale;
3. inference latency per image, single image (one thread) and batched, of the plaintext
   ResNet-18 vs the Masked-CNN (untrained weights: latency does not depend on them).

Timings are medians of ``--repeat`` runs with ``--threads`` torch threads.

Usage::

    python benchmarks/masking.py [--repeat 5] [--threads 2] [--out benchmarks/results/masking.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from medseal.ingest.datasets import embedded
from medseal.models import MaskedCNN, ResNet18, aes_control, predict_proba
from medseal.models.data import records_to_split
from medseal.models.train import torch_threads
from medseal.privacy.masking import make_scheme

SCHEMES = ("block", "shuffle", "negpos", "shuffle+negpos", "block+shuffle+negpos")


def median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def images(size: int, n: int) -> np.ndarray:
    x = records_to_split(embedded.demo_records()).x
    if size == 28:
        return np.resize(x, (n, 28, 28))
    up = np.kron(x, np.ones((1, 3, 3), np.uint8))[:, :64, :64]  # 84 -> 64 px crops: NIH-sized
    return np.resize(up, (n, 64, 64))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=1000, help="images per masking batch")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/masking.json"))
    args = ap.parse_args()
    console = Console()
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "torch": torch.__version__,
            "threads": args.threads,
        },
        "masking": [],
        "inference": [],
    }
    key = bytes(range(32))
    table = Table(
        "size",
        "scheme",
        "mask img/s",
        "unmask img/s",
        title=f"masking throughput ({args.n} images)",
    )
    for size, block in ((28, 4), (64, 8)):
        x = images(size, args.n)
        for spec in SCHEMES:
            sch = make_scheme(spec, key=key, block=block, bit_depth=8)
            m = sch.mask(x)
            t_mask = median_seconds(lambda: sch.mask(x), args.repeat)
            t_unmask = median_seconds(lambda: sch.unmask(m), args.repeat)
            row = {
                "size": size,
                "block": block,
                "scheme": spec,
                "mask_per_s": args.n / t_mask,
                "unmask_per_s": args.n / t_unmask,
            }
            results["masking"].append(row)
            table.add_row(
                str(size), spec, f"{row['mask_per_s']:,.0f}", f"{row['unmask_per_s']:,.0f}"
            )
        n_aes = min(args.n, 200)
        t_aes = median_seconds(lambda: aes_control(x[:n_aes], key), max(1, args.repeat // 2))
        results["masking"].append(
            {"size": size, "scheme": "aes-gcm control", "mask_per_s": n_aes / t_aes}
        )
        table.add_row(str(size), "AES-GCM (control)", f"{n_aes / t_aes:,.0f}", "-")
    console.print(table)

    table = Table(
        "size",
        "model",
        "input",
        "single ms",
        "batched ms/img",
        "params",
        title="inference latency per image",
    )
    with torch_threads(args.threads):
        for size, block in ((28, 4), (64, 8)):
            x = images(size, 256)
            sch = make_scheme("shuffle+negpos", key=key, block=block, bit_depth=8)
            torch.manual_seed(0)
            for name, net, inp in (
                ("ResNet-18 (w16)", ResNet18(width=16, image_size=size).eval(), x),
                (
                    "Masked-CNN (adaptation + ResNet-18 w16)",
                    MaskedCNN(block, width=16, body="resnet18", image_size=size).eval(),
                    sch.mask(x),
                ),
                ("Masked-CNN (grid body w64)", MaskedCNN(block, width=64).eval(), sch.mask(x)),
            ):
                single = (
                    median_seconds(lambda: predict_proba(net, inp[:1], threads=1), args.repeat * 4)
                    * 1000
                )
                batched = (
                    median_seconds(lambda: predict_proba(net, inp), args.repeat) / len(inp) * 1000
                )
                params = sum(p.numel() for p in net.parameters())
                mask_ms = (
                    median_seconds(lambda: sch.mask(x[:1]), args.repeat * 4) * 1000
                    if "Masked" in name
                    else 0.0
                )
                row = {
                    "size": size,
                    "model": name,
                    "single_ms": single,
                    "batched_ms": batched,
                    "params": params,
                    "masking_ms_single": mask_ms,
                }
                results["inference"].append(row)
                table.add_row(
                    str(size),
                    name,
                    "masked" if "Masked" in name else "plain",
                    f"{single:.2f}",
                    f"{batched:.3f}",
                    f"{params:,}",
                )
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
