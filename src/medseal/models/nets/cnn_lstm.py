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

    Called as :class:`~medseal.models.nets.conv_bilstm.ConvBiLSTM` is (see its
    example), with no backward LSTM among its parameters:

    >>> "lstm_b.wx" in CNNLSTM(frames=2, size=8, conv_channels=(2,), hidden=3).init_params(seed=1)
    False
    """

    name = "cnn-lstm"
    bidirectional = False
