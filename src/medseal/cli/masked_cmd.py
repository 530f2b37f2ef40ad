"""The masked-inference workflow's commands, for callers that mount them on an app of their own.

``medseal`` itself mounts each noun from its own module: ``mask``
(:mod:`~medseal.cli.mask_cmd`), ``train masked-cnn`` (:mod:`~medseal.cli.train_cmd`),
``predict`` (:mod:`~medseal.cli.predict_cmd`) and ``evaluate seed000``
(:mod:`~medseal.cli.evaluate_cmd`).
"""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``mask``, ``train``, ``predict`` and ``evaluate`` to ``app``."""
    from medseal.cli import evaluate_cmd, mask_cmd, predict_cmd, train_cmd

    app.command("mask")(mask_cmd.mask)
    app.add_typer(train_cmd.app, name="train")
    app.command("predict")(predict_cmd.predict)
    app.add_typer(evaluate_cmd.app, name="evaluate")
