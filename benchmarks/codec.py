"""Benchmark of the lossless DICOM-standard codecs available here: speed and size.

Side by side in one run, on real images:

- CT: 512 px axial/coronal/sagittal slices of COVID-19-NY-SBU (int16, 16 bits stored);
- CXR: NIH ChestX-ray14 at 1024 px (the 3 full-resolution PNGs) and at 128 px (``nih_128.npz``);
- small: PneumoniaMNIST 28 px images (embedded in the package).

For every codec: encode and decode MB/s (raw pixel bytes per CPU second of
this process, best of ``--repeat`` passes over the set; CPU time counts every
thread), the same per wall-clock second (in the JSON: on a shared
machine CPU time is the steadier of the two), the compression ratio (raw
bytes / coded bytes) and a bit-exactness check of every image. Codecs:

- ``j2k``: JPEG 2000 Part 1 lossless (1.2.840.10008.1.2.4.90), medseal's backend
  (OpenJPEG through pylibjpeg-openjpeg; Pillow's OpenJPEG under 32 px), decoded
  by OpenJPEG; also decoded by imagecodecs' OpenJPEG build;
- ``htj2k``: High-Throughput JPEG 2000 lossless (.201), medseal's backend
  (OpenJPH through imagecodecs), decoded by OpenJPH; also decoded by OpenJPEG;
- ``jpegls``: JPEG-LS lossless (.80), medseal's backend (CharLS through imagecodecs);
- ``rle``: RLE Lossless (1.2.840.10008.1.2.5), pydicom's own numpy encoder and decoder;
- ``ljpeg``: JPEG Lossless process 14, predictor 6 (.57), liblj92 through imagecodecs;
- ``jpegxl``: JPEG XL lossless, effort 1 (.110, DICOM since 2024; pydicom 3.0 has no
  UID for it), libjxl through imagecodecs: measured for reference.

Last, ``--vault`` CT slices go through a real vault (``put_many`` then
``get_many``) with each candidate codec: ms per object, wall and CPU.

The default codec rule (``docs/codec.md``): among the codecs the vault can store and
export (j2k, htj2k, jpegls), the one with the highest geometric mean over the sets
of the round-trip throughput (raw MB / (encode + decode seconds)).

Usage::

    python benchmarks/codec.py [--ct 60] [--cxr128 300] [--small 300] [--repeat 3] [--vault 12]
                               [--out benchmarks/results/codec.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from medseal.codec.registry import get_backend

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CANDIDATES = ("j2k", "htj2k", "jpegls")  # what the vault can store and export


# ------------------------------------------------------------------ data


def ct_slices(n: int) -> list[np.ndarray]:
    import pydicom

    files = sorted((DATA / "covid19-ny-sbu-ct-followup").glob("*/*/*.dcm"))[:n]
    return [np.ascontiguousarray(pydicom.dcmread(f).pixel_array) for f in files]


def cxr_1024() -> list[np.ndarray]:
    from PIL import Image as PILImage

    folder = DATA / "nih-chestxray14-subset" / "fullres_1024px"
    return [np.asarray(PILImage.open(p).convert("L")) for p in sorted(folder.glob("*.png"))]


def cxr_128(n: int) -> list[np.ndarray]:
    with np.load(DATA / "nih-chestxray14-more" / "nih_128.npz") as z:
        return [np.ascontiguousarray(a) for a in z["images"][:n]]


def small_28(n: int) -> list[np.ndarray]:
    with np.load(ROOT / "src" / "medseal" / "data" / "pneumoniamnist_demo.npz") as z:
        x = np.concatenate([z["train_images"], z["val_images"], z["test_images"]])
    return [np.ascontiguousarray(a) for a in x[:n]]


# ------------------------------------------------------------------ codecs


def _unsigned(a: np.ndarray) -> np.ndarray:
    return a.view(np.dtype(f"<u{a.dtype.itemsize}")) if a.dtype.kind == "i" else a


def _bits(a: np.ndarray) -> int:
    return 8 * a.dtype.itemsize


def _medseal(name: str) -> tuple[Callable[[np.ndarray], bytes], Callable[[bytes], np.ndarray]]:
    backend = get_backend(name)

    def enc(a: np.ndarray) -> bytes:
        return backend.encode_frame(
            a, bits_stored=_bits(a), lossless=True, ratio=None, psnr=None, mct=False
        )

    return enc, backend.decode_frame


def codecs() -> list[dict[str, Any]]:
    """(name, DICOM UID, encoder label, encode, [(decoder label, decode)])."""
    import imagecodecs as ic
    import openjpeg
    from pydicom.pixels.decoders.rle import _rle_decode_frame
    from pydicom.pixels.encoders import RLELosslessEncoder

    out: list[dict[str, Any]] = []
    enc, dec = _medseal("j2k")
    out.append(
        {
            "codec": "j2k",
            "uid": "1.2.840.10008.1.2.4.90",
            "encoder": "OpenJPEG (pylibjpeg-openjpeg)",
            "encode": enc,
            "decoders": [
                ("OpenJPEG (pylibjpeg-openjpeg)", dec),
                ("OpenJPEG (imagecodecs)", lambda b: ic.jpeg2k_decode(b)),
            ],
        }
    )
    enc, dec = _medseal("htj2k")
    out.append(
        {
            "codec": "htj2k",
            "uid": "1.2.840.10008.1.2.4.201",
            "encoder": "OpenJPH (imagecodecs)",
            "encode": enc,
            "decoders": [
                ("OpenJPH (imagecodecs)", dec),
                ("OpenJPEG (pylibjpeg-openjpeg)", lambda b: openjpeg.decode(b, j2k_format=0)),
            ],
        }
    )
    enc, dec = _medseal("jpegls")
    out.append(
        {
            "codec": "jpegls",
            "uid": "1.2.840.10008.1.2.4.80",
            "encoder": "CharLS (imagecodecs)",
            "encode": enc,
            "decoders": [("CharLS (imagecodecs)", dec)],
        }
    )

    def rle_enc(a: np.ndarray) -> bytes:
        return bytes(
            RLELosslessEncoder.encode(
                a,
                encoding_plugin="pydicom",
                rows=a.shape[0],
                columns=a.shape[1],
                samples_per_pixel=1,
                bits_allocated=_bits(a),
                bits_stored=_bits(a),
                pixel_representation=int(a.dtype.kind == "i"),
                photometric_interpretation="MONOCHROME2",
                number_of_frames=1,
            )  # fmt: skip
        )

    shapes: dict[int, tuple[int, int, int]] = {}

    def rle_dec(b: bytes) -> np.ndarray:
        rows, cols, bits = shapes[len(b)]
        raw = _rle_decode_frame(b, rows, cols, 1, bits, ">")  # little-endian out, for array input
        return np.frombuffer(raw, f"<u{bits // 8}").reshape(rows, cols)

    def rle_enc_tracked(a: np.ndarray) -> bytes:
        b = rle_enc(a)
        shapes[len(b)] = (a.shape[0], a.shape[1], _bits(a))
        return b

    out.append(
        {
            "codec": "rle",
            "uid": "1.2.840.10008.1.2.5",
            "encoder": "pydicom (numpy)",
            "encode": rle_enc_tracked,
            "decoders": [("pydicom (numpy)", rle_dec)],
            "note": "decode by shape lookup; identical sizes of different shapes are rare",
        }
    )
    if getattr(ic.LJPEG, "available", False):
        out.append(
            {
                "codec": "ljpeg",
                "uid": "1.2.840.10008.1.2.4.57",
                "encoder": "liblj92 (imagecodecs)",
                "encode": lambda a: bytes(ic.ljpeg_encode(_unsigned(a))),
                "decoders": [("imagecodecs", lambda b: ic.ljpeg_decode(b))],
            }
        )
    if getattr(ic.JPEGXL, "available", False):
        out.append(
            {
                "codec": "jpegxl",
                "uid": "1.2.840.10008.1.2.4.110",
                "encoder": "libjxl effort 1 (imagecodecs)",
                "encode": lambda a: bytes(ic.jpegxl_encode(_unsigned(a), lossless=True, effort=1)),
                "decoders": [("libjxl (imagecodecs)", lambda b: ic.jpegxl_decode(b))],
            }
        )
    return out


# ------------------------------------------------------------------ measuring


def best_seconds(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds (this process) of ``repeat`` calls."""
    wall = cpu = math.inf
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    return wall, cpu


