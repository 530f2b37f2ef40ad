"""CNN-LSTM baseline of seed paper 003: the Conv Bi-LSTM with a unidirectional LSTM.

Where it sits: models stage. Same convolutional blocks and the same weighted
unit and sequence voting layer as :class:`~medseal.models.nets.conv_bilstm.ConvBiLSTM`
(the seed swaps only the Bi-LSTM for a "regular" LSTM); the sequence vote reads
the last forward state. Runs on plaintext and on MORE ciphertexts through
:mod:`medseal.models.backend`.
"""

from __future__ import annotations

from medseal.models.nets.conv_bilstm import ConvBiLSTM

__all__ = ["CNNLSTM"]


class CNNLSTM(ConvBiLSTM):
    """Conv blocks per frame, one forward LSTM, weighted unit and sequence voting layer.

    Examples
    --------
    >>> import numpy as np
    >>> from medseal.models.backend import NumpyBackend
    >>> net = CNNLSTM(frames=2, size=8, conv_channels=(2,), hidden=3)
    >>> p = net.init_params(seed=1)
    >>> "lstm_b.wx" in p, net.predict(NumpyBackend(), p, np.zeros((4, 2, 1, 8, 8))).shape
    (False, (4,))
    """

    name = "cnn-lstm"
    bidirectional = False
