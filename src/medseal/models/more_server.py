"""MORE training as two parties: the client prepares a bundle, the server trains fold by fold.

Where it sits: models stage, between :mod:`medseal.privacy.more.bundle` (the
file format) and the CLI (``medseal more encrypt``, ``medseal train
conv-bilstm --encrypted``, ``medseal more decrypt-results``), so an HTTP API can
call the same functions.

- :func:`encrypt_bundle` (client): patient-grouped folds of a
  :class:`~medseal.models.sequences.SequenceSet`, sequences and labels encrypted.
- :func:`train_bundle` (server): every prepared fold trained and predicted on
  ciphertexts; with a :class:`~medseal.models.more_client.MoreClient` online
  it answers the early-stopping questions, otherwise a fixed number of epochs.
- :func:`decrypt_results` (client): the test logits (and weights) of each fold.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medseal.errors import InputError
from medseal.models.backend import ArrayBackend, MoreBackend
from medseal.models.more_client import MoreClient
from medseal.models.more_folds import grouped_folds, inner_validation_split
from medseal.models.more_train import (
    EarlyStopping,
    Monitor,
    MoreTrainConfig,
    fit_more,
    predict,
    take,
)
from medseal.models.nets.sequence_layers import Params
from medseal.models.nets.sequence_nets import SequenceNetName, build_sequence_net
from medseal.models.sequences import SequenceSet
from medseal.privacy.more import (
    EncryptedBundle,
    FoldResults,
    MoreKey,
    MorePublicContext,
    MoreTensor,
)

__all__ = [
    "DecryptedFold",
    "decrypt_results",
    "encrypt_bundle",
    "public_reference",
    "train_bundle",
]

F64 = NDArray[np.float64]


def encrypt_bundle(
    data: SequenceSet, key: MoreKey, *, folds: int = 4, seed: int = 0
) -> EncryptedBundle:
    """Client side: choose patient-grouped folds, encrypt sequences and labels (no key inside)."""
    if not data.labelled:
        raise InputError(f"{data.name} has no labels; it cannot be used for training")
    fold_list = []
    for i, (tr, te) in enumerate(grouped_folds(data.y, data.groups, n_splits=folds, seed=seed)):
        fit_i, val_i = inner_validation_split(tr, data.y, data.groups, seed=seed + i)
        fold_list.append({"fit": fit_i.tolist(), "val": val_i.tolist(), "test": te.tolist()})
    index = {
        "dataset": data.name,
        "shape": list(data.x.shape),
        "folds": fold_list,
        "groups": [hashlib.sha256(g.encode()).hexdigest()[:12] for g in data.groups],
        "seed": seed,
    }
    x_ct = key.encrypt(data.x)
    y_ct = key.encrypt(data.y.astype(np.float64))
    return EncryptedBundle(key.public_context(), x_ct, y_ct, index)


def public_reference(x: MoreTensor) -> MoreTensor:
    """A public ciphertext with well-separated slots (for ``MoreBackend.refresh``)."""
    flat = x.reshape(-1)[: min(256, x.size)]
    d = flat.data
    n = d.shape[-1]
    # The Frobenius norm of each matrix's traceless part, for any key size n: the
    # largest is the one farthest from a multiple of I (best spread of slots).
    traceless = d - (np.trace(d, axis1=-2, axis2=-1) / n)[..., None, None] * np.eye(n)
    spread = np.sqrt(np.sum(traceless * traceless, axis=(-2, -1)))
    return flat[int(np.argmax(spread))]


def _server_setup(
    ctx: MorePublicContext,
    x: MoreTensor,
    init: dict[str, F64],
    n_val: int,
    client: MoreClient | None,
) -> tuple[ArrayBackend, Params, Monitor]:
    if client is not None:
        return (
            client.backend(),
            client.encrypt_params(init),
            client.monitor(np.zeros(n_val), curves=False),
        )
    # No client online: encrypting the initial weights needs the key, so they
    # stay trivial encodings (public); data and labels are encrypted. Every epoch
    # counts as "improved", so the last epoch's weights are kept.
    monitor = Monitor(
        decrypt=lambda _c: np.asarray(0.0),
        y_val=np.zeros(n_val),
        stopping=EarlyStopping(patience=10**9, min_delta=float("-inf")),
        curves=False,
    )
    params: Params = {n: ctx.encode(v) for n, v in init.items()}
    return MoreBackend(ctx, reference=public_reference(x)), params, monitor


def train_bundle(
    bundle: EncryptedBundle,
    results: FoldResults,
    *,
    net: SequenceNetName | str = SequenceNetName.CONV_BILSTM,
    folds: int | None = None,
    client: MoreClient | None = None,
    epochs: int = 100,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Server side: train ``net`` on the first ``folds`` prepared folds; nothing is decrypted.

    The initial weights of fold ``k`` are drawn from ``seed * 1000 + k`` (so a
    plaintext run with the same seed starts from the same point). Writes each
    fold's encrypted weights and test logits and ``run.json`` into ``results``;
    returns the ``run.json`` summary.
    """
    if client is not None and client.context != bundle.context:
        raise InputError("the key does not belong to these ciphertexts")
    shape = bundle.shape
    model = build_sequence_net(net, frames=shape[1], size=shape[3])
    x, y = bundle.x, bundle.y
    summary: dict[str, Any] = {"net": str(net), "params": None, "folds": []}
    for k, f in enumerate(bundle.folds[: folds or len(bundle.folds)]):
        fit_i, val_i, test_i = (np.asarray(f[s], dtype=np.intp) for s in ("fit", "val", "test"))
        init = model.init_params(seed * 1000 + k)
        summary["params"] = model.n_params(init)
        be, params, monitor = _server_setup(bundle.context, x, init, len(val_i), client)
        cfg = MoreTrainConfig(lr=lr, batch_size=batch_size, max_epochs=epochs, seed=seed + k)
        res = fit_more(
            model, be, params, take(x, fit_i), take(y, fit_i), take(x, val_i), take(y, val_i),
            monitor, cfg,
        )  # fmt: skip
        t0 = time.perf_counter()
        logits = predict(model, be, res.params, take(x, test_i), batch_size=batch_size)
        t_inf = time.perf_counter() - t0
        fold_dir = results.write_fold(k, res.params, logits)
        summary["folds"].append(
            {"fold": k, "epochs": res.epochs, "best_epoch": res.best_epoch,
             "train_seconds": res.seconds, "inference_seconds": t_inf, "test": f["test"]}
        )  # fmt: skip
        if log is not None:
            log(
                f"fold {k}: {res.epochs} epochs on ciphertexts in {res.seconds:.1f}s "
                f"(best epoch {res.best_epoch}); test logits encrypted in {fold_dir}"
            )
    results.write_run(summary)
    return summary


@dataclass
class DecryptedFold:
    """One fold's results after the client decrypted them."""

    fold: int
    epochs: int
    test: NDArray[np.intp]
    logits: F64
    weights: dict[str, F64] | None


def decrypt_results(
    results: FoldResults, key: MoreKey, *, weights: bool = False
) -> tuple[str, list[DecryptedFold]]:
    """Client side: the network's name and each fold's decrypted test logits (and weights)."""
    run = results.read_run()
    out = []
    for f in run["folds"]:
        k = int(f["fold"])
        w = (
            {name: key.decrypt(t) for name, t in results.read_weights(k).items()}
            if weights
            else None
        )
        out.append(
            DecryptedFold(
                k, int(f["epochs"]), np.asarray(f["test"], dtype=np.intp),
                key.decrypt(results.read_logits(k)), w,
            )
        )  # fmt: skip
    return str(run["net"]), out
