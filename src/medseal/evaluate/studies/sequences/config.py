"""Settings of the sequence study (Conv Bi-LSTM vs CNN vs CNN-LSTM, plaintext and MORE).

Where it sits: evaluate stage, the first step of
:mod:`medseal.evaluate.studies.sequences`. :class:`SequenceStudyConfig` holds
every setting of a run; :meth:`SequenceStudyConfig.for_dataset` gives each
data set's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medseal.errors import InputError
from medseal.models.more_train import MoreTrainConfig
from medseal.models.nets.sequence_nets import SequenceNetName
from medseal.models.sequences import SequenceDataset

__all__ = ["ALL_NETS", "SequenceStudyConfig"]

ALL_NETS = (SequenceNetName.CONV_BILSTM, SequenceNetName.CNN, SequenceNetName.CNN_LSTM)


@dataclass(frozen=True)
class SequenceStudyConfig:
    """Settings of one sequence study run (``evaluate seed003``; all recorded in the result).

    ``dataset`` and ``nets`` take the CLI spellings as well (``"breakhis"``,
    ``"conv-bilstm"``); they are stored as :class:`SequenceDataset` and
    :class:`SequenceNetName`. :meth:`for_dataset` gives each data set's defaults.
    """

    dataset: SequenceDataset = SequenceDataset.NIH
    data_dir: str | None = None
    size: int = 16
    length: int = 3
    max_windows: int | None = 8
    folds: int = 4
    nets: tuple[SequenceNetName, ...] = ALL_NETS
    conv_channels: tuple[int, ...] = (4, 8)
    hidden: int = 8
    lr: float = 1e-3
    batch_size: int = 32
    max_epochs: int = 100
    patience: int = 10
    min_delta: float = 1e-3
    encrypted: bool = True
    encrypted_folds: int | None = None
    seed: int = 0
    val_fraction: float = 0.2
    seeds: tuple[int, ...] = ()
    more_seeds: int = 1
    colour: bool = False
    frame_sizes: tuple[int, ...] = ()
    bootstrap: int = 2000

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", SequenceDataset.parse(self.dataset))
        try:
            object.__setattr__(self, "nets", tuple(SequenceNetName(n) for n in self.nets))
        except ValueError:
            known = ", ".join(SequenceNetName)
            raise InputError(f"unknown network in {self.nets}; known: {known}") from None

    @classmethod
    def for_dataset(cls, dataset: SequenceDataset | str, **overrides: Any) -> SequenceStudyConfig:
        """The defaults of ``dataset``, then ``overrides`` (``None`` values are ignored).

        BreaKHis (per-patient histopathology): RGB frames, epoch cap 60, seeds
        0, 1, 2 (MORE on every fold of seed 0), frame sizes 16/32/48 timed; every other
        set: grey, cap 100, one seed.
        """
        ds = SequenceDataset.parse(dataset)
        defaults: dict[str, Any] = {"max_epochs": 100}
        if ds is SequenceDataset.BREAKHIS:
            defaults = {
                "max_epochs": 60,
                "seeds": (0, 1, 2),
                "colour": True,
                "frame_sizes": (16, 32, 48),
            }
        defaults.update({k: v for k, v in overrides.items() if v is not None})
        return cls(dataset=ds, **defaults)

    @property
    def run_seeds(self) -> tuple[int, ...]:
        """The seeds of the repeated CV (``seeds``, or just ``seed``)."""
        return self.seeds or (self.seed,)

    def train_config(self, fold: int, seed: int | None = None) -> MoreTrainConfig:
        """The training settings of fold ``fold`` of the CV with seed ``seed``."""
        return MoreTrainConfig(
            lr=self.lr,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            min_delta=self.min_delta,
            seed=(self.seed if seed is None else seed) + fold,
        )
