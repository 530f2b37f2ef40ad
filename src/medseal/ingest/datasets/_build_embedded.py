"""Rebuild ``medseal/data/pneumoniamnist_demo.npz``, the embedded PneumoniaMNIST demo set.

Not imported by the package; run it from a checkout::

    python -m medseal.ingest.datasets._build_embedded \\
        ../shared/data/pneumoniamnist/pneumoniamnist__varun19424.npz

Design (deterministic, ``seed=0``): from the source file's *own* splits, draw a
class-balanced subset per split -- train 80 normal + 80 pneumonia from its train
split, val 30 + 30 from its val split, test 40 + 40 from its test split -- so
official test images appear only in the embedded test split and official
train/val images never in it. Only images whose pixels occur exactly once in the
whole source file are eligible, so no image is duplicated within or across the
embedded splits. Each split is stored in a shuffled order, with
``<split>_source_index`` recording the index in the source split.
"""

from __future__ import annotations

import argparse
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

SPLITS = {"train": 80, "val": 30, "test": 40}  # images per class
SOURCE_SHA256 = "a554d2332488d3ddc075125e66a1af77ec379fd2bafc09108ab95a37e2bd9c26"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "data" / "pneumoniamnist_demo.npz"


def build(source: Path, out: Path = DEFAULT_OUT, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the demo npz and return its arrays."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        raise SystemExit(f"unexpected source file (sha256 {digest}); expected {SOURCE_SHA256}")
    rng = np.random.default_rng(seed)
    with np.load(source, allow_pickle=False) as data:
        arrays = {k: np.asarray(data[k]) for k in data.files}
    counts: Counter[bytes] = Counter()
    for split in SPLITS:
        counts.update(img.tobytes() for img in arrays[f"{split}_images"])
    result: dict[str, np.ndarray] = {}
    for split, per_class in SPLITS.items():
        images = arrays[f"{split}_images"]
        labels = arrays[f"{split}_labels"][:, 0]
        unique = np.array([counts[img.tobytes()] == 1 for img in images])
        chosen = []
        for cls in (0, 1):
            pool = np.flatnonzero((labels == cls) & unique)
            chosen.append(np.sort(rng.choice(pool, size=per_class, replace=False)))
        idx = np.concatenate(chosen)
        idx = idx[rng.permutation(idx.size)]
        result[f"{split}_images"] = images[idx].astype(np.uint8)
        result[f"{split}_labels"] = labels[idx].astype(np.uint8)[:, None]
        result[f"{split}_source_index"] = idx.astype(np.int32)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **result)  # type: ignore[arg-type]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="pneumoniamnist__varun19424.npz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = build(args.source, args.out, args.seed)
    size = args.out.stat().st_size
    sha = hashlib.sha256(args.out.read_bytes()).hexdigest()
    for split in SPLITS:
        counts = np.bincount(result[f"{split}_labels"][:, 0], minlength=2)
        print(f"{split}: {counts[0]} normal, {counts[1]} pneumonia")
    print(f"wrote {args.out} ({size} bytes, sha256 {sha})")


if __name__ == "__main__":
    main()