def measure(spec: dict[str, Any], images: list[np.ndarray], repeat: int) -> list[dict[str, Any]]:
    raw = sum(a.nbytes for a in images)
    encode = spec["encode"]
    streams = [encode(a) for a in images]  # warm-up and the streams to decode
    enc_wall, enc_s = best_seconds(lambda: [encode(a) for a in images], repeat)
    coded = sum(len(s) for s in streams)
    rows = []
    for label, decode in spec["decoders"]:
        outs = [decode(s) for s in streams]
        exact = all(
            np.array_equal(np.asarray(o).reshape(a.shape).view(_unsigned(a).dtype), _unsigned(a))
            for o, a in zip(outs, images, strict=True)
        )
        dec_wall, dec_s = best_seconds(lambda decode=decode: [decode(s) for s in streams], repeat)
        rows.append(
            {
                "codec": spec["codec"],
                "uid": spec["uid"],
                "encoder": spec["encoder"],
                "decoder": label,
                "raw_bytes": raw,
                "coded_bytes": coded,
                "ratio": raw / coded,
                "encode_mb_s": raw / enc_s / 1e6,
                "decode_mb_s": raw / dec_s / 1e6,
                "roundtrip_mb_s": raw / (enc_s + dec_s) / 1e6,
                "encode_wall_mb_s": raw / enc_wall / 1e6,
                "decode_wall_mb_s": raw / dec_wall / 1e6,
                "bit_exact": bool(exact),
            }
        )
    return rows


