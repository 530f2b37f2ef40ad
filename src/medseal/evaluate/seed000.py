"""Seed 000, measured: the masking study under its seed-number name.

``medseal evaluate seed000`` and this module's names are aliases of
:mod:`medseal.evaluate.studies.masking` (:class:`Seed000Config` is
:class:`~medseal.evaluate.studies.masking.MaskingStudyConfig`,
:func:`run_seed000` is :func:`~medseal.evaluate.studies.masking.run_masked_study`);
:func:`save_json` is the one writer's :func:`~medseal.evaluate.report.write_json`
(a result without its arrays).
"""

from __future__ import annotations

from medseal.evaluate.report import write_json
from medseal.evaluate.studies.masking import (
    SEED_CLAIMS,
    MaskingStudyConfig,
    run_masked_study,
)

__all__ = ["SEED_CLAIMS", "Seed000Config", "run_seed000", "save_json"]

Seed000Config = MaskingStudyConfig
run_seed000 = run_masked_study
save_json = write_json
