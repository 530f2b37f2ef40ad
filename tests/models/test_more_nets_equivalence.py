"""The three sequence networks: gradients vs torch.autograd, plaintext == MORE ciphertext."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medseal.models.backend import MoreBackend, NumpyBackend
from medseal.models.nets.cnn_baseline import CNNBaseline
from medseal.models.nets.cnn_lstm import CNNLSTM
from medseal.models.nets.conv_bilstm import ConvBiLSTM
from medseal.models.nets.sequence_layers import bce_with_logits
from medseal.privacy.more import MoreKey

NETS = [ConvBiLSTM, CNNLSTM, CNNBaseline]
BE = NumpyBackend()


def _data(seed: int = 0, b: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((b, 3, 1, 8, 8)), (rng.random(b) > 0.5).astype(float)


def _net(cls: type) -> ConvBiLSTM | CNNBaseline:
    return cls(frames=3, size=8, conv_channels=(2, 3), hidden=4)


# -- a torch re-implementation of each forward pass, for autograd ----------------------------
def _torch_conv(x: torch.Tensor, p: dict[str, torch.Tensor], n_blocks: int) -> torch.Tensor:
    b, t = x.shape[:2]
    a = x.reshape(b * t, *x.shape[2:])
    for i in range(n_blocks):
        w = p[f"conv{i}.w"]
        a = torch.nn.functional.conv2d(a, w, p[f"conv{i}.b"], padding=w.shape[2] // 2)
        a = torch.nn.functional.avg_pool2d(torch.tanh(a), 2)
    return a.reshape(b, t, -1)


def _torch_lstm(f: torch.Tensor, p: dict[str, torch.Tensor], pre: str, rev: bool) -> list:
    hid = p[f"{pre}.wh"].shape[0]
    h = torch.zeros(f.shape[0], hid, dtype=torch.float64)
    c = torch.zeros_like(h)
    outs = [None] * f.shape[1]
    for t in reversed(range(f.shape[1])) if rev else range(f.shape[1]):
        z = f[:, t] @ p[f"{pre}.wx"] + h @ p[f"{pre}.wh"] + p[f"{pre}.b"]
        i, fg, o = (torch.sigmoid(z[:, k * hid : (k + 1) * hid]) for k in range(3))
        g = torch.tanh(z[:, 3 * hid :])
        c = fg * c + i * g
        h = o * torch.tanh(c)
        outs[t] = h
    return outs


def _torch_forward(net: object, p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    feats = _torch_conv(x, p, len(net.geometry.conv_channels))  # type: ignore[attr-defined]
    b, t = feats.shape[:2]
    if isinstance(net, CNNBaseline):
        h = torch.tanh(feats.reshape(b, -1) @ p["fc1.w"] + p["fc1.b"])
        return (h @ p["fc2.w"]).reshape(b) + p["fc2.b"]
    hf = _torch_lstm(feats, p, "lstm_f", False)
    if net.bidirectional:  # type: ignore[attr-defined]
        hb = _torch_lstm(feats, p, "lstm_b", True)
        hs = torch.stack([torch.cat([hf[i], hb[i]], 1) for i in range(t)], 1)
        last = torch.cat([hf[-1], hb[0]], 1)
    else:
        hs, last = torch.stack(hf, 1), hf[-1]
    u = (hs @ p["unit.w"]).reshape(b, t) + p["unit.b"]
    a = torch.softmax(p["unit.v"], 0)
    unit = (u * a).sum(1)
    seq = (last @ p["seq.w"]).reshape(b) + p["seq.b"]
    return p["vote"][0] * unit + p["vote"][1] * seq


@pytest.mark.parametrize("cls", NETS)
def test_gradients_match_torch_autograd(cls: type) -> None:
    net = _net(cls)
    params = net.init_params(seed=3)
    x, y = _data()
    loss, grads, z = net.loss_and_grads(BE, params, x, y)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tz = _torch_forward(net, tp, torch.tensor(x))
    tloss = torch.nn.functional.binary_cross_entropy_with_logits(tz, torch.tensor(y))
    tloss.backward()
    assert np.allclose(z, tz.detach().numpy(), rtol=0, atol=1e-12)
    assert abs(float(loss) - float(tloss.detach())) < 1e-12
    assert set(grads) == set(params)
    for k, g in grads.items():
        ref = tp[k].grad.numpy()  # type: ignore[union-attr]
        assert g.shape == ref.shape, k
        np.testing.assert_allclose(g, ref, rtol=1e-9, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("cls", NETS)
def test_forward_and_backward_on_ciphertext_equal_plaintext(cls: type) -> None:
    net = _net(cls)
    params = net.init_params(seed=1)
    x, y = _data(1)
    key = MoreKey.generate(n=2, seed=5)
    mb = MoreBackend(key.public_context())
    enc = {k: key.encrypt(v) for k, v in params.items()}
    loss_c, grads_c, z_c = net.loss_and_grads(mb, enc, key.encrypt(x), key.encrypt(y))
    loss, grads, z = net.loss_and_grads(BE, params, x, y)
    assert z_c.shape == z.shape == (5,)
    assert abs(key.decrypt(loss_c) - loss) < 1e-12
    np.testing.assert_allclose(key.decrypt(z_c), z, rtol=0, atol=1e-12)
    for k in grads:
        np.testing.assert_allclose(key.decrypt(grads_c[k]), grads[k], rtol=0, atol=1e-12, err_msg=k)
    # The server never held a plaintext: everything it computed is a ciphertext.
    assert all(mb.is_tensor(g) for g in grads_c.values())


def test_parameter_counts_and_shape_errors() -> None:
    counts = {cls.name: cls.n_params(_net(cls).init_params(0)) for cls in NETS}
    assert counts["conv-bilstm"] > counts["cnn-lstm"]  # a second LSTM direction
    assert counts["cnn-lstm"] > 0 and counts["cnn"] > 0
    net = _net(ConvBiLSTM)
    with pytest.raises(ValueError, match="input shape"):
        net.predict(BE, net.init_params(0), np.zeros((2, 4, 1, 8, 8)))
    with pytest.raises(ValueError):
        ConvBiLSTM(frames=3, size=10, conv_channels=(2, 2))


def test_bce_matches_torch() -> None:
    z = np.array([-30.0, -1.0, 0.0, 2.0, 40.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    loss, grad = bce_with_logits(BE, z, y)
    tz = torch.tensor(z, requires_grad=True)
    tl = torch.nn.functional.binary_cross_entropy_with_logits(tz, torch.tensor(y))
    tl.backward()
    assert abs(loss - float(tl.detach())) < 1e-14
    np.testing.assert_allclose(grad, tz.grad.numpy(), atol=1e-15)  # type: ignore[union-attr]
