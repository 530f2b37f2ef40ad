"""BreaKHis v1 breast histopathology (700x460 RGB PNG, four magnifications).

Where it sits: a data set loader of ingest.

Works on the official tree
``BreaKHis_v1/histology_slides/breast/<benign|malignant>/SOB/<type>/<slide>/<mag>X/*.png``
and on any (flat) folder of BreaKHis-named files such as the project's 12-image
sample: the label and all facts come from the file name
``SOB_<B|M>_<type>-<slide id>-<magnification>-<sequence>.png``. The slide id is used
as ``patient_id`` (BreaKHis work groups by it for patient-level splits).

The project's ``shared/data/breakhis`` holds ``breakhis_96.npz`` (798 real images,
centre-cropped and resized to 96x96 RGB, 46 slide ids): when a folder holds that
file, :func:`load` reads it instead of PNGs (labels, slide ids, magnifications
and file names from the npz). Slide 14-13412 is filed under both DC and LC; its
slide id makes it one patient in any grouped split.
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
    "FOLDERS", "LAYOUT", "NAME", "NPZ_FILE", "TUMOR_TYPES", "load", "magnification_series",
    "parse_name",
]  # fmt: skip

NAME = "breakhis"
FOLDERS = ("BreaKHis_v1", "breakhis", "BreaKHis", "breakhis-sample")
LAYOUT = """\
  <data dir>/BreaKHis_v1/histology_slides/breast/<benign|malignant>/SOB/<type>/<slide>/<40|100|200|400>X/*.png
  (or any folder of files named SOB_<B|M>_<type>-<slide id>-<magnification>-<seq>.png)
  or <data dir>/breakhis/breakhis_96.npz (the project's 798-image 96 px subset)"""
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


NPZ_FILE = "breakhis_96.npz"


@functools.lru_cache(maxsize=2)
def _npz_images(path: str) -> Any:
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return np.asarray(data["images"])


def _npz_item(path: str, index: int) -> Any:
    import numpy as np

    from medseal.types import Image

    return Image(np.ascontiguousarray(_npz_images(path)[index]), "RGB", 8)


def _load_npz(path: Path) -> list[Record]:
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        cols = {
            k: data[k].tolist()
            for k in ("label", "subtype", "patient", "magnification", "filename", "seq")
        }
    records = []
    for i, name in enumerate(cols["filename"]):
        facts = parse_name(str(name)) or {}
        records.append(
            Record(
                key=str(name),
                label=int(cols["label"][i]),
                patient_id=str(cols["patient"][i]),
                split=None,
                meta={
                    "dataset": "breakhis",
                    "class": "malignant" if int(cols["label"][i]) else "benign",
                    "tumor_type": str(cols["subtype"][i]),
                    "tumor_code": facts.get("tumor_code"),
                    "slide_id": str(cols["patient"][i]),
                    "magnification": int(cols["magnification"][i]),
                    "seq": int(cols["seq"][i]),
                },
                loader=functools.partial(_npz_item, str(path), i),
            )
        )
    return sorted(records, key=lambda r: r.key)


def load(root: str | Path, *, max_pixels: int | None = None) -> list[Record]:
    """List the BreaKHis images under ``root`` (recursively); others are ignored.

    A folder holding ``breakhis_96.npz`` is read from that file (96 px RGB).

    Returns
    -------
    list[Record]
        Sorted by file name; ``key`` the file name, ``label`` 0 benign / 1
        malignant, ``patient_id`` the slide id, ``split`` ``None``; ``meta`` has
        ``class``, ``tumor_type``, ``tumor_code``, ``slide_id``, ``magnification``
        (40/100/200/400) and ``seq``.
    """
    root = Path(root)
    if root.is_file() and root.suffix == ".npz":
        return _load_npz(root)
    if (root / NPZ_FILE).is_file():
        return _load_npz(root / NPZ_FILE)
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
