"""The sequence study: Conv Bi-LSTM vs CNN vs CNN-LSTM on patient sequences, plaintext vs MORE.

Steps, one module each: :mod:`.config` (settings), :mod:`.cv` (the repeated,
patient-grouped cross-validation that trains every network plaintext and on
MORE ciphertexts), :mod:`.attacks` (MORE attacks on what the server held),
:mod:`.costs` (one training step plain vs MORE per frame size),
:mod:`.claims` (goals), :mod:`.report` (the study's report sections) and
:mod:`.run` (the whole study). ``medseal evaluate seed003`` runs it;
docs/seed003.md records its figures.
"""

from __future__ import annotations

from medseal.evaluate.studies.sequences.config import SequenceStudyConfig
from medseal.evaluate.studies.sequences.run import run_sequence_study, write_outputs

__all__ = ["SequenceStudyConfig", "run_sequence_study", "write_outputs"]
