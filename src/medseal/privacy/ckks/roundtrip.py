"""Owner -> compute host -> owner through bytes: the one loop every encrypted run uses.

``CKKSKey.encrypt`` serializes, a :class:`CKKSServer` loads and evaluates, the
owner loads and decrypts, batch by batch, exactly as between two machines.
The three steps are timed apart so callers can report the owner's and the
host's cost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from medseal.privacy.ckks.client import CKKSKey
from medseal.privacy.ckks.context import EncryptedBatch
from medseal.privacy.ckks.program import HEProgram, Packing
from medseal.privacy.ckks.server import CKKSServer

__all__ = ["RoundTrip", "round_trip"]


@dataclass
class RoundTrip:
    """Decrypted logits and what it took: wall seconds per step, bytes each way."""

    logits: NDArray[np.float64]
    """First logit of every image, in input order."""
    batches: int
    encrypt_s: float
    """Owner: encrypt and serialize (summed over batches, like the other steps)."""
    server_s: float
    """Compute host: load, evaluate and serialize."""
    decrypt_s: float
    """Owner: load and decrypt."""
    input_bytes: int
    output_bytes: int
    server_per_layer_s: list[float]
    """Of the last batch."""


def round_trip(
    key: CKKSKey,
    server: CKKSServer,
    program: HEProgram,
    x: NDArray[np.float64],
    *,
    packing: Packing | str = Packing.THROUGHPUT,
) -> RoundTrip:
    """First logit of every image of ``x`` (floats in [0, 1]), encrypted end to end.

    Images go in batches of the profile's slots (throughput packing) or one
    at a time (single-image packing).
    """
    pk = Packing(packing)
    step = 1 if pk is Packing.SINGLE else program.profile.slots
    parts = []
    seconds = np.zeros(3)
    n_in = n_out = 0
    for i in range(0, len(x), step):
        t0 = time.perf_counter()
        sent = key.encrypt(x[i : i + step], program=program, packing=pk).to_bytes()
        t1 = time.perf_counter()
        back = server.predict(program, EncryptedBatch.from_bytes(sent)).to_bytes()
        t2 = time.perf_counter()
        parts.append(key.decrypt(EncryptedBatch.from_bytes(back), program=program)[:, 0])
        seconds += (t1 - t0, t2 - t1, time.perf_counter() - t2)
        n_in, n_out = n_in + len(sent), n_out + len(back)
    return RoundTrip(
        logits=np.concatenate(parts) if parts else np.zeros(0),
        batches=len(parts),
        encrypt_s=float(seconds[0]),
        server_s=float(seconds[1]),
        decrypt_s=float(seconds[2]),
        input_bytes=n_in,
        output_bytes=n_out,
        server_per_layer_s=list(server.last_stats.per_layer_s),
    )
