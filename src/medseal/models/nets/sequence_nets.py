"""The three sequence networks of seed 003 by name: Conv Bi-LSTM, CNN, CNN-LSTM.

Where it sits: models stage. One place that maps a network's name (the CLI
spelling) to its class, for the evaluation, the training command and the
benchmarks.
"""

from __future__ import annotations

from enum import StrEnum

from medseal.errors import InputError
from medseal.models.nets.cnn_baseline import CNNBaseline
from medseal.models.nets.cnn_lstm import CNNLSTM
from medseal.models.nets.conv_bilstm import ConvBiLSTM
from medseal.models.nets.sequence_net import SequenceNet

__all__ = ["SEQUENCE_NETS", "SequenceNetName", "build_sequence_net"]


class SequenceNetName(StrEnum):
    """A sequence network, spelled as on the command line."""

    CONV_BILSTM = "conv-bilstm"
    CNN = "cnn"
    CNN_LSTM = "cnn-lstm"


SEQUENCE_NETS: dict[SequenceNetName, type[SequenceNet]] = {
    SequenceNetName.CONV_BILSTM: ConvBiLSTM,
    SequenceNetName.CNN: CNNBaseline,
    SequenceNetName.CNN_LSTM: CNNLSTM,
}


def build_sequence_net(
    name: SequenceNetName | str,
    *,
    frames: int,
    size: int,
    conv_channels: tuple[int, ...] = (4, 8),
    hidden: int = 8,
    in_channels: int = 1,
) -> SequenceNet:
    """One of :data:`SEQUENCE_NETS` by name."""
    try:
        cls = SEQUENCE_NETS[SequenceNetName(name)]
    except ValueError:
        known = ", ".join(SequenceNetName)
        raise InputError(f"unknown network {name!r}; known: {known}") from None
    return cls(frames=frames, size=size, conv_channels=conv_channels,
               hidden=hidden, in_channels=in_channels)  # fmt: skip
