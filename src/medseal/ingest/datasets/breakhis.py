"""BreaKHis v1 breast histopathology (700x460 RGB PNG, four magnifications).

Where it sits: a data set loader of ingest.

Works on the official tree
``BreaKHis_v1/histology_slides/breast/<benign|malignant>/SOB/<type>/<slide>/<mag>X/*.png``
and on any (flat) folder of BreaKHis-named files such as the project's 12-image
sample: the label and all facts come from the file name
``SOB_<B|M>_<type>-<slide id>-<magnification>-<sequence>.png``. The slide id is used
as ``patient_id`` (BreaKHis work groups by it for patient-level splits).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from medseal.ingest.png import read_image
from medseal.ingest.records import Record

__all__ = [
    "FOLDERS",
    "LAYOUT",
    "NAME",
    "TUMOR_TYPES",
    "load",
    "magnification_series",
    "parse_name",
]

NAME = "breakhis"
FOLDERS = ("BreaKHis_v1", "breakhis", "BreaKHis", "breakhis-sample")
LAYOUT = """\
  <data dir>/BreaKHis_v1/histology_slides/breast/<benign|malignant>/SOB/<type>/<slide>/<40|100|200|400>X/*.png
  (or any folder of files named SOB_<B|M>_<type>-<slide id>-<magnification>-<seq>.png)"""
TUMOR_TYPES = {
    "A": "adenosis",
    "F": "fibroadenoma",
    "PT": "phyllodes_tumor",
    "TA": "tubular_adenoma",
    "DC": "ductal_carcinoma",
    "LC": "lobular_carcinoma",
    "MC": "mucinous_carcinoma",
    "PC": "papillary_carcinoma",
}
_NAME_RE = re.compile(
    r"^SOB_(?P<cls>[BM])_(?P<type>[A-Z]+)-(?P<slide>\d+-[0-9A-Za-z]+)-(?P<mag>\d+)-(?P<seq>\d+)\.png$",
    re.IGNORECASE,
)


def parse_name(name: str) -> dict[str, Any] | None:
    """Facts in a BreaKHis file name, or ``None`` if it does not follow the convention.

    >>> parse_name("SOB_B_F-14-25197-100-001.png")["magnification"]
    100
    """
    m = _NAME_RE.match(name)
    if m is None:
        return None
    code = m["type"].upper()
    if code not in TUMOR_TYPES:
        return None
    malignant = m["cls"].upper() == "M"
    return {
        "dataset": "breakhis",
        "class": "malignant" if malignant else "benign",
        "label": int(malignant),
        "tumor_code": code,
        "tumor_type": TUMOR_TYPES[code],
        "slide_id": m["slide"],
        "magnification": int(m["mag"]),
        "seq": int(m["seq"]),
    }


def load(root: str | Path, *, max_pixels: int | None = None) -> list[Record]:
    """List the BreaKHis images under ``root`` (recursively); others are ignored.

    Returns
    -------
    list[Record]
        Sorted by file name; ``key`` the file name, ``label`` 0 benign / 1
        malignant, ``patient_id`` the slide id, ``split`` ``None``; ``meta`` has
        ``class``, ``tumor_type``, ``tumor_code``, ``slide_id``, ``magnification``
        (40/100/200/400) and ``seq``.
    """
    root = Path(root)
    records = []
    for path in sorted(root.rglob("*.png"), key=lambda p: p.name):
        facts = parse_name(path.name)
        if facts is None:
            continue
        label = facts.pop("label")
        records.append(
            Record(
                key=path.name,
                label=label,
                patient_id=facts["slide_id"],
                split=None,
                meta=facts,
                loader=functools.partial(read_image, path, max_pixels=max_pixels),
            )
        )
    return records


def magnification_series(records: Iterable[Record]) -> dict[str, list[Record]]:
    """Group records by slide, each list sorted by magnification (40, 100, 200, 400), then seq."""
    series: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        series[str(r.meta["slide_id"])].append(r)
    return {
        slide: sorted(items, key=lambda r: (int(r.meta["magnification"]), int(r.meta["seq"])))
        for slide, items in sorted(series.items())
    }
