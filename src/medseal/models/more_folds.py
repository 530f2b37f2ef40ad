"""Patient-grouped folds and one fold of seed 003's protocol, trained on plaintext or on MORE.

Where it sits: models stage; used by :mod:`medseal.evaluate.seed003`, the
server-side fold loop (:mod:`medseal.models.more_server`) and the client that
prepares an encrypted bundle. :func:`run_fold` plays both roles in one process
(client: encrypt, decide early stopping, decrypt; server: :func:`~medseal.models.more_train.fit_more`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medseal.errors import InputError
from medseal.models.backend import ArrayBackend, NumpyBackend
from medseal.models.more_client import MoreClient
from medseal.models.more_train import MoreTrainConfig, fit_more, plain_monitor, predict
from medseal.models.nets.sequence_net import SequenceNet
from medseal.privacy.more import MoreKey

__all__ = ["FoldMode", "FoldRun", "grouped_folds", "inner_validation_split", "run_fold"]

F64 = NDArray[np.float64]


class FoldMode(StrEnum):
    """How a fold is trained: on plaintext, or entirely on MORE ciphertexts."""

    PLAIN = "plain"
    MORE = "more"


def grouped_folds(
    y: ArrayLike, groups: Sequence[str], *, n_splits: int = 4, seed: int = 0
) -> list[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    """Patient-grouped, label-stratified ``(train, test)`` index pairs (scikit-learn).

    No patient appears on both sides of a split.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    y_arr = np.asarray(y).astype(int)
    g = np.asarray(groups)
    if len(np.unique(g)) < n_splits:
        raise InputError(f"{n_splits}-fold grouped CV needs at least {n_splits} patients")
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [
        (np.asarray(tr, dtype=np.intp), np.asarray(te, dtype=np.intp))
        for tr, te in cv.split(np.zeros(len(y_arr)), y_arr, g)
    ]


def inner_validation_split(
    train_idx: NDArray[np.intp],
    y: ArrayLike,
    groups: Sequence[str],
    *,
    fraction: float = 0.2,
    seed: int = 0,
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Split a fold's training indices into (fit, validation) by patient (~``fraction`` validation)."""
    y_arr = np.asarray(y).astype(int)[train_idx]
    g = np.asarray(groups)[train_idx]
    k = max(2, round(1.0 / fraction))
    if len(np.unique(g)) < k:
        raise InputError("too few patients for an inner validation split")
    per_class = min(len(np.unique(g[y_arr == c])) for c in np.unique(y_arr))
    if per_class < k:
        raise InputError(
            f"too few patients per class for an inner validation split: {per_class} in the "
            f"smallest class of a training fold, need {k} (use fewer folds or more data)"
        )
    from sklearn.model_selection import StratifiedGroupKFold

    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    fit_i, val_i = next(iter(cv.split(np.zeros(len(y_arr)), y_arr, g)))
    return train_idx[fit_i], train_idx[val_i]


@dataclass
class FoldRun:
    """Result of :func:`run_fold` (everything here is plaintext: decrypted by the client).

    Attributes
    ----------
    mode : FoldMode
        Plaintext or MORE.
    test_logits : ndarray
        Decrypted logits of the test sequences.
    params : dict
        Decrypted best parameters.
    epochs, best_epoch : int
    train_seconds : float
        Server-side training time (all epochs, including validation passes).
    inference_seconds : float
        Server-side time to predict the test set.
    client_seconds : float
        Client-side encryption of data and weights and decryption of results.
    history : dict
        Per-epoch curves the client decrypted.
    """

    mode: FoldMode
    test_logits: F64
    params: dict[str, F64]
    epochs: int
    best_epoch: int
    train_seconds: float
    inference_seconds: float
    client_seconds: float
    history: dict[str, list[float]]
    extra: dict[str, Any] = field(default_factory=dict)


def run_fold(
    net: SequenceNet,
    x: F64,
    y: F64,
    fit_idx: NDArray[np.intp],
    val_idx: NDArray[np.intp],
    test_idx: NDArray[np.intp],
    *,
    mode: FoldMode | str,
    init_seed: int,
    config: MoreTrainConfig = MoreTrainConfig(),
    key: MoreKey | None = None,
    curves: bool = True,
    on_epoch: Callable[[int, bool], None] | None = None,
) -> FoldRun:
    """Train on ``fit_idx``, early-stop on ``val_idx``, predict ``test_idx``; plain or on MORE.

    With ``mode="more"`` the client encrypts the three subsets, their labels and
    the initial weights (``net.init_params(init_seed)``, the same as the
    plaintext run), the server trains and predicts on ciphertexts, and the
    client decrypts the test logits and the final weights.
    """
    try:
        mode = FoldMode(mode)
    except ValueError:
        raise InputError(f"mode must be 'plain' or 'more', got {mode!r}") from None
    init = net.init_params(init_seed)
    y = np.asarray(y, dtype=np.float64)
    if mode is FoldMode.PLAIN:
        be: ArrayBackend = NumpyBackend()
        monitor = plain_monitor(
            y[val_idx], patience=config.patience, min_delta=config.min_delta, curves=curves
        )
        t0 = time.perf_counter()
        res = fit_more(
            net, be, init, x[fit_idx], y[fit_idx], x[val_idx], y[val_idx], monitor, config,
            on_epoch=on_epoch,
        )  # fmt: skip
        t1 = time.perf_counter()
        logits = predict(net, be, res.params, x[test_idx], batch_size=config.batch_size)
        t2 = time.perf_counter()
        return FoldRun(
            mode, np.asarray(logits), {k: np.asarray(v) for k, v in res.params.items()},
            res.epochs, res.best_epoch, t1 - t0, t2 - t1, 0.0, res.history,
        )  # fmt: skip
    if key is None:
        raise InputError("mode='more' needs the data owner's MoreKey")
    client = MoreClient(key, rng=np.random.default_rng(init_seed + 7919))
    c0 = time.perf_counter()
    enc = {
        name: (client.encrypt(x[idx]), client.encrypt(y[idx]))
        for name, idx in (("fit", fit_idx), ("val", val_idx), ("test", test_idx))
    }
    enc_params = client.encrypt_params(init)
    c1 = time.perf_counter()
    be = client.backend()
    monitor = client.monitor(
        y[val_idx], patience=config.patience, min_delta=config.min_delta, curves=curves
    )
    res = fit_more(
        net, be, enc_params, enc["fit"][0], enc["fit"][1], enc["val"][0], enc["val"][1],
        monitor, config, on_epoch=on_epoch,
    )  # fmt: skip
    t0 = time.perf_counter()
    logits_ct = predict(net, be, res.params, enc["test"][0], batch_size=config.batch_size)
    t1 = time.perf_counter()
    logits = client.decrypt(logits_ct)
    params = client.decrypt_params(res.params)
    c2 = time.perf_counter()
    nbytes = sum(t.nbytes for pair in enc.values() for t in pair)
    return FoldRun(
        FoldMode.MORE, logits, params, res.epochs, res.best_epoch, res.seconds, t1 - t0,
        (c1 - c0) + (c2 - t1), res.history,
        extra={
            "ciphertext_bytes": int(nbytes),
            "decrypted_scalars": monitor.decrypted_scalars,
        },
    )  # fmt: skip
