"""MORE conv2d, its gradients and pooling against PyTorch (float64) on plaintext."""

from __future__ import annotations

import numpy as np
import pytest

from medseal.errors import InputError
from medseal.privacy.more import (
    MoreKey,
    MoreShapeError,
    avg_pool2d,
    conv2d,
    conv2d_input_grad,
    conv2d_weight_grad,
)

torch = pytest.importorskip("torch", reason="torch is the independent conv reference")
F = torch.nn.functional

RTOL = 1e-9
KEY = MoreKey.generate(n=2, seed=300)


def close(a, b, rtol=RTOL):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = np.abs(a - b) / np.maximum(np.abs(b), 1.0)
    assert np.all(err <= rtol), float(np.max(err))


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (1, 1), (2, 1), ((2, 1), (0, 2))])
@pytest.mark.parametrize("mode", ["cc", "cp", "pc"])
def test_conv2d_matches_torch(stride, padding, mode):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 7, 6))
    w = rng.normal(size=(4, 3, 3, 2))
    b = rng.normal(size=4)
    cx = KEY.encrypt(x) if mode[0] == "c" else x
    cw = KEY.encrypt(w) if mode[1] == "c" else w
    out = conv2d(cx, cw, KEY.encrypt(b), stride=stride, padding=padding)
    ref = F.conv2d(
        torch.from_numpy(x),
        torch.from_numpy(w),
        torch.from_numpy(b),
        stride=stride,
        padding=padding,
    ).numpy()
    close(KEY.decrypt(out), ref)
    out_plain_bias = conv2d(cx, cw, b, stride=stride, padding=padding)
    close(KEY.decrypt(out_plain_bias), ref)


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (1, 1), (2, 1)])
def test_conv2d_gradients_match_torch_autograd(stride, padding):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 2, 6, 5))
    w = rng.normal(size=(3, 2, 3, 3))
    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.from_numpy(w).requires_grad_()
    out = F.conv2d(tx, tw, stride=stride, padding=padding)
    g = rng.normal(size=tuple(out.shape))
    out.backward(torch.from_numpy(g))
    cx, cw, cg = KEY.encrypt(x), KEY.encrypt(w), KEY.encrypt(g)
    dw = conv2d_weight_grad(cx, cg, (3, 3), stride=stride, padding=padding)
    dx = conv2d_input_grad(cg, cw, x.shape, stride=stride, padding=padding)
    close(KEY.decrypt(dw), tw.grad.numpy())
    close(KEY.decrypt(dx), tx.grad.numpy())
    # plaintext weights (server-initialised) work too
    close(
        KEY.decrypt(conv2d_input_grad(cg, w, x.shape, stride=stride, padding=padding)),
        tx.grad.numpy(),
    )


def test_avg_pool_and_conv_errors():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 2, 4, 6))
    c = KEY.encrypt(x)
    ref = F.avg_pool2d(torch.from_numpy(x), 2).numpy()
    close(KEY.decrypt(avg_pool2d(c, 2)), ref)
    with pytest.raises(MoreShapeError, match=r"\(1, 2, 4, 6\)"):
        avg_pool2d(c, 4)
    with pytest.raises(MoreShapeError, match=r"\(1, 2, 4, 6\).*\(3, 5, 3, 3\)"):
        conv2d(c, rng.normal(size=(3, 5, 3, 3)))
    with pytest.raises(MoreShapeError):
        conv2d(c, rng.normal(size=(3, 2, 9, 9)))
    with pytest.raises(InputError, match="different MORE contexts"):
        conv2d(c, MoreKey.generate(seed=1).encrypt(np.ones((1, 2, 1, 1))))
