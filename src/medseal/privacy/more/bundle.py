"""The files between the MORE client (data owner) and the compute host: encrypted bundle and results.

Where it sits: privacy/more. The format only: what the files are called and
what they hold. Building sequences and folds is the models stage's job
(:mod:`medseal.models.more_server`); the CLI reads and writes through here.

A bundle folder::

    context.more             public context (n, key id)
    x.more, y.more           encrypted sequences and labels
    folds.json               patient-grouped fold indices chosen by the client (no labels):
                             {"dataset", "shape", "folds": [{"fit", "val", "test"}], "groups", "seed"}
    results/                 written by the server: one folder per fold
        fold<k>/<param>.more     encrypted trained weights
        fold<k>/test_logits.more encrypted test logits
        run.json                 {"net", "params", "folds": [{"fold", "epochs", "best_epoch",
                                  "train_seconds", "inference_seconds", "test"}]}

Nothing here is secret: the key never enters a bundle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medseal.errors import ConfigError
from medseal.privacy.more.context import MorePublicContext
from medseal.privacy.more.tensor import MoreTensor

__all__ = ["BUNDLE_FILES", "EncryptedBundle", "FoldResults", "read_tensor"]

BUNDLE_FILES = ("context.more", "x.more", "y.more", "folds.json")
_LOGITS = "test_logits"


def read_tensor(path: Path, context: MorePublicContext | None = None) -> MoreTensor:
    """One serialized :class:`MoreTensor` file."""
    return MoreTensor.from_bytes(path.read_bytes(), context=context)


@dataclass
class EncryptedBundle:
    """An encrypted sequence data set ready for the compute host.

    Attributes
    ----------
    context : MorePublicContext
    x, y : MoreTensor
        Encrypted sequences ``(N, T, C, S, S)`` and labels ``(N,)``.
    index : dict
        ``dataset``, ``shape`` (of ``x``), ``folds`` (lists of ``fit``/``val``/``test``
        indices), ``groups`` (hashed patient ids), ``seed``.
    """

    context: MorePublicContext
    x: MoreTensor
    y: MoreTensor
    index: dict[str, Any]

    @property
    def folds(self) -> list[dict[str, list[int]]]:
        """The prepared folds, each ``{"fit": [...], "val": [...], "test": [...]}``."""
        return list(self.index["folds"])

    @property
    def shape(self) -> list[int]:
        """Shape of the plaintext sequences ``[N, T, C, S, S]``."""
        return list(self.index["shape"])

    def write(self, folder: Path) -> None:
        """Write the four bundle files into ``folder`` (created if missing)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "context.more").write_bytes(self.context.to_bytes())
        (folder / "x.more").write_bytes(self.x.to_bytes())
        (folder / "y.more").write_bytes(self.y.to_bytes())
        (folder / "folds.json").write_text(json.dumps(self.index), encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> EncryptedBundle:
        """Read a bundle folder; :class:`ConfigError` when a file is missing."""
        for name in BUNDLE_FILES:
            if not (folder / name).is_file():
                raise ConfigError(f"{folder} is not an encrypted data set folder (missing {name})")
        ctx = MorePublicContext.from_bytes((folder / "context.more").read_bytes())
        x = read_tensor(folder / "x.more", ctx)
        y = read_tensor(folder / "y.more", ctx)
        index = json.loads((folder / "folds.json").read_text(encoding="utf-8"))
        return cls(ctx, x, y, index)


@dataclass
class FoldResults:
    """The server's results folder: encrypted weights and test logits per fold, and ``run.json``."""

    folder: Path

    def fold_dir(self, fold: int) -> Path:
        """``fold<k>`` inside the results folder."""
        return self.folder / f"fold{fold}"

    def write_fold(self, fold: int, params: dict[str, MoreTensor], logits: MoreTensor) -> Path:
        """Store one fold's encrypted weights and test logits; return its folder."""
        out = self.fold_dir(fold)
        out.mkdir(parents=True, exist_ok=True)
        for name, tensor in params.items():
            (out / f"{name}.more").write_bytes(tensor.to_bytes())
        (out / f"{_LOGITS}.more").write_bytes(logits.to_bytes())
        return out

    def write_run(self, summary: dict[str, Any]) -> None:
        """``run.json``: the network and each fold's epochs, timings and test indices."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "run.json").write_text(json.dumps(summary), encoding="utf-8")

    def read_run(self) -> dict[str, Any]:
        """The ``run.json`` written by :meth:`write_run`."""
        path = self.folder / "run.json"
        if not path.is_file():
            raise ConfigError(f"{self.folder} holds no run.json (not a results folder)")
        run: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return run

    def read_logits(self, fold: int) -> MoreTensor:
        """One fold's encrypted test logits."""
        return read_tensor(self.fold_dir(fold) / f"{_LOGITS}.more")

    def read_weights(self, fold: int) -> dict[str, MoreTensor]:
        """One fold's encrypted trained weights, by parameter name."""
        return {
            p.stem: read_tensor(p)
            for p in sorted(self.fold_dir(fold).glob("*.more"))
            if p.stem != _LOGITS
        }
