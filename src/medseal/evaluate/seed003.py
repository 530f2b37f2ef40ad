"""Seed 003, measured: the sequence study under its seed-number name.

``medseal evaluate seed003`` and this module's names are aliases of
:mod:`medseal.evaluate.studies.sequences` (:class:`Seed003Config` is
:class:`~medseal.evaluate.studies.sequences.SequenceStudyConfig`,
:func:`run_seed003` is :func:`~medseal.evaluate.studies.sequences.run_sequence_study`).
"""

from __future__ import annotations

from medseal.evaluate.studies.sequences import (
    SequenceStudyConfig,
    run_sequence_study,
    write_outputs,
)

__all__ = ["Seed003Config", "run_seed003", "write_outputs"]

Seed003Config = SequenceStudyConfig
run_seed003 = run_sequence_study
