"""The training step of a study: many (seed, model) runs, in parallel processes.

Where it sits: evaluate stage, shared by the studies. Each run is one
:func:`~medseal.models.train.fit` with its own :class:`TrainConfig`; its
result depends only on its seed, data and config, never on how many runs
train beside it, so the number of processes changes the wall time, not the
figures (tested).
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from medseal.models.data import Split
from medseal.models.train import TrainConfig, fit

__all__ = ["TrainTask", "train_all", "train_one"]

log = logging.getLogger(__name__)


@dataclass
class TrainTask:
    """One model to train: its label, network, splits, loop settings and optional views."""

    label: str
    model: torch.nn.Module
    train: Split
    val: Split
    config: TrainConfig
    views: np.ndarray | None = None


def train_one(task: TrainTask, *, progress: bool = False) -> dict[str, Any]:
    """Train ``task.model`` in place; its record (:meth:`TrainResult.to_json` + best val AUC)."""
    res = fit(
        task.model,
        task.train,
        task.val,
        task.config,
        progress=progress,
        description=task.label,
        train_views=task.views,
    )
    task.model.to("cpu")
    log.info(
        "%s: best epoch %d of %d in %.0f s", task.label, res.best_epoch, res.epochs_run, res.seconds
    )
    out = res.to_json()
    out["best_val_auc"] = next(
        (h.get("val_auc") for h in res.history if int(h["epoch"]) == res.best_epoch), None
    )
    return out


def _train_job(task: TrainTask) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """One model's training in a worker process: returns its weights and record."""
    logging.basicConfig(level=logging.WARNING)
    out = train_one(task)
    return task.model.state_dict(), out


def train_all(
    tasks: Sequence[TrainTask],
    *,
    jobs: int,
    progress: bool = False,
    done: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every task, ``jobs`` at once, each in its own process; records in task order.

    ``done(k, record)`` is called as task ``k`` finishes (in finishing order).
    ``jobs=1`` trains in this process (and shows each model's progress bar);
    tasks with views are best kept in process (their copies are not shipped).
    """
    jobs = max(1, min(int(jobs), len(tasks)))
    if jobs == 1:
        out = []
        for k, task in enumerate(tasks):
            out.append(train_one(task, progress=progress))
            if done is not None:
                done(k, out[-1])
        return out
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    bar = (
        Progress(
            TextColumn(
                "training {task.completed}/{task.total} models in " + str(jobs) + " processes"
            ),
            BarColumn(),
            TimeElapsedColumn(),
            transient=True,
        )
        if progress
        else None
    )
    if bar is not None:
        bar.start()
        tid = bar.add_task("models", total=len(tasks))
    try:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = {pool.submit(_train_job, task): k for k, task in enumerate(tasks)}
            for fut in as_completed(futures):
                k = futures[fut]
                state, record = fut.result()
                tasks[k].model.load_state_dict(state)
                results[k] = record
                log.info("%s: trained in a worker", tasks[k].label)
                if done is not None:
                    done(k, record)
                if bar is not None:
                    bar.advance(tid)
    finally:
        if bar is not None:
            bar.stop()
    return [r for r in results if r is not None]
