"""Benchmark of seed 003's MORE training: ciphertext vs plaintext, side by side in one run.

For each network (Conv Bi-LSTM, CNN-LSTM, CNN) on the same minibatches of real
NIH follow-up sequences (or synthetic ones when the data is absent):

1. one training step (forward, backward, Adam) per sequence, plaintext NumPy
   vs MORE ciphertexts for each key size ``--n`` (default 2; e.g. ``--n 2,3,4``),
   and the ratio;
2. inference per sequence, plaintext vs ciphertext;
3. client-side encryption and decryption cost per sequence;
4. memory: bytes per encrypted value and per encrypted sequence vs plaintext float64;
5. agreement: max |plaintext - decrypted| of loss, gradients and logits, and of
   the weights after the Adam step.

Timings are medians of ``--repeat`` runs with one BLAS thread (see
``medseal.models.backend.blas_single_thread``) on whatever machine runs it.
Plaintext and ciphertext runs are *interleaved* (plain, MORE, plain, MORE, ...)
so that both see the same machine load; the ratio reported is the median of
the per-pair ratios, with its lowest and highest pair beside it. A plaintext
step of a few milliseconds is easily disturbed by anything else running, which
is why single medians taken one after the other used to swing by 50 %.

Usage::

    python benchmarks/more.py [--data-dir DIR] [--batch 32] [--repeat 11] [--n 2,3,4]
                              [--nets conv-bilstm,cnn,cnn-lstm] [--out benchmarks/results/more.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from medseal.config import shared_data_dir
from medseal.models.backend import NumpyBackend, blas_single_thread
from medseal.models.more_client import MoreClient
from medseal.models.more_train import Adam
from medseal.models.nets.sequence_nets import SEQUENCE_NETS as NETS
from medseal.models.nets.sequence_nets import build_sequence_net as build_net
from medseal.models.sequences import load_sequences, synthetic_sequences
from medseal.privacy.more import MoreKey


def _median(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _paired(
    fa: Callable[[], Any], fb: Callable[[], Any], repeat: int
) -> tuple[float, float, dict[str, float], Any, Any]:
    """Interleaved timings of ``fa`` and ``fb``: medians, ratio b/a (median, min, max of pairs)."""
    fa(), fb()  # warm up caches and allocator
    ta, tb, oa, ob = [], [], None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        oa = fa()
        t1 = time.perf_counter()
        ob = fb()
        t2 = time.perf_counter()
        ta.append(t1 - t0)
        tb.append(t2 - t1)
    ratios = [b / a for a, b in zip(ta, tb, strict=True)]
    spread = {
        "median": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
    }
    return statistics.median(ta), statistics.median(tb), spread, oa, ob


def _key_sizes(text: str) -> list[int]:
    try:
        sizes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--n takes comma-separated integers, got {text!r}"
        ) from None
    if not sizes or any(not 2 <= v <= 16 for v in sizes):
        raise argparse.ArgumentTypeError("--n values must lie in [2, 16]")
    return sizes


def _bench_n(n: int, x: np.ndarray, y: np.ndarray, nets: list[str], repeat: int) -> dict[str, Any]:
    """Every network at key size ``n``: interleaved plaintext / MORE step and inference."""
    b = x.shape[0]
    key = MoreKey.generate(n=n, seed=0)
    client = MoreClient(key, rng=np.random.default_rng(1))
    be, mb = NumpyBackend(), client.backend()
    t_enc, xc = _median(lambda: client.encrypt(x), repeat)
    yc = client.encrypt(y)
    rows: list[dict[str, Any]] = []
    with blas_single_thread():
        for name in nets:
            net = build_net(name, frames=x.shape[1], size=x.shape[3])
            p = net.init_params(0)
            pc = client.encrypt_params(p)

            def step_plain(net: Any = net, p: Any = p) -> Any:
                loss, g, z = net.loss_and_grads(be, p, x, y)
                return loss, g, z, Adam(be, p, lr=1e-3).step(p, g)

            def step_more(net: Any = net, pc: Any = pc) -> Any:
                loss, g, z = net.loss_and_grads(mb, pc, xc, yc)
                return loss, g, z, Adam(mb, pc, lr=1e-3).step(pc, g)

            t_sp, t_sm, r_train, (lp, gp, zp, np_), (lm, gm, zm, nm) = _paired(
                step_plain, step_more, repeat
            )
            t_ip, t_im, r_inf, _, zc = _paired(
                lambda net=net, p=p: net.predict(be, p, x),
                lambda net=net, pc=pc: net.predict(mb, pc, xc),
                repeat,
            )
            t_dec, _ = _median(lambda zc=zc: client.decrypt(zc), repeat)
            agree = max(
                abs(float(client.decrypt(lm)) - float(lp)),
                max(float(np.max(np.abs(client.decrypt(gm[k]) - gp[k]))) for k in gp),
                float(np.max(np.abs(client.decrypt(zm) - zp))),
            )
            agree_w = max(float(np.max(np.abs(client.decrypt(nm[k]) - np_[k]))) for k in np_)
            rows.append(
                {
                    "net": name,
                    "params": net.n_params(p),
                    "train_step_ms_per_seq_plain": 1e3 * t_sp / b,
                    "train_step_ms_per_seq_more": 1e3 * t_sm / b,
                    "train_ratio": r_train["median"],
                    "train_ratio_range": [r_train["min"], r_train["max"]],
                    "inference_ms_per_seq_plain": 1e3 * t_ip / b,
                    "inference_ms_per_seq_more": 1e3 * t_im / b,
                    "inference_ratio": r_inf["median"],
                    "inference_ratio_range": [r_inf["min"], r_inf["max"]],
                    "decrypt_logits_ms": 1e3 * t_dec,
                    "max_abs_diff": agree,
                    "max_abs_diff_weights_after_adam": agree_w,
                    "param_bytes_plain": 8 * net.n_params(p),
                    "param_bytes_more": int(sum(t.nbytes for t in pc.values())),
                }
            )
    seq_values = int(np.prod(x.shape[1:]))
    return {
        "n": n,
        "bytes_per_value_more": n * n * 8,
        "bytes_per_sequence_more": n * n * 8 * seq_values,
        "encrypt_ms_per_sequence": 1e3 * t_enc / b,
        "nets": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument(
        "--n", type=_key_sizes, default=[2], help="key sizes, comma-separated (e.g. 2,3,4)"
    )
    ap.add_argument("--nets", default=",".join(NETS), help="networks, comma-separated")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/more.json"))
    args = ap.parse_args()
    nets = [v for v in args.nets.split(",") if v]
    unknown = [v for v in nets if v not in NETS]
    if unknown:
        ap.error(f"unknown networks {unknown}; known: {', '.join(NETS)}")
    console = Console(width=170)
    root = args.data_dir or shared_data_dir()
    try:
        data = load_sequences("nih", root, size=16, length=3)
    except Exception:  # noqa: BLE001 - fall back to synthetic data when NIH is absent
        data = synthetic_sequences(max(64, args.batch), size=16, length=3)
    x, y = data.x[: args.batch], data.y[: args.batch].astype(np.float64)
    b = x.shape[0]
    runs = []
    for n in args.n:
        t0 = time.perf_counter()
        runs.append(_bench_n(n, x, y, nets, args.repeat))
        runs[-1]["wall_seconds"] = time.perf_counter() - t0
    seq_values = int(np.prod(x.shape[1:]))
    result = {
        "data": data.name,
        "batch": b,
        "sequence_shape": list(x.shape[1:]),
        "bytes_per_value_plain": 8,
        "bytes_per_sequence_plain": 8 * seq_values,
        "runs": runs,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpu": platform.machine(),
            "cpu_count": os.cpu_count(),
        },  # fmt: skip
        "repeat": args.repeat,
    }
    table = Table(title=f"MORE vs plaintext, {data.name}, batch {b}, per sequence")
    for col in ("n", "net", "params", "train ms plain", "train ms MORE", "x (pair range)",
                "infer ms plain", "infer ms MORE", "x (pair range)", "max |diff|",
                "weights after Adam"):  # fmt: skip
        table.add_column(col)
    for run in runs:
        for r in run["nets"]:
            table.add_row(
                str(run["n"]), r["net"], str(r["params"]),
                f"{r['train_step_ms_per_seq_plain']:.2f}", f"{r['train_step_ms_per_seq_more']:.2f}",
                f"{r['train_ratio']:.1f} ({r['train_ratio_range'][0]:.1f}-{r['train_ratio_range'][1]:.1f})",
                f"{r['inference_ms_per_seq_plain']:.3f}", f"{r['inference_ms_per_seq_more']:.3f}",
                f"{r['inference_ratio']:.1f} ({r['inference_ratio_range'][0]:.1f}-{r['inference_ratio_range'][1]:.1f})",
                f"{r['max_abs_diff']:.1e}", f"{r['max_abs_diff_weights_after_adam']:.1e}",
            )  # fmt: skip
    console.print(table)
    for run in runs:
        console.print(
            f"n={run['n']}: {run['bytes_per_value_more']} B per encrypted value (plaintext 8 B); "
            f"{run['bytes_per_sequence_more'] / 1024:.0f} KiB per encrypted sequence "
            f"(plaintext {result['bytes_per_sequence_plain'] / 1024:.0f} KiB); "
            f"encryption {run['encrypt_ms_per_sequence']:.3f} ms per sequence; "
            f"{run['wall_seconds']:.0f} s"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    console.print(f"written {args.out}")


if __name__ == "__main__":
    main()
