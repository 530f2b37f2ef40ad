"""Evaluation studies: one per privacy mode, built from the same steps.

Where it sits: evaluate stage, on top of ``models`` and ``privacy``. A study
loads its data and splits (:mod:`medseal.models.dataset_splits`), trains its
models (:mod:`medseal.evaluate.studies.training`), measures leakage and
attacks, costs (:mod:`medseal.evaluate.studies.costs`) and judges its goals
and claims (:mod:`medseal.evaluate.verdict`).

- :mod:`medseal.evaluate.studies.masking`: Masked-CNN on keyed block-wise
  masked images vs plaintext vs AES ciphertext (``medseal evaluate seed000``).
"""

from __future__ import annotations

__all__: list[str] = []
