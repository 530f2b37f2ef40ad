"""The masking study: Masked-CNN on keyed masked images vs plaintext vs AES ciphertext.

Steps, one module each: :mod:`.config` (settings and options),
:mod:`.prepare` (keys, masked inputs and networks per seed), training
(:mod:`medseal.evaluate.studies.training`), :mod:`.attacks` (leakage and
attacks), :mod:`.claims` (goals and seed 000's claims) and :mod:`.run`
(the whole study). ``medseal evaluate seed000`` runs it; docs/seed000.md
records its figures.
"""

from __future__ import annotations

from medseal.evaluate.studies.masking.config import (
    SEED_CLAIMS,
    MaskedAugment,
    MaskingStudyConfig,
)
from medseal.evaluate.studies.masking.run import run_masked_study

__all__ = ["SEED_CLAIMS", "MaskedAugment", "MaskingStudyConfig", "run_masked_study"]
