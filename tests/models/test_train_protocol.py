"""The training protocol: epochs and a fixed schedule, validation selection, a budget that fails loudly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medseal.models import MaskedCNN, ResNet18, TrainConfig, fit, predict_proba
from medseal.models.data import Split
from medseal.models.scores import roc_auc
from medseal.models.train import TrainingBudgetExceeded
from medseal.privacy.masking.augment import KeyFreeAugment


def _data(n: int, k: int = 2, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    x = rng.normal(100, 25, size=(n, 28, 28)) + 25 * y[:, None, None]
    return Split(
        np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64), [str(i) for i in range(n)]
    )


def test_a_run_over_its_time_guard_fails_instead_of_stopping_quietly() -> None:
    """The old loop stopped at the budget and reported the cut model; now the run is void."""
    net = ResNet18(width=4)
    cfg = TrainConfig(epochs=3, batch_size=16, threads=1, max_seconds=0.0)
    with pytest.raises(TrainingBudgetExceeded, match="guard"):
        fit(net, _data(32), _data(16, seed=1), cfg)


def test_the_same_seed_gives_the_same_run_and_records_validation_auc() -> None:
    cfg = TrainConfig(epochs=2, batch_size=16, threads=1, seed=3, augment=KeyFreeAugment(
        shift=4, shift_step=4, contrast=0.2, gamma=0.2, noise=2.0, mixup=0.4))  # fmt: skip
    runs = []
    for _ in range(2):
        torch.manual_seed(0)  # the weights' initialisation is the caller's
        net = MaskedCNN(4, width=4, body="resnet18")
        res = fit(net, _data(48), _data(16, seed=1), cfg)
        runs.append([(h["val_loss"], h["val_auc"]) for h in res.history])
    assert runs[0] == runs[1] and len(runs[0]) == 2
    assert all(0.0 <= auc <= 1.0 for _, auc in runs[0])


def test_multi_class_networks_train_with_cross_entropy_and_give_softmax_scores() -> None:
    net = ResNet18(num_classes=3, width=4)
    fit(
        net, _data(48, k=3), _data(18, k=3, seed=1), TrainConfig(epochs=1, batch_size=16, threads=1)
    )
    p = predict_proba(net, _data(9, k=3, seed=2).x)
    assert p.shape == (9, 3) and np.allclose(p.sum(axis=1), 1.0)


def test_roc_auc_is_macro_one_vs_rest_for_score_matrices() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    perfect = np.eye(3)[y]
    assert roc_auc(y, perfect) == 1.0
    assert roc_auc(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.2, 0.3])) == 0.75
