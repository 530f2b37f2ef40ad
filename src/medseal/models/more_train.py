"""Training on plaintext or on MORE ciphertexts: Adam, client-side early stopping, grouped k-fold.

Where it sits: models stage; used by :mod:`medseal.evaluate.seed003`, the CLI
(``medseal train conv-bilstm``), the demo and ``benchmarks/more.py``.

The server-side loop (:func:`fit_more`) is written once against
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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medseal.errors import InputError
from medseal.models.backend import Array, ArrayBackend, blas_single_thread
from medseal.models.nets.sequence_layers import Params, bce_with_logits
from medseal.models.nets.sequence_net import SequenceNet

__all__ = [
    "Adam",
    "EarlyStopping",
    "FitResult",
    "Monitor",
    "MoreTrainConfig",
    "evaluate_loss",
    "fit_more",
    "plain_monitor",
    "predict",
    "take",
]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class MoreTrainConfig:
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
    """Outcome of :func:`fit_more` (parameters stay in the backend's type: ciphertexts for MORE)."""

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


def fit_more(
    net: SequenceNet,
    be: ArrayBackend,
    params: Params,
    x_train: Array,
    y_train: Array,
    x_val: Array,
    y_val: Array,
    monitor: Monitor,
    config: MoreTrainConfig = MoreTrainConfig(),
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
