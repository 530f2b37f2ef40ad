"""NIH ChestX-ray14, 1,044 more images at 128 px (``shared/data/nih-chestxray14-more``).

Where it sits: a data set loader of ingest, registered as ``nih-chestxray14-more``;
the reading is :func:`medseal.ingest.datasets.nih.load_more` (pneumonia vs no
finding by default; see its SOURCE.md: 537 "No Finding", 493 with Pneumonia,
14 with other findings only, 699 patients).
"""

from __future__ import annotations

from pathlib import Path

from medseal.ingest.datasets.nih import load_more
from medseal.ingest.records import Record

__all__ = ["FOLDERS", "LAYOUT", "NAME", "load"]

NAME = "nih-chestxray14-more"
FOLDERS = ("nih-chestxray14-more",)
LAYOUT = """\
  <data dir>/nih-chestxray14-more/nih_128.npz   (images (N,128,128) uint8, filename, patient,
      follow_up, labels = NIH "Finding Labels" v2020, source, patient_in_existing_subset)"""


def load(root: str | Path, *, task: str = "pneumonia") -> list[Record]:
    """See :func:`medseal.ingest.datasets.nih.load_more`."""
    return load_more(root, task=task)