def choose(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The rule of docs/codec.md: best geometric mean of round-trip MB/s over the sets.

    Scored for every bit-exact codec (with its fastest decoder); the default is
    the best of :data:`CANDIDATES`, the codecs the vault can store and export.
    """
    per_codec: dict[str, dict[str, float]] = {}
    for set_name, rows in results.items():
        for r in rows:
            if r["bit_exact"]:
                per_set = per_codec.setdefault(r["codec"], {})
                per_set[set_name] = max(per_set.get(set_name, 0.0), r["roundtrip_mb_s"])
    scores = {
        c: math.exp(sum(math.log(v) for v in per.values()) / len(per))
        for c, per in per_codec.items()
        if len(per) == len(results)
    }
    eligible = [c for c in scores if c in CANDIDATES]
    winner = max(eligible, key=lambda c: scores[c]) if eligible else None
    return {
        "rule": "max geometric mean over sets of round-trip MB/s (CPU time), among "
        + ", ".join(CANDIDATES),
        "scores": scores,
        "default": winner,
        "per_set": per_codec,
    }


def vault_round_trip(images: list[np.ndarray], repeat: int) -> list[dict[str, Any]]:
    """ms per object of ``Vault.put_many`` and ``Vault.get_many`` with each candidate codec."""
    import tempfile

    from medseal.crypto import KeyRing
    from medseal.types import Image
    from medseal.vault import Vault
    from medseal.vault._config import set_default_codec

    rows = []
    for codec in CANDIDATES:
        put_wall = put_cpu = get_wall = get_cpu = math.inf
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                ring = KeyRing.in_memory()
                Vault.init(Path(tmp) / "v", keyring=ring, owner="o").close()
                set_default_codec(Path(tmp) / "v", codec)
                with Vault.open(Path(tmp) / "v", keyring=ring) as v:
                    batch = [Image(pixels=a, bits_stored=16) for a in images]
                    t, c = time.perf_counter(), time.process_time()
                    refs = v.put_many(batch, dataset="d", as_="o")
                    put_wall = min(put_wall, time.perf_counter() - t)
                    put_cpu = min(put_cpu, time.process_time() - c)
                    t, c = time.perf_counter(), time.process_time()
                    back = v.get_many([r.id for r in refs], as_="o")
                    get_wall = min(get_wall, time.perf_counter() - t)
                    get_cpu = min(get_cpu, time.process_time() - c)
                    assert all(
                        np.array_equal(b.pixels, a) for b, a in zip(back, images, strict=True)
                    )
        n = len(images)
        rows.append(
            {
                "codec": codec,
                "objects": n,
                "put_ms": put_wall / n * 1e3,
                "put_cpu_ms": put_cpu / n * 1e3,
                "get_ms": get_wall / n * 1e3,
                "get_cpu_ms": get_cpu / n * 1e3,
            }  # fmt: skip
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ct", type=int, default=60, help="CT slices (at most 60)")
    ap.add_argument("--cxr128", type=int, default=300, help="128 px chest X-rays")
    ap.add_argument("--small", type=int, default=300, help="28 px images")
    ap.add_argument("--repeat", type=int, default=3, help="passes; the best is kept")
    ap.add_argument(
        "--vault", type=int, default=12, help="CT slices through a vault per codec (0: skip)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "codec.json")
    args = ap.parse_args()
    console = Console(width=150)

    sets = {
        "CT 512 px int16": ct_slices(args.ct),
        "CXR 1024 px uint8": cxr_1024(),
        "CXR 128 px uint8": cxr_128(args.cxr128),
        "small 28 px uint8": small_28(args.small),
    }
    specs = codecs()
    results: dict[str, list[dict[str, Any]]] = {}
    for set_name, images in sets.items():
        if not images:
            console.print(f"[yellow]skipped {set_name}: no data[/]")
            continue
        rows: list[dict[str, Any]] = []
        for spec in specs:
            try:
                rows.extend(measure(spec, images, args.repeat))
            except Exception as exc:  # a codec that cannot take this data: say so, go on
                console.print(f"[yellow]{spec['codec']} on {set_name}: {type(exc).__name__}[/]")
        results[set_name] = rows
        raw = sum(a.nbytes for a in images)
        table = Table(title=f"{set_name}: {len(images)} images, {raw / 1e6:.2f} MB raw")
        for col in (
            "codec",
            "encoder",
            "decoder",
            "ratio",
            "enc MB/s",
            "dec MB/s",
            "wall enc/dec",
            "exact",
        ):
            table.add_column(col, justify="right" if "/" in col or col == "ratio" else "left")
        for r in rows:
            table.add_row(
                r["codec"], r["encoder"], r["decoder"], f"{r['ratio']:.3f}",
                f"{r['encode_mb_s']:.1f}", f"{r['decode_mb_s']:.1f}",
                f"{r['encode_wall_mb_s']:.1f} / {r['decode_wall_mb_s']:.1f}", str(r["bit_exact"]),
            )  # fmt: skip
        console.print(table)

    choice = choose(results)
    console.print(
        "geometric mean of round-trip MB/s (CPU time) over the sets: "
        + ", ".join(
            f"{c} {v:.1f}" for c, v in sorted(choice["scores"].items(), key=lambda kv: -kv[1])
        )
        + f"; default among {', '.join(CANDIDATES)}: [bold]{choice['default']}[/]"
    )
    vault_rows: list[dict[str, Any]] = []
    if args.vault and sets["CT 512 px int16"]:
        vault_rows = vault_round_trip(sets["CT 512 px int16"][: args.vault], args.repeat)
        table = Table(title=f"vault put_many / get_many, {args.vault} CT slices, ms per object")
        for col in ("codec", "put ms", "put CPU ms", "get ms", "get CPU ms"):
            table.add_column(col, justify="left" if col == "codec" else "right")
        for r in vault_rows:
            table.add_row(r["codec"], f"{r['put_ms']:.1f}", f"{r['put_cpu_ms']:.1f}",
                          f"{r['get_ms']:.1f}", f"{r['get_cpu_ms']:.1f}")  # fmt: skip
        console.print(table)
    import imagecodecs
    import openjpeg

    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "libraries": {
            "imagecodecs": imagecodecs.__version__,
            "pylibjpeg-openjpeg": openjpeg.__version__,
            "details": imagecodecs.version(),
        },  # fmt: skip
        "settings": vars(args) | {"out": str(args.out)},
        "sets": {k: len(v) for k, v in sets.items()},
        "results": results,
        "choice": choice,
        "vault": vault_rows,
    }
    args.out.write_text(json.dumps(doc, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
