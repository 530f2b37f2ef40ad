"""What a de-identification did: the before/after diff and the method recorded in the header.

Where it sits: the reporting half of :mod:`medseal.ingest.deid`.
:func:`snapshot` fingerprints every element of a header (values hashed or
stringified, never kept outside the process) before and after the de-identifier
runs; :func:`changes` turns the two into the keywords of removed and changed
attributes for :class:`~medseal.types.DeidReport`. :func:`record_method` writes
``PatientIdentityRemoved``, ``LongitudinalTemporalInformationModified``,
``DeidentificationMethod`` and ``DeidentificationMethodCodeSequence``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from medseal.ingest import _e11_table as e11
from medseal.ingest._deid_profile import DeidOption
from medseal.ingest._deid_values import value_list

__all__ = ["Snapshot", "changes", "record_method", "snapshot"]

#: (0 for file meta, 1 for the dataset; tag) -> fingerprint of the element's value
Snapshot = dict[tuple[int, int], Any]


def _fingerprint(value: Any) -> Any:
    if isinstance(value, Sequence):
        return tuple(tuple((e.tag, _fingerprint(e.value)) for e in item) for item in value)
    if isinstance(value, MultiValue | list):
        return tuple(str(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return hashlib.sha256(value).digest()
    return str(value)


def snapshot(ds: Dataset) -> Snapshot:
    """A fingerprint of every element of ``ds`` and of its file meta."""
    snap: Snapshot = {}
    meta = getattr(ds, "file_meta", None)
    for group, part in ((0, meta), (1, ds)):
        if part is None:
            continue
        for elem in part:
            snap[(group, int(elem.tag))] = _fingerprint(elem.value)
    return snap


def _tag_name(tag: int) -> str:
    kw = pydicom.datadict.keyword_for_tag(tag) if not (tag >> 16) & 1 else ""
    return kw or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def changes(before: Snapshot, after: Snapshot) -> tuple[list[str], list[str]]:
    """(removed, changed): sorted keywords (``(gggg,eeee)`` for private/unknown tags)."""
    removed = sorted({_tag_name(t) for g, t in before if (g, t) not in after})
    changed = sorted(
        {_tag_name(t) for (g, t), fp in after.items() if before.get((g, t), None) != fp}
    )
    return removed, changed


def record_method(
    ds: Dataset,
    burned: str,
    options: frozenset[DeidOption],
    method_codes: Iterable[tuple[str, str]],
) -> None:
    """Record in ``ds`` that it was de-identified, how, and with which options (CID 7050)."""
    ds.PatientIdentityRemoved = "NO" if burned == "YES" else "YES"
    if DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES in options:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    elif DeidOption.RETAIN_LONGITUDINAL_FULL_DATES in options:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"
    text = f"MEDSEAL PS3.15 E.1-1 {e11.EDITION}"
    values = [str(v) for v in value_list(ds.get("DeidentificationMethod"))]
    values = [v for v in values if v != "DICOGNITO" and not v.startswith("MEDSEAL ")]
    values.append(text)
    ds.DeidentificationMethod = values if len(values) > 1 else values[0]
    seq = ds.get("DeidentificationMethodCodeSequence")
    items = list(seq) if seq else []
    present = {
        (str(i.get("CodeValue", "")), str(i.get("CodingSchemeDesignator", ""))) for i in items
    }
    for value, meaning in method_codes:
        if (value, "DCM") in present:
            continue
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
