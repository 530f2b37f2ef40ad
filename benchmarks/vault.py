"""Benchmark of the storage half of seed 000, measured side by side in one run.

1. Ingest throughput (images/s, MB/s) of ``Vault.put`` against the bare codec
   (JPEG 2000 encode) and bare AES-256-GCM on the same codestreams; the goal is
   a pipeline overhead over codec + cipher below 15 %.
2. AES-GCM seal throughput on large buffers against ``openssl speed -evp
   aes-256-gcm`` on the same machine (goal: within 20 %).
3. JPEG 2000 lossless size against PNG (Pillow, optimize) and raw.
4. Storage overhead of the sealed object over the plain codestream (goal:
   under 1 % plus a fixed header; the seed reports 18-25 %).

Usage::

    python benchmarks/vault.py [--data-dir DIR] [--out benchmarks/results/vault.json] [--repeat 3]

Images: 512x512 int16 CT slices from COVID-19-NY-SBU and 1024x1024 NIH
radiographs when ``../shared/data`` (or ``--data-dir``) has them, plus the
embedded PneumoniaMNIST set and pydicom's test files.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from PIL import Image as PILImage
from rich.console import Console
from rich.table import Table

from medseal import codec
from medseal.config import shared_data_dir
from medseal.crypto import KeyRing, seal
from medseal.ingest import load_path, read_image
from medseal.ingest.datasets import embedded
from medseal.types import Image
from medseal.vault import Vault

console = Console(width=160)


def image_sets(data_dir: Path | None) -> dict[str, list[Image]]:
    sets: dict[str, list[Image]] = {}
    sets["pneumoniamnist-28px (embedded)"] = [r.image() for r in embedded.demo_records()[:200]]
    dicoms = []
    for p in embedded.pydicom_sample_paths():
        dicoms.extend(r.image() for r in load_path(p))
    sets["pydicom samples"] = dicoms
    root = data_dir or shared_data_dir()
    if root is not None:
        covid = sorted((root / "covid19-ny-sbu-ct-followup").glob("*/axial/*.dcm"))
        if covid:
            sets["CT 512px int16 (COVID-19-NY-SBU)"] = [
                r.image() for p in covid[:12] for r in load_path(p)
            ]
        nih = sorted((root / "nih-chestxray14-subset" / "fullres_1024px").glob("*.png"))
        if nih:
            sets["CXR 1024px uint8 (NIH)"] = [read_image(p) for p in nih]
    return sets


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bare_gcm(key: bytes, data: bytes) -> bytearray:
    """The primitive alone, at its fastest: one AES-256-GCM pass into a preallocated buffer."""
    out = bytearray(len(data) + 16)
    enc = Cipher(algorithms.AES(key), modes.GCM(secrets.token_bytes(12))).encryptor()
    enc.update_into(data, out)
    enc.finalize()
    out[len(data) :] = enc.tag
    return out


def png_size(img: Image) -> int:
    arr = img.pixels if img.frames == 1 else img.pixels[0]
    if arr.dtype == np.int16:
        arr = (arr.astype(np.int32) + 32768).astype(np.uint16)
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="PNG", optimize=True)
    per_frame = len(buf.getvalue())
    return per_frame * img.frames


def openssl_gcm_mb_s(block: int = 1 << 20, seconds: int = 2) -> float | None:
    exe = shutil.which("openssl")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [
                exe,
                "speed",
                "-elapsed",
                "-seconds",
                str(seconds),
                "-bytes",
                str(block),
                "-evp",
                "aes-256-gcm",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = [ln for ln in out.splitlines() if ln.lower().startswith("aes-256-gcm")]
    if not line:
        return None
    value = line[-1].split()[-1]
    m = re.match(r"([\d.]+)k", value)
    return float(m.group(1)) * 1000 / 1e6 if m else None  # openssl prints 1000s of bytes per second


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/vault.json"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    results: dict = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "sets": {},
    }
    sets = image_sets(args.data_dir)
    tmp = Path(tempfile.mkdtemp(prefix="medseal-bench-"))
    ring = KeyRing.in_memory()
    table = Table(
        title="ingest: Vault.put vs bare codec + bare AES-256-GCM (same images, best run)"
    )
    for col in (
        "images",
        "n",
        "raw MB",
        "codec s",
        "AES s",
        "put s",
        "img/s",
        "MB/s",
        "put overhead",
    ):
        table.add_column(col, justify="right")
    size_table = Table(title="storage (bytes)")
    for col in (
        "images",
        "raw",
        "PNG",
        "J2K",
        "raw/J2K",
        "PNG/J2K",
        "container+DICOM hdr/img",
        "sealed",
        "seal overhead/img",
        "seal overhead %",
    ):
        size_table.add_column(col, justify="right")
    try:
        for name, images in sets.items():
            n = len(images)
            raw = sum(int(i.pixels.nbytes) for i in images)
            encoded = [codec.encode(i) for i in images]
            payloads = [codec.pack(e, i.header) for e, i in zip(encoded, images, strict=True)]
            # "codec" = encode + pack (the container and the de-identified DICOM header are
            # codec-layer work the vault needs); "AES" = the primitive alone, at its fastest.
            t_codec = timed(
                lambda: [codec.pack(codec.encode(i), i.header) for i in images], args.repeat
            )
            key = AESGCM.generate_key(bit_length=256)
            t_aes = timed(lambda: [bare_gcm(key, p) for p in payloads], args.repeat)

            def pipeline() -> float:
                v = Vault.init(tmp / f"v-{secrets.token_hex(4)}", keyring=ring, owner="bench")
                t0 = time.perf_counter()  # vault creation is a one-off, not ingest
                for img in images:
                    v.put(img, dataset="bench", as_="bench")
                elapsed = time.perf_counter() - t0
                v.close()
                return elapsed

            t_pipe = min(pipeline() for _ in range(args.repeat))
            overhead = t_pipe / (t_codec + t_aes) - 1
            table.add_row(
                name,
                str(n),
                f"{raw / 1e6:.2f}",
                f"{t_codec:.3f}",
                f"{t_aes:.4f}",
                f"{t_pipe:.3f}",
                f"{n / t_pipe:.1f}",
                f"{raw / 1e6 / t_pipe:.2f}",
                f"{overhead * 100:+.1f} %",
            )
            j2k = sum(e.nbytes for e in encoded)
            png = sum(png_size(i) for i in images)
            sealed = [seal(p, keyring=ring, associated_data=b"x" * 48) for p in payloads]
            sealed_bytes = sum(len(s.data) for s in sealed)
            payload_bytes = sum(len(p) for p in payloads)
            seal_over = sealed_bytes - payload_bytes
            size_table.add_row(
                name,
                f"{raw:,}",
                f"{png:,}",
                f"{j2k:,}",
                f"{raw / j2k:.2f}",
                f"{png / j2k:.2f}",
                f"{(payload_bytes - j2k) / n:.0f}",
                f"{sealed_bytes:,}",
                f"{seal_over / n:.0f}",
                f"{seal_over / payload_bytes * 100:.3f} %",
            )
            results["sets"][name] = {
                "images": n,
                "raw_bytes": raw,
                "png_bytes": png,
                "j2k_bytes": j2k,
                "payload_bytes": payload_bytes,
                "sealed_bytes": sealed_bytes,
                "seal_overhead_bytes_per_object": seal_over / n,
                "container_and_header_bytes_per_object": (payload_bytes - j2k) / n,
                "codec_encode_pack_s": t_codec,
                "aes_s": t_aes,
                "put_s": t_pipe,
                "put_images_per_s": n / t_pipe,
                "put_mb_per_s": raw / 1e6 / t_pipe,
                "put_overhead_vs_codec_plus_aes": overhead,
            }
        console.print(table)
        console.print(size_table)

        # AES-GCM on large buffers: seal() vs openssl speed on the same sizes, interleaved so
        # that load from other processes hits both alike; best of each. seal() returns a fresh
        # buffer per call (header || ciphertext || tag); "reused buffer" runs the same cipher
        # calls into one preallocated buffer, as `openssl speed` does, to separate the cost
        # of the cipher from the cost of allocating (and page-faulting) the output.
        gcm = Table(title="AES-256-GCM on large buffers (best of interleaved runs)")
        for col in (
            "buffer",
            "seal MB/s",
            "same cipher, reused buffer MB/s",
            "openssl MB/s",
            "seal / openssl",
            "reused / openssl",
        ):
            gcm.add_column(col, justify="right")
        results["aes_gcm"] = {}
        for mib in (1, 8, 64):
            big = secrets.token_bytes(mib << 20)
            scratch = bytearray(len(big) + 16)
            key = AESGCM.generate_key(bit_length=256)

            def reused(buf: bytes = big, out: bytearray = scratch, k: bytes = key) -> None:
                enc = Cipher(algorithms.AES(k), modes.GCM(secrets.token_bytes(12))).encryptor()
                enc.update_into(buf, out)
                enc.finalize()

            reps = max(2, 16 // mib)
            ours_runs, reused_runs, theirs_runs = [], [], []
            for _ in range(max(2, args.repeat)):
                ours_runs.append(len(big) / 1e6 / timed(lambda b=big: seal(b, keyring=ring), reps))
                reused_runs.append(len(big) / 1e6 / timed(reused, reps))
                ref = openssl_gcm_mb_s(block=len(big), seconds=1)
                if ref:
                    theirs_runs.append(ref)
            ours, again = max(ours_runs), max(reused_runs)
            theirs = max(theirs_runs) if theirs_runs else None
            gcm.add_row(
                f"{mib} MiB",
                f"{ours:.0f}",
                f"{again:.0f}",
                f"{theirs:.0f}" if theirs else "n/a",
                f"{ours / theirs:.2f}" if theirs else "-",
                f"{again / theirs:.2f}" if theirs else "-",
            )
            results["aes_gcm"][f"{mib}MiB"] = {
                "seal_mb_per_s": ours,
                "reused_buffer_mb_per_s": again,
                "openssl_mb_per_s": theirs,
                "seal_ratio": ours / theirs if theirs else None,
                "reused_ratio": again / theirs if theirs else None,
            }
        console.print(gcm)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
