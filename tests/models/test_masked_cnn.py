"""Masked-CNN, ResNet-18 baseline, AES control and the training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medseal.errors import InputError
from medseal.evaluate.metrics import roc_auc
from medseal.models import MaskedCNN, ResNet18, TrainConfig, aes_control, fit, predict_proba
from medseal.models.data import Split, to_tensor
from medseal.models.train import load_model, save_model
from medseal.privacy.masking import make_scheme

KEY = bytes(range(32))


def synthetic(n: int, size: int = 28, seed: int = 0) -> Split:
    """Noisy images; class 1 has a brighter disc in the upper left quadrant."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    yy, xx = np.mgrid[:size, :size]
    disc = ((yy - size / 4) ** 2 + (xx - size / 4) ** 2) < (size / 6) ** 2
    x = rng.normal(100, 30, size=(n, size, size)) + 90 * disc[None] * y[:, None, None]
    return Split(
        np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64), [f"s{i}" for i in range(n)]
    )


@pytest.mark.parametrize("body", ["grid", "resnet18"])
@pytest.mark.parametrize("spec", ["shuffle", "negpos", "shuffle+negpos"])
def test_block_layer_absorbs_the_in_block_transform(spec: str, body: str) -> None:
    torch.manual_seed(0)
    net = MaskedCNN(4, width=8, body=body).eval()
    scheme = make_scheme(spec, key=KEY, block=4, bit_depth=8)
    x = synthetic(6).x
    perm, flip = scheme.block_transform(1)
    twin = net.for_scheme(perm, flip).eval()
    with torch.no_grad():
        plain_out = net(to_tensor(x))
        masked_out = twin(to_tensor(scheme.mask(x)))
        wrong = net(to_tensor(scheme.mask(x)))
    # Same function on masked images as the original on plaintext (float32 rounding only).
    torch.testing.assert_close(masked_out, plain_out, rtol=1e-4, atol=1e-4)
    # the original net on masked images is another function (by far more than rounding)
    assert (wrong - plain_out).abs().max() > 100 * (masked_out - plain_out).abs().max()


