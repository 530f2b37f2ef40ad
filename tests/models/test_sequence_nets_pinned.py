"""The seed 003 sequence networks compute what they computed when these values were taken.

Logits, loss and the total size of the gradients for fixed seeds, on plaintext:
a change in initialisation order, parameter layout or a layer's arithmetic
moves them far beyond the tolerance (which only absorbs BLAS rounding).
"""

from __future__ import annotations

import numpy as np
import pytest

from medseal.models.backend import NumpyBackend
from medseal.models.nets.cnn_baseline import CNNBaseline
from medseal.models.nets.cnn_lstm import CNNLSTM
from medseal.models.nets.conv_bilstm import ConvBiLSTM
from medseal.models.nets.sequence_net import SequenceNet

PINNED = {
    CNNBaseline: (
        [-0.11426639046286471, -0.14367809919308716, -0.08966647283301263],
        0.7147315758000464,
        2.940192495884565,
        ["fc2.w", "fc2.b", "fc1.w", "fc1.b", "conv1.w", "conv1.b", "conv0.w", "conv0.b"],
    ),
    CNNLSTM: (
        [0.0061942284235174914, -0.006458716263330069, -0.00918054041991731],
        0.6967929433016607,
        1.2336860168433,
        ["vote", "seq.w", "seq.b", "unit.v", "unit.w", "unit.b", "lstm_f.wx", "lstm_f.wh",
         "lstm_f.b", "conv1.w", "conv1.b", "conv0.w", "conv0.b"],
    ),
    ConvBiLSTM: (
        [0.017514611300299673, 0.026119622837860366, 0.012280820295149403],
        0.6897136998624968,
        0.9740499796694378,
        ["vote", "seq.w", "seq.b", "unit.v", "unit.w", "unit.b", "lstm_f.wx", "lstm_f.wh",
         "lstm_f.b", "lstm_b.wx", "lstm_b.wh", "lstm_b.b", "conv1.w", "conv1.b", "conv0.w",
         "conv0.b"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("cls", list(PINNED), ids=lambda c: c.__name__)
def test_a_sequence_net_gives_its_pinned_logits_loss_and_gradients_for_fixed_seeds(
    cls: type[SequenceNet],
) -> None:
    logits, loss_value, grad_l1, grad_names = PINNED[cls]
    x = np.random.default_rng(7).random((3, 2, 1, 8, 8))
    y = np.array([0.0, 1.0, 1.0])
    net = cls(frames=2, size=8, conv_channels=(2, 3), hidden=3)
    loss, grads, z = net.loss_and_grads(NumpyBackend(), net.init_params(seed=5), x, y)
    np.testing.assert_allclose(z, logits, rtol=1e-9, atol=1e-12)
    assert float(loss) == pytest.approx(loss_value, rel=1e-9)
    assert list(grads) == grad_names
    assert sum(float(np.abs(g).sum()) for g in grads.values()) == pytest.approx(grad_l1, rel=1e-9)
