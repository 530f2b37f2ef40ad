"""``Record``: one item of a data set, with its image loaded only when asked for.

Where it sits: every ingest entry point that can yield many images
(:func:`medseal.ingest.load_path`, :func:`medseal.ingest.read_npz`, the loaders in
:mod:`medseal.ingest.datasets`) returns records, so a 112k-image data set can be
listed, filtered and split without decoding a single pixel. The vault calls
:meth:`Record.image` when it stores the item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from medseal.types import Image

__all__ = ["Record"]


@dataclass(frozen=True, eq=False)
class Record:
    """One item of a data set.

    Parameters
    ----------
    key
        A name unique within the data set (a relative path, or ``"split/00042"``).
    label
        The binary/first class label, or ``None`` when the source has none.
    patient_id
        The data set's own (already pseudonymous) patient or slide identifier used
        to group items for patient-disjoint splits; hidden from ``repr``.
    split
        The source's split name (``train``/``val``/``test``...), or ``None``.
    meta
        PHI-free facts about the item (view, magnification, source file ...).
    loader
        Called by :meth:`image`; reads and decodes the pixels.

    Examples
    --------
    >>> import numpy as np
    >>> r = Record("a", 1, None, "train", {}, lambda: Image(np.zeros((2, 2), np.uint8)))
    >>> r.image().shape
    (2, 2)
    """

    key: str
    label: int | None
    patient_id: str | None = field(repr=False)
    split: str | None
    meta: Mapping[str, Any]
    loader: Callable[[], Image] = field(repr=False)

    def image(self) -> Image:
        """Read and decode the item (each call reads it again; nothing is cached)."""
        return self.loader()