@pytest.mark.parametrize("size", [28, 64])
def test_resnet18_body_contains_the_plaintext_baseline_exactly(size: int) -> None:
    """With its block layer set to the inverse in-block transform, the masked
    model on masked images *is* the plaintext ResNet-18 on plaintext."""
    block = 4 if size == 28 else 8
    torch.manual_seed(1)
    base = ResNet18(width=8, image_size=size).eval()
    net = MaskedCNN(block, width=8, body="resnet18", image_size=size).eval()
    k = block * block
    with torch.no_grad():
        # identity block map: pixel shuffle puts every pixel back where it was
        net.embed.weight.copy_(torch.eye(k).reshape(k, block, block, 1).permute(0, 3, 1, 2))
        net.embed.bias.zero_()
    net.resnet.load_state_dict(base.state_dict())
    scheme = make_scheme("shuffle+negpos", key=KEY, block=block, bit_depth=8)
    x = synthetic(5, size=size).x
    twin = net.for_scheme(*scheme.block_transform(1)).eval()
    with torch.no_grad():
        ref = base(to_tensor(x))
        torch.testing.assert_close(net(to_tensor(x)), ref, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(twin(to_tensor(scheme.mask(x))), ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(InputError, match="body"):
        MaskedCNN(4, body="vit")


def test_train_views_replace_the_training_images() -> None:
    """Owner-side augmentation: the loop trains on the views, not on ``train.x``."""
    signal = synthetic(96, seed=1)
    rng = np.random.default_rng(0)
    noise = signal.with_x(rng.integers(0, 256, size=signal.x.shape, dtype=np.uint8))
    views = np.stack([signal.x, np.roll(signal.x, 1, axis=2)])
    val, test = synthetic(32, seed=2), synthetic(32, seed=3)
    net = ResNet18(width=8)
    cfg = TrainConfig(epochs=6, patience=6, seed=0, batch_size=16, lr=3e-3, threads=1)
    fit(net, noise, val, cfg, train_views=views)
    assert roc_auc(test.y, predict_proba(net, test.x)) > 0.9
    with pytest.raises(InputError, match="train_views"):
        fit(net, noise, val, cfg, train_views=views[:, :10])
    with pytest.raises(InputError, match="train_views"):
        fit(net, noise, val, cfg, train_views=views.astype(np.float32))


def test_masked_cnn_refuses_inputs_off_the_block_grid() -> None:
    with pytest.raises(InputError, match=r"\(1, 1, 30, 30\)"):
        MaskedCNN(4)(torch.zeros(1, 1, 30, 30))
    with pytest.raises(InputError):
        MaskedCNN(0)


@pytest.mark.parametrize("size", [28, 64])
def test_resnet18_shapes(size: int) -> None:
    net = ResNet18(width=8, image_size=size).eval()
    assert net(torch.rand(3, 1, size, size)).shape == (3, 1)
    for body in ("grid", "resnet18"):
        net2 = MaskedCNN(4 if size == 28 else 8, width=8, body=body, image_size=size).eval()
        assert net2(torch.rand(2, 1, size, size)).shape == (2, 1)


def test_tiny_training_on_masked_images_learns() -> None:
    scheme = make_scheme("shuffle+negpos", key=KEY, block=4, bit_depth=8)
    train, val, test = synthetic(96, seed=1), synthetic(32, seed=2), synthetic(32, seed=3)
    masked = [s.with_x(scheme.mask(s.x)) for s in (train, val, test)]
    net = MaskedCNN(4, width=8)
    cfg = TrainConfig(epochs=8, patience=8, seed=0, batch_size=16, lr=3e-3, threads=1)
    res = fit(net, masked[0], masked[1], cfg)
    assert 1 <= res.best_epoch <= res.epochs_run <= 8
    assert len(res.history) == res.epochs_run
    p = predict_proba(net, masked[2].x)
    assert p.shape == (32,) and np.all((p >= 0) & (p <= 1))
    assert roc_auc(test.y, p) > 0.9


def test_training_is_reproducible_with_a_seed() -> None:
    train, val = synthetic(32, seed=4), synthetic(16, seed=5)
    outs = []
    for _ in range(2):
        torch.manual_seed(3)  # weights are drawn when the net is built, before fit() seeds
        net = MaskedCNN(4, width=8)
        fit(net, train, val, TrainConfig(epochs=2, seed=7, batch_size=16, threads=1))
        outs.append(predict_proba(net, val.x))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_aes_control_is_keyed_reproducible_and_looks_random() -> None:
    x = synthetic(8).x
    c1 = aes_control(x, KEY, context=b"test")
    assert c1.shape == x.shape and c1.dtype == np.uint8
    np.testing.assert_array_equal(c1, aes_control(x, KEY, context=b"test"))
    assert not np.array_equal(c1, aes_control(x, KEY, context=b"other"))
    assert not np.array_equal(c1, aes_control(x, bytes(32), context=b"test"))
    # identical images still give unrelated ciphertexts (unique nonce per image)
    same = np.repeat(x[:1], 2, axis=0)
    c = aes_control(same, KEY)
    assert np.mean(c[0] == c[1]) < 0.05
    counts = np.bincount(c1.ravel(), minlength=256)
    assert counts.max() < 3 * counts.mean()
    with pytest.raises(InputError):
        aes_control(x, b"short")


def test_save_and_load_model(tmp_path) -> None:
    net = MaskedCNN(4, width=8).eval()
    save_model(net, tmp_path / "m", {"scheme": {"key_id": "abc"}})
    loaded, doc = load_model(tmp_path / "m")
    x = synthetic(4).x
    np.testing.assert_array_equal(predict_proba(net, x), predict_proba(loaded, x))
    assert doc["scheme"]["key_id"] == "abc" and doc["network"]["arch"] == "masked_cnn"
    with pytest.raises(InputError):
        load_model(tmp_path / "missing")


@pytest.mark.parametrize("spec", ["shuffle", "negpos", "shuffle+negpos"])
def test_block_shift_commutes_with_masking(spec: str) -> None:
    """The analyst's key-free augmentation: shifting masked images by whole blocks = masking shifted plaintext."""
    import torch

    from medseal.crypto import KeyRing
    from medseal.models.train import random_shift
    from medseal.privacy.masking import make_scheme

    sch = make_scheme(spec, key=KeyRing.in_memory(seed=b"shift").derive("m"), block=4, bit_depth=8)
    x = np.random.default_rng(0).integers(0, 256, size=(16, 28, 28), dtype=np.uint8)
    shifted_masked = random_shift(
        torch.from_numpy(sch.mask(x)[:, None]), 8, 4, np.random.default_rng(1)
    )[:, 0].numpy()
    shifted_plain = random_shift(torch.from_numpy(x[:, None]), 8, 4, np.random.default_rng(1))[:, 0]
    assert np.array_equal(shifted_masked, sch.mask(shifted_plain.numpy()))
    assert not np.array_equal(shifted_plain.numpy(), x)  # the shift did something
    # block scrambling does not commute: the fit loop must not shift it
    blk = make_scheme(
        "block", key=KeyRing.in_memory(seed=b"shift").derive("m"), block=4, bit_depth=8
    )
    moved = random_shift(torch.from_numpy(blk.mask(x)[:, None]), 8, 4, np.random.default_rng(1))
    assert not np.array_equal(moved[:, 0].numpy(), blk.mask(shifted_plain.numpy()))
