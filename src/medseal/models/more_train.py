"""Training on plaintext or on MORE ciphertexts: Adam, client-side early stopping, grouped k-fold.

Where it sits: models stage; used by :mod:`medseal.evaluate.seed003`, the CLI
(``medseal train conv-bilstm``), the demo and ``benchmarks/more.py``.

The server-side loop (:func:`fit`) is written once against
:mod:`medseal.models.backend`. With :class:`~medseal.models.backend.MoreBackend`
every tensor it touches is a MORE ciphertext: inputs, labels, all trainable
parameters, their gradients, the loss, and Adam's moments. Adam's square root
and division are matrix functions / matrix inverses of ciphertexts.

**Early stopping needs a comparison the server cannot make** (``val_loss <
best - min_delta`` on ciphertexts is not computable: MORE has no homomorphic
comparison). After each epoch the server sends the encrypted validation loss
to the data owner's :class:`Monitor`, which decrypts that one scalar, applies
the rule (no improvement by ``min_delta`` for ``patience`` epochs) and answers
two bits: *improved* (the server then keeps a copy of the current encrypted
weights as the best) and *stop*. With ``curves=True`` (the default in
reports) the monitor also decrypts the epoch's training loss and the
validation logits, to draw loss/accuracy curves; this is reporting, not
needed for training, and is off with ``curves=False``.

Plaintext training runs the same loop with :class:`~medseal.models.backend.NumpyBackend`
and a monitor whose "decryption" is the identity; given the same seed and
initial weights both runs take identical decisions and their weights agree
to float64 rounding (the tests hold them to ``1e-9``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medseal.errors import InputError
from medseal.models.backend import (
    Array,
    ArrayBackend,
    MoreBackend,
    NumpyBackend,
    blas_single_thread,
)
from medseal.models.nets.conv_bilstm import Params, SequenceNet, bce_with_logits
from medseal.privacy.more import MoreKey, MorePublicContext, MoreTensor

__all__ = [
    "Adam",
    "EarlyStopping",
    "FitResult",
    "FoldRun",
    "Monitor",
    "MoreClient",
    "TrainConfig",
    "evaluate_loss",
    "fit",
    "grouped_folds",
    "inner_validation_split",
    "plain_monitor",
    "predict",
    "run_fold",
    "take",
]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; the defaults are seed paper 003's section 4 protocol.

    Attributes
    ----------
    lr : float
        Adam learning rate (seed: ``1e-4``).
    batch_size : int
        Minibatch size (seed: 256; smaller data sets give one batch per epoch).
    max_epochs : int
        Hard cap on epochs (the seed gives none; early stopping usually ends sooner).
    patience, min_delta : int, float
        Stop when the validation loss has not improved by more than ``min_delta``
        for ``patience`` consecutive epochs (seed: 10 and 0.001); the weights of
        the best epoch are kept.
    beta1, beta2, eps : float
        Adam constants (Kingma & Ba defaults).
    seed : int
        Seeds the minibatch order.
    """

    lr: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 200
    patience: int = 10
    min_delta: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.lr > 0 and self.batch_size >= 1 and self.max_epochs >= 1):
            raise InputError("lr, batch_size and max_epochs must be positive")
        if self.patience < 1 or self.min_delta < 0:
            raise InputError("patience must be >= 1 and min_delta >= 0")


class Adam:
    """Adam on either backend: ``m, v`` moments, bias correction, ``p -= lr m^ / (sqrt(v^) + eps)``.

    On ciphertexts ``sqrt`` is a matrix function (defined because every slot of
    ``v`` is a sum of squares) and the division is a matrix inverse.
    """

    def __init__(
        self,
        be: ArrayBackend,
        params: Params,
        *,
        lr: float = 1e-4,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float | Array = 1e-8,
    ) -> None:
        self.be = be
        self.lr, self.beta1, self.beta2 = float(lr), float(beta1), float(beta2)
        self.eps = eps if be.is_tensor(eps) else float(eps)
        self.m: Params = {k: be.zeros(tuple(p.shape)) for k, p in params.items()}
        self.v: Params = {k: be.zeros(tuple(p.shape)) for k, p in params.items()}
        self.t = 0

    def step(self, params: Params, grads: Params) -> Params:
        """Return the updated parameters (new tensors; the inputs are not modified)."""
        if set(grads) != set(params):
            raise InputError("gradients and parameters have different names")
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        c1 = 1.0 / (1.0 - b1**self.t)
        c2 = 1.0 / (1.0 - b2**self.t)
        out: Params = {}
        for k, p in params.items():
            g = grads[k]
            be = self.be
            self.m[k] = be.refresh(self.m[k] * b1 + g * (1.0 - b1))
            self.v[k] = be.refresh(self.v[k] * b2 + (g * g) * (1.0 - b2))
            denom = be.sqrt(self.v[k] * c2) + self.eps
            out[k] = be.refresh(p - (self.m[k] * (self.lr * c1)) / denom)
        return out


