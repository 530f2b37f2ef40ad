"""Element values during de-identification: reading and writing them, dates, free text.

Where it sits: the value half of :mod:`medseal.ingest.deid`. Helpers that read an
element's value(s) and write a list back (:func:`value_list`, :func:`set_values`,
:func:`str_value`), move a DA/DT value by whole days (:func:`shift_date`), collect
the patient's names and ids from a header (:func:`identifiers`) and replace them
wherever they occur in text (:class:`Context`, one per header). They hold no
secret: the keyed values come from :class:`~medseal.ingest.deid.Deidentifier`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

__all__ = [
    "MAX_LEN",
    "PATIENT_ID",
    "PATIENT_NAME",
    "STRING_VRS",
    "TEXT_VRS",
    "Context",
    "identifiers",
    "set_values",
    "shift_date",
    "str_value",
    "value_list",
]

TEXT_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
STRING_VRS = TEXT_VRS | {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"}
#: the longest value of a VR that a keyed dummy value is cut to
MAX_LEN = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "UC": 64}
PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
_IDENTIFYING_KEYWORDS = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientBirthDate",
    "AccessionNumber",
    "MedicalRecordLocator",
)


def str_value(ds: Dataset, keyword: str) -> str:
    """``ds``'s ``keyword`` as stripped text ('' when absent)."""
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def value_list(value: Any) -> list[Any]:
    """An element value as a list (empty for ``None`` and '')."""
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def set_values(elem: DataElement, new: list[Any]) -> None:
    """Write ``new`` into ``elem``: one value, several, or the VR's empty value."""
    elem.value = new if len(new) > 1 else (new[0] if new else elem.empty_value)


def shift_date(value: str, days: int) -> str:
    """A DA/DT value moved by whole days, same precision; '' when it cannot be parsed."""
    text = value.strip().replace(".", "") if len(value.strip()) == 10 else value.strip()
    digits = len(text) - len(text.lstrip("0123456789"))
    head = text[: min(digits, 8)]
    if len(head) not in (4, 6, 8):
        return ""
    try:
        date = datetime.date(int(head[:4]), int(head[4:6] or 1), int(head[6:8] or 1))
        date += datetime.timedelta(days=days)
    except (ValueError, OverflowError):
        return ""
    return date.strftime("%Y%m%d")[: len(head)] + text[len(head) :]


def identifiers(ds: Dataset) -> list[str]:
    """The patient's names, name parts and ids found in ``ds`` (top level)."""
    found: set[str] = set()
    for kw in _IDENTIFYING_KEYWORDS:
        elem = ds.get(kw)
        for value in value_list(elem):
            text = str(value).strip()
            if not text:
                continue
            found.add(text)
            if kw.endswith("Name") or kw.endswith("Names"):
                parts = re.split(r"[\^=,\s]+", text)
                found.update(p for p in parts if len(p) >= 2)
                if len(parts) >= 2:
                    found.add(" ".join(p for p in parts if p))
    for item in ds.get("OtherPatientIDsSequence") or ():
        pid = str(item.get("PatientID", "") or "").strip()
        if pid:
            found.add(pid)
    return sorted((s for s in found if len(s) >= 2), key=len, reverse=True)


class Context:
    """Per-header state of one de-identification: date shift and the identifiers to scrub."""

    def __init__(self, days: int, identifiers: list[str], exact: dict[str, str]) -> None:
        self.days = days
        self.exact = {k: v for k, v in exact.items() if k}
        self._pattern: re.Pattern[str] | None = None
        if identifiers:
            alternatives = "|".join(re.escape(s) for s in identifiers)
            self._pattern = re.compile(
                rf"(?<![0-9A-Za-z])(?:{alternatives})(?![0-9A-Za-z])", re.IGNORECASE
            )
        self.scrub: Callable[[str], str] = self._scrub

    def scrub_leftovers(self, ds: Dataset) -> None:
        """Replace the patient's names and ids wherever they survive in kept text."""

        def visit(_dataset: Dataset, elem: DataElement) -> None:
            if elem.VR not in TEXT_VRS or int(elem.tag) in (PATIENT_ID, PATIENT_NAME):
                return
            values = [str(v) for v in value_list(elem.value)]
            cleaned = [self.scrub(v) for v in values]
            if cleaned != values:
                set_values(elem, cleaned)

        ds.walk(visit)

    def _scrub(self, text: str) -> str:
        stripped = text.strip()
        if stripped in self.exact:
            return self.exact[stripped]
        if self._pattern is None:
            return text
        return self._pattern.sub("*", text)
