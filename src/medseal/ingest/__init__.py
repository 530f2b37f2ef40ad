"""Ingest: the first stage of the flow (files -> de-identified :class:`~medseal.types.Image`).

Reads DICOM (pydicom + pylibjpeg), PNG/JPEG/TIFF (Pillow) and MedMNIST ``.npz``,
de-identifies DICOM headers (:class:`Deidentifier`, PS3.15 Table E.1-1 with
named retain options) and lists public data sets as lazily loaded :class:`Record` s
(:mod:`medseal.ingest.datasets`). The next stage is :mod:`medseal.codec`.

This layer imports only numpy, pydicom, dicognito, Pillow and
``medseal.errors``/``types``/``config``.
"""

from __future__ import annotations

from medseal.ingest.deid import Deidentifier
from medseal.ingest.dicom import read_dicom, to_display
from medseal.ingest.discover import discover, load_path
from medseal.ingest.grey import image_to_grey_uint8, to_grey_uint8
from medseal.ingest.npz import read_npz
from medseal.ingest.png import read_image
from medseal.ingest.records import Record

__all__ = [
    "Deidentifier",
    "Record",
    "discover",
    "image_to_grey_uint8",
    "load_path",
    "read_dicom",
    "read_image",
    "read_npz",
    "to_display",
    "to_grey_uint8",
]