class EarlyStopping:
    """The client-side rule: improvement means ``loss < best - min_delta``; stop after ``patience`` misses."""

    def __init__(self, patience: int = 10, min_delta: float = 1e-3) -> None:
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.best = float("inf")
        self.best_epoch = -1
        self.misses = 0

    def update(self, epoch: int, loss: float) -> tuple[bool, bool]:
        """``(improved, stop)`` after an epoch with validation loss ``loss``."""
        if not np.isfinite(loss):
            return False, True
        if loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.misses = loss, epoch, 0
            return True, False
        self.misses += 1
        return False, self.misses >= self.patience


@dataclass
class Monitor:
    """The data owner's side of the training loop: decrypts what it must, decides early stopping.

    Parameters
    ----------
    decrypt : callable
        ``key.decrypt`` for ciphertext training; ``np.asarray`` for plaintext.
    y_val : array_like
        Validation labels, held in plaintext by the data owner (for accuracy curves).
    stopping : EarlyStopping
    curves : bool
        Also decrypt the training loss and validation logits each epoch (for
        reports). ``False``: only the validation loss is ever decrypted.
    """

    decrypt: Callable[[Array], F64]
    y_val: F64
    stopping: EarlyStopping
    curves: bool = True
    history: dict[str, list[float]] = field(
        default_factory=lambda: {"train_loss": [], "val_loss": [], "val_acc": []}
    )
    decrypted_scalars: int = 0

    def observe(
        self, epoch: int, train_loss: Array, val_loss: Array, val_logits: Array
    ) -> tuple[bool, bool]:
        """Receive the epoch's encrypted results; answer ``(improved, stop)`` to the server."""
        loss = float(np.asarray(self.decrypt(val_loss)).reshape(()))
        self.decrypted_scalars += 1
        self.history["val_loss"].append(loss)
        if self.curves:
            tl = float(np.asarray(self.decrypt(train_loss)).reshape(()))
            logits = np.asarray(self.decrypt(val_logits), dtype=np.float64)
            self.decrypted_scalars += 1 + logits.size
            self.history["train_loss"].append(tl)
            acc = float(np.mean((logits > 0).astype(int) == np.asarray(self.y_val).astype(int)))
            self.history["val_acc"].append(acc)
        return self.stopping.update(epoch, loss)


@dataclass
class FitResult:
    """Outcome of :func:`fit` (parameters stay in the backend's type: ciphertexts for MORE)."""

    params: Params
    epochs: int
    best_epoch: int
    seconds: float
    history: dict[str, list[float]]


def take(x: Array, idx: NDArray[np.intp]) -> Array:
    """Rows ``idx`` of a plaintext array or MoreTensor (bookkeeping, no arithmetic)."""
    return x[np.asarray(idx, dtype=np.intp)]


def _batches(n: int, batch_size: int, order: NDArray[np.intp]) -> list[NDArray[np.intp]]:
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def predict(
    net: SequenceNet, be: ArrayBackend, params: Params, x: Array, *, batch_size: int = 256
) -> Array:
    """Logits for every sequence of ``x`` (encrypted in, encrypted out on MORE)."""
    n = x.shape[0]
    with blas_single_thread():
        parts = [
            net.predict(be, params, take(x, idx))
            for idx in _batches(n, batch_size, np.arange(n, dtype=np.intp))
        ]
    return parts[0] if len(parts) == 1 else be.concatenate(parts, axis=0)


def evaluate_loss(
    net: SequenceNet, be: ArrayBackend, params: Params, x: Array, y: Array, *, batch_size: int = 256
) -> tuple[Array, Array]:
    """Mean BCE loss and logits over a whole set."""
    z = predict(net, be, params, x, batch_size=batch_size)
    loss, _ = bce_with_logits(be, z, y)
    return loss, z


def fit(
    net: SequenceNet,
    be: ArrayBackend,
    params: Params,
    x_train: Array,
    y_train: Array,
    x_val: Array,
    y_val: Array,
    monitor: Monitor,
    config: TrainConfig = TrainConfig(),
    *,
    on_epoch: Callable[[int, bool], None] | None = None,
) -> FitResult:
    """Train with Adam and client-driven early stopping; return the best epoch's parameters.

    The server side: nothing here decrypts. ``monitor`` is the client (see the
    module docstring); ``on_epoch(epoch, improved)`` is a progress hook.
    """
    n = x_train.shape[0]
    if n == 0 or x_val.shape[0] == 0:
        raise InputError("training and validation sets must not be empty")
    rng = np.random.default_rng(config.seed)
    opt = Adam(be, params, lr=config.lr, beta1=config.beta1, beta2=config.beta2, eps=config.eps)
    best = dict(params)
    best_epoch = -1
    start = time.perf_counter()
    epoch = 0
    with blas_single_thread():
        for epoch in range(config.max_epochs):
            order = rng.permutation(n).astype(np.intp)
            total: Array | None = None
            for idx in _batches(n, config.batch_size, order):
                loss, grads, _ = net.loss_and_grads(
                    be, params, take(x_train, idx), take(y_train, idx)
                )
                weighted = loss * (len(idx) / n)
                total = weighted if total is None else total + weighted
                params = opt.step(params, grads)
            val_loss, val_logits = evaluate_loss(
                net, be, params, x_val, y_val, batch_size=config.batch_size
            )
            improved, stop = monitor.observe(epoch, total, val_loss, val_logits)
            if improved:
                best, best_epoch = dict(params), epoch
            if on_epoch is not None:
                on_epoch(epoch, improved)
            if stop:
                break
    return FitResult(
        params=best,
        epochs=epoch + 1,
        best_epoch=best_epoch,
        seconds=time.perf_counter() - start,
        history=monitor.history,
    )


