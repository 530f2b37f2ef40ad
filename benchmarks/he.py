"""Benchmark of CKKS inference: encrypted vs plaintext latency, bytes and key sizes, one run.

Side by side, on 28x28 grey inputs on this machine:

1. **medseal HE-CNN, single-image packing** (profile ``128``: N = 8192,
   212-bit modulus, 128-bit security): one image at a time, the owner packs
   the convolution's taps (9 ciphertexts), the server uses vector products
   and rotations (Galois keys for those steps only); median of
   ``--singles`` images.
2. **medseal HE-CNN, throughput packing** (same profile): one ciphertext per
   pixel, one slot per image. Client encryption, server evaluation (from the
   serialized public context and ciphertexts only) and client decryption are
   timed apart, for a batch of ``--images`` images; *single* latency is a
   batch of one image (it costs as much as a full batch), *amortized* divides
   the full batch by its images.
3. **the same network in plaintext** (torch, one image and batched).
4. **TenSEAL's encrypted-MNIST tutorial network** as the peer (conv 7x7
   stride 3, square, FC 256->64, square, FC 64->10; N = 8192, primes
   [31, 26 x 6, 31], im2col packing, one image per ciphertext), per image.

Weights are seeded random values (latency does not depend on them; trained
weights give the same operation counts). Our encrypted rows run through the
same timed loops as ``medseal evaluate he`` (``medseal.evaluate.he_latency``)
and report wall and CPU seconds (CPU: this process and the server's forked
workers), so a loaded machine's figure can be read; ``--threads`` torch
threads for the plaintext rows (SEAL runs single-threaded per process).

Usage::

    python benchmarks/he.py [--images 4096] [--peer-images 3] [--out benchmarks/results/he.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from medseal.evaluate.he_latency import single_image_run, throughput_run, torch_latency
from medseal.models.nets.he_cnn import HECNN, HEClassifier
from medseal.privacy.ckks import CKKSKey, ProfileName


def _net(seed: int, channels: int) -> HECNN:
    torch.manual_seed(seed)
    net = HECNN(channels=channels, pool=6)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def run_medseal(
    images: int, channels: int, threads: int, seed: int, workers: int = 1, singles: int = 5
) -> dict[str, Any]:
    """Our rows, through the same timed loops as ``medseal evaluate he``."""
    rng = np.random.default_rng(seed)
    x_full = rng.integers(0, 256, size=(images, 28, 28), dtype=np.uint8)
    xf = x_full.astype(np.float64) / 255.0
    clf = HEClassifier(_net(seed, channels))
    t0 = time.perf_counter()
    prog = clf.compile(profile=ProfileName.P128, calibration=x_full[:256])
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    key = CKKSKey.generate(ProfileName.P128)
    t_keygen = time.perf_counter() - t0
    rows = {
        "single": throughput_run(prog, key, xf[:1], workers=workers),
        "batch": throughput_run(prog, key, xf, workers=workers),
    }
    for row in rows.values():
        z = row.pop("logits")
        row["max_abs_logit_error"] = float(np.max(np.abs(z - prog.simulate(xf[: len(z)])[:, 0])))
    single = single_image_run(prog, key, xf[:singles])
    batch = rows["batch"]
    plain = torch_latency(clf.net, x_full, threads)
    return {
        "network": clf.net.config,
        "server_workers": workers,
        "plan": {k: v for k, v in prog.plan().items() if k != "scale_budget"},
        "profile": prog.profile.describe(),
        "compile_s": t_compile,
        "keygen_s": t_keygen,
        "public_context_bytes": batch["public_context_bytes"],
        "public_context_with_relin_keys_bytes": len(key.public_context().to_bytes()),
        "secret_key_bytes": len(key.to_bytes()),
        "galois_keys_bytes": 0,
        "rows": rows,
        "single_packing": single,
        "throughput_single_s": rows["single"]["wall_s"],
        "encrypted_single_s": single["end_to_end_s"] if single else None,
        "encrypted_amortized_s": batch["wall_s"] / batch["images"],
        "encrypted_amortized_cpu_s": batch["cpu_s"] / batch["images"],
        "server_amortized_s": batch["server_s"] / batch["images"],
        "input_bytes_per_image": batch["input_bytes"] / batch["images"],
        "plain_single_s": plain["single_s"],
        "plain_amortized_s": plain["amortized_s"],
    }


def run_tenseal_tutorial(n_images: int, seed: int) -> dict[str, Any]:
    """TenSEAL tutorial 4 ("Encrypted evaluation on MNIST"), its own packing and parameters."""
    import tenseal as ts

    rng = np.random.default_rng(seed)
    conv_w = rng.normal(0, 0.1, size=(4, 1, 7, 7))
    conv_b = rng.normal(0, 0.1, size=4)
    fc1_w = rng.normal(0, 0.1, size=(64, 256))
    fc1_b = rng.normal(0, 0.1, size=64)
    fc2_w = rng.normal(0, 0.1, size=(10, 64))
    fc2_b = rng.normal(0, 0.1, size=10)
    kernel, stride = 7, 3
    t = time.perf_counter()
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, 8192, -1, [31, 26, 26, 26, 26, 26, 26, 31])
    ctx.global_scale = 2**26
    ctx.generate_galois_keys()
    keygen = time.perf_counter() - t
    public = ctx.copy()
    public.make_context_public()
    ctx_bytes = len(public.serialize(save_galois_keys=True, save_relin_keys=True))
    times, errors, input_bytes = [], [], []
    for _ in range(n_images):
        img = rng.random((28, 28))
        t = time.perf_counter()
        enc_x, windows = ts.im2col_encoding(ctx, img.tolist(), kernel, kernel, stride)
        input_bytes.append(len(enc_x.serialize()))
        enc = enc_x.conv2d_im2col(conv_w[0, 0].tolist(), windows) + float(conv_b[0])
        chans = [enc]
        for c in range(1, 4):
            chans.append(enc_x.conv2d_im2col(conv_w[c, 0].tolist(), windows) + float(conv_b[c]))
        enc = ts.CKKSVector.pack_vectors(chans)
        enc.square_()
        enc = enc.mm(fc1_w.T.tolist()) + fc1_b.tolist()
        enc.square_()
        enc = enc.mm(fc2_w.T.tolist()) + fc2_b.tolist()
        out = np.asarray(enc.decrypt())
        times.append(time.perf_counter() - t)
        # plaintext reference of the same network
        cols = np.lib.stride_tricks.sliding_window_view(img, (kernel, kernel))[::stride, ::stride]
        conv = np.einsum("ijkl,ckl->cij", cols, conv_w[:, 0]) + conv_b[:, None, None]
        h = conv.reshape(-1) ** 2
        h = (fc1_w @ h + fc1_b) ** 2
        errors.append(float(np.max(np.abs(out - (fc2_w @ h + fc2_b)))))
    return {
        "network": "conv 7x7/3 (4 ch), square, FC 256->64, square, FC 64->10",
        "poly_modulus_degree": 8192,
        "coeff_mod_bit_sizes": [31, 26, 26, 26, 26, 26, 26, 31],
        "total_bits": 218,
        "keygen_s": keygen,
        "public_context_bytes": ctx_bytes,
        "per_image_s": float(np.median(times)),
        "images": n_images,
        "input_bytes_per_image": float(np.mean(input_bytes)),
        "max_abs_error": max(errors),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", type=int, default=4096, help="images in the batched run")
    ap.add_argument("--channels", type=int, default=8, help="HE-CNN convolution filters")
    ap.add_argument("--peer-images", type=int, default=3, help="images for TenSEAL's tutorial net")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (plaintext rows)")
    ap.add_argument("--workers", type=int, default=2, help="server processes (CKKS rows)")
    ap.add_argument("--singles", type=int, default=5, help="images in the single-image packing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/he.json"))
    args = ap.parse_args()
    console = Console()
    console.print(f"medseal HE-CNN, {args.images} images ...")
    ours = run_medseal(
        args.images, args.channels, args.threads, args.seed, args.workers, args.singles
    )
    peer = None
    if args.peer_images > 0:
        console.print(f"TenSEAL tutorial network, {args.peer_images} images ...")
        peer = run_tenseal_tutorial(args.peer_images, args.seed)
    table = Table(title="CKKS inference on 28x28 images (128-bit security)")
    for col in ("system", "single / image", "amortized / image", "input bytes / image", "keys"):
        table.add_column(col)
    kb = 1024.0
    sp = ours["single_packing"]
    table.add_row(
        "medseal HE-CNN encrypted (single-image packing, N=8192, 1 process)",
        f"{sp['end_to_end_s']:.3f} s (owner {sp['encrypt_s']:.3f}, server {sp['server_s']:.3f}; "
        f"CPU {sp['end_to_end_cpu_s']:.3f} s)",
        f"{sp['end_to_end_s']:.3f} s (one image per set of ciphertexts)",
        f"{sp['input_bytes_per_image'] / kb:.0f} KiB",
        f"public ctx {sp['public_context_bytes'] / kb / kb:.1f} MiB "
        f"({len(sp['galois_steps'])} Galois keys {sp['galois_keys_bytes'] / kb / kb:.1f} MiB)",
    )
    table.add_row(
        f"medseal HE-CNN encrypted (throughput packing, N=8192, {args.workers} server procs)",
        f"{ours['throughput_single_s']:.2f} s (a whole batch)",
        f"{ours['encrypted_amortized_s'] * 1e3:.2f} ms (server {ours['server_amortized_s'] * 1e3:.2f} ms;"
        f" CPU {ours['encrypted_amortized_cpu_s'] * 1e3:.2f} ms)",
        f"{ours['input_bytes_per_image'] / kb:.1f} KiB",
        f"public ctx {ours['public_context_bytes']} B, secret {ours['secret_key_bytes'] / kb:.0f} KiB",
    )
    table.add_row(
        "medseal HE-CNN plaintext (torch)",
        f"{ours['plain_single_s'] * 1e3:.2f} ms",
        f"{ours['plain_amortized_s'] * 1e6:.1f} us",
        "784 B (uint8)",
        "-",
    )
    if peer is not None:
        table.add_row(
            "TenSEAL MNIST tutorial encrypted (im2col, N=8192)",
            f"{peer['per_image_s']:.2f} s",
            f"{peer['per_image_s']:.2f} s (one image per ciphertext)",
            f"{peer['input_bytes_per_image'] / kb:.1f} KiB",
            f"public ctx with Galois keys {peer['public_context_bytes'] / kb / kb:.1f} MiB",
        )
    console.print(table)
    result = {
        "benchmark": "he",
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": args.threads,
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()),
        },
        "medseal": ours,
        "tenseal_tutorial": peer,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
