"""Adam, early stopping and whole training runs on MORE ciphertexts vs plaintext."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medseal.models.backend import MoreBackend, NumpyBackend
from medseal.models.more_client import MoreClient
from medseal.models.more_folds import grouped_folds, inner_validation_split, run_fold
from medseal.models.more_train import Adam, EarlyStopping, MoreTrainConfig
from medseal.models.nets.cnn_baseline import CNNBaseline
from medseal.models.nets.conv_bilstm import ConvBiLSTM
from medseal.models.sequences import synthetic_sequences
from medseal.privacy.more import MoreKey

BE = NumpyBackend()


def test_numpy_adam_matches_torch() -> None:
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 3))
    params = {"w": w0.copy()}
    opt = Adam(BE, params, lr=1e-2)
    tw = torch.tensor(w0, requires_grad=True)
    topt = torch.optim.Adam([tw], lr=1e-2)
    for step in range(5):
        g = rng.standard_normal((4, 3)) * 10.0 ** (-step)
        params = opt.step(params, {"w": g})
        tw.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(params["w"], tw.detach().numpy(), rtol=0, atol=1e-13)


def test_adam_on_ciphertext_with_small_and_zero_gradients() -> None:
    key = MoreKey.generate(n=2, seed=3)
    client = MoreClient(key, rng=np.random.default_rng(1))
    mb = client.backend()
    rng = np.random.default_rng(2)
    w = rng.standard_normal(50)
    params, enc = {"w": w}, {"w": client.encrypt(w)}
    opt, opt_c = Adam(BE, params, lr=1e-3), Adam(mb, enc, lr=1e-3)
    for _ in range(30):
        # gradients spanning 3 orders of magnitude, exact zeros included. MORE's error is
        # absolute (~1e-16 x the hidden slot, here ~0.6), so a plaintext slot far below
        # its hidden slot loses relative precision; Adam's normalisation then shows it.
        g = rng.standard_normal(50) * np.logspace(-3, 0, 50)
        g[:3] = 0.0
        params = opt.step(params, {"w": g})
        enc = opt_c.step(enc, {"w": client.encrypt(g)})
    np.testing.assert_allclose(client.decrypt(enc["w"]), params["w"], rtol=0, atol=1e-9)


def test_more_sqrt_and_refresh() -> None:
    key = MoreKey.generate(n=2, seed=4)
    ref = key.encrypt(np.array(0.0))
    mb = MoreBackend(key.public_context(), reference=ref)
    v = np.array([0.0, 1e-20, 1e-11, 2.0, 9.0])
    c = key.encrypt(v, noise_range=(0.0, 1e-30))
    np.testing.assert_allclose(key.decrypt(mb.sqrt(c)), np.sqrt(v), rtol=1e-9, atol=1e-15)
    fresh = key.encrypt(np.array([0.3, -2.0]))
    r = mb.refresh(fresh)
    np.testing.assert_allclose(r.data, fresh.data, atol=1e-14)  # valid ciphertexts are kept
    noisy = type(fresh)(fresh.data + np.array([[0.0, 1e-3], [0.0, 0.0]]), fresh.context)
    cleaned = mb.refresh(noisy)
    # the off-algebra part is gone: refreshing again changes nothing
    np.testing.assert_allclose(mb.refresh(cleaned).data, cleaned.data, atol=1e-15)
    assert BE.refresh(v) is v


def test_early_stopping_rule() -> None:
    es = EarlyStopping(patience=3, min_delta=0.01)
    decisions = [es.update(i, v) for i, v in enumerate([1.0, 0.995, 0.98, 0.975, 0.974, 0.973])]
    assert decisions == [
        (True, False),  # first value
        (False, False),  # 0.005 is not an improvement by > 0.01
        (True, False),  # 0.02 is
        (False, False),
        (False, False),
        (False, True),  # third miss in a row
    ]
    assert es.best == 0.98 and es.best_epoch == 2
    assert EarlyStopping().update(0, float("nan")) == (False, True)


def test_grouped_folds_are_patient_disjoint() -> None:
    data = synthetic_sequences(40, size=8)
    folds = grouped_folds(data.y, data.groups, n_splits=4, seed=0)
    assert len(folds) == 4
    seen = np.concatenate([te for _, te in folds])
    assert sorted(seen.tolist()) == list(range(40))
    g = np.asarray(data.groups)
    for tr, te in folds:
        assert not set(g[tr]) & set(g[te])
        fit_i, val_i = inner_validation_split(tr, data.y, data.groups, seed=1)
        assert not set(g[fit_i]) & set(g[val_i])
        assert sorted(np.concatenate([fit_i, val_i]).tolist()) == sorted(tr.tolist())


@pytest.mark.parametrize("cls", [ConvBiLSTM, CNNBaseline])
def test_training_on_ciphertext_equals_plaintext(cls: type) -> None:
    data = synthetic_sequences(40, size=8, length=3, seed=1)
    net = cls(frames=3, size=8, conv_channels=(2,), hidden=3)
    idx = np.arange(40)
    cfg = MoreTrainConfig(lr=1e-2, batch_size=8, max_epochs=6, patience=2, min_delta=1e-3)
    args = (net, data.x, data.y.astype(float), idx[:24], idx[24:32], idx[32:])
    plain = run_fold(*args, mode="plain", init_seed=0, config=cfg)
    key = MoreKey.generate(n=2, seed=9)
    enc = run_fold(*args, mode="more", init_seed=0, config=cfg, key=key, curves=False)
    assert plain.epochs == enc.epochs and plain.best_epoch == enc.best_epoch
    diff = max(np.max(np.abs(plain.params[k] - enc.params[k])) for k in plain.params)
    assert diff < 1e-8  # the documented tolerance (measured ~1e-12 here)
    np.testing.assert_allclose(enc.test_logits, plain.test_logits, atol=1e-8)
    # the weights moved: the equality is not the trivial one of an untrained net
    init = net.init_params(0)
    assert max(np.max(np.abs(plain.params[k] - init[k])) for k in init) > 1e-3
    # with curves off, the client decrypted exactly one scalar per epoch
    assert enc.extra["decrypted_scalars"] == enc.epochs
    assert len(enc.history["val_loss"]) == enc.epochs and not enc.history["train_loss"]


def test_run_fold_needs_a_key_and_a_known_mode() -> None:
    data = synthetic_sequences(8, size=8)
    net = CNNBaseline(frames=3, size=8, conv_channels=(2,), hidden=2)
    idx = np.arange(8)
    with pytest.raises(ValueError, match="MoreKey"):
        run_fold(net, data.x, data.y, idx[:4], idx[4:6], idx[6:], mode="more", init_seed=0)
    with pytest.raises(ValueError, match="mode"):
        run_fold(net, data.x, data.y, idx[:4], idx[4:6], idx[6:], mode="gpu", init_seed=0)
    with pytest.raises(ValueError):
        MoreTrainConfig(lr=0)