class MoreClient:
    """The data owner: holds the secret :class:`MoreKey`; encrypts inputs and decrypts results.

    The compute host gets :attr:`context` (public) and ciphertexts only.
    """

    def __init__(self, key: MoreKey, *, rng: np.random.Generator | None = None) -> None:
        self._key = key
        self._rng = rng

    def __repr__(self) -> str:
        return f"MoreClient({self._key!r})"

    @property
    def context(self) -> MorePublicContext:
        """The key's public context (for the server's :class:`MoreBackend`)."""
        return self._key.public_context()

    def backend(self) -> MoreBackend:
        """A :class:`MoreBackend` for the server: public context plus one ciphertext of 0.

        The ciphertext is the public reference that
        :meth:`MoreBackend.refresh <medseal.models.backend.MoreBackend.refresh>`
        needs to project rounding drift away during long training runs
        (:meth:`MoreKey.encrypt_reference <medseal.privacy.more.MoreKey.encrypt_reference>`:
        an encryption of 0 with well-separated hidden slots, which for ``n >= 3``
        spans the ciphertext algebra with its powers).
        """
        if self._key.n == 2:
            return MoreBackend(self.context, reference=self.encrypt(np.zeros(())))
        return MoreBackend(self.context, reference=self._key.encrypt_reference(rng=self._rng))

    def encrypt(self, x: ArrayLike) -> MoreTensor:
        """Encrypt an array (fresh hidden slots)."""
        return self._key.encrypt(np.asarray(x, dtype=np.float64), rng=self._rng)

    def decrypt(self, c: MoreTensor) -> F64:
        """Decrypt a tensor."""
        return self._key.decrypt(c)

    def encrypt_params(self, params: dict[str, F64]) -> Params:
        """Encrypt every parameter (the initial weights the client chose)."""
        return {k: self.encrypt(v) for k, v in params.items()}

    def decrypt_params(self, params: Params) -> dict[str, F64]:
        """Decrypt trained parameters."""
        return {k: self.decrypt(v) for k, v in params.items()}

    def monitor(
        self, y_val: ArrayLike, *, patience: int = 10, min_delta: float = 1e-3, curves: bool = True
    ) -> Monitor:
        """An early-stopping :class:`Monitor` that decrypts with this key."""
        return Monitor(
            decrypt=self.decrypt,
            y_val=np.asarray(y_val, dtype=np.float64),
            stopping=EarlyStopping(patience, min_delta),
            curves=curves,
        )


def plain_monitor(
    y_val: ArrayLike, *, patience: int = 10, min_delta: float = 1e-3, curves: bool = True
) -> Monitor:
    """A :class:`Monitor` for plaintext training (no decryption)."""
    return Monitor(
        decrypt=lambda a: np.asarray(a, dtype=np.float64),
        y_val=np.asarray(y_val, dtype=np.float64),
        stopping=EarlyStopping(patience, min_delta),
        curves=curves,
    )


# -- folds ---------------------------------------------------------------------------------
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


# -- one fold, plaintext or ciphertext -------------------------------------------------------
@dataclass
class FoldRun:
    """Result of :func:`run_fold` (everything here is plaintext: decrypted by the client).

    Attributes
    ----------
    mode : str
        ``"plain"`` or ``"more"``.
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

    mode: str
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
    mode: str,
    init_seed: int,
    config: TrainConfig = TrainConfig(),
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
    init = net.init_params(init_seed)
    y = np.asarray(y, dtype=np.float64)
    if mode == "plain":
        be: ArrayBackend = NumpyBackend()
        monitor = plain_monitor(
            y[val_idx], patience=config.patience, min_delta=config.min_delta, curves=curves
        )
        t0 = time.perf_counter()
        res = fit(
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
    if mode != "more":
        raise InputError(f"mode must be 'plain' or 'more', got {mode!r}")
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
    res = fit(
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
        "more", logits, params, res.epochs, res.best_epoch, res.seconds, t1 - t0,
        (c1 - c0) + (c2 - t1), res.history,
        extra={
            "ciphertext_bytes": int(nbytes),
            "decrypted_scalars": monitor.decrypted_scalars,
        },
    )  # fmt: skip
