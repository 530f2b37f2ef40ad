"""The de-identification policy: which PS3.15 action applies to which tag.

Where it sits: the tables half of :mod:`medseal.ingest.deid`. This module holds
the E.3 options (:class:`DeidOption`, with their CID 7050 codes), the default
option set, :func:`profile_action` (an attribute's Table E.1-1 action under the
selected options, from :mod:`medseal.ingest._e11_table`), :func:`default_action`
(``X`` or ``K`` for what the table does not list) and the small tag sets the
de-identifier consults (file meta kept, Type 2 sequences, combined actions).
:class:`~medseal.ingest.deid.Deidentifier` applies them; nothing here touches a
dataset.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydicom.datadict import dictionary_has_tag, dictionary_is_retired, repeater_has_tag
from pydicom.sr.codedict import codes

from medseal.ingest import _e11_table as e11

__all__ = [
    "BASIC_CODE",
    "COMBINED",
    "DATE_OPTIONS",
    "DEFAULT_OPTIONS",
    "META_KEEP",
    "TYPE2_SEQUENCES",
    "DeidOption",
    "default_action",
    "profile_action",
]


class DeidOption(StrEnum):
    """The PS3.15 E.3 options this de-identifier implements (CID 7050 codes in ``code``)."""

    RETAIN_LONGITUDINAL_MODIFIED_DATES = "retain-longitudinal-modified-dates"
    RETAIN_LONGITUDINAL_FULL_DATES = "retain-longitudinal-full-dates"
    RETAIN_PATIENT_CHARACTERISTICS = "retain-patient-characteristics"
    RETAIN_DEVICE_IDENTITY = "retain-device-identity"
    RETAIN_INSTITUTION_IDENTITY = "retain-institution-identity"
    RETAIN_UIDS = "retain-uids"
    CLEAN_DESCRIPTORS = "clean-descriptors"

    @property
    def code(self) -> tuple[str, str]:
        """(code value, code meaning) of this option in DICOM PS3.16 CID 7050."""
        concept = getattr(codes.DCM, _CODE_KEYWORDS[self])
        return str(concept.value), str(concept.meaning)


_CODE_KEYWORDS = {
    DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES: (
        "RetainLongitudinalTemporalInformationModifiedDatesOption"
    ),
    DeidOption.RETAIN_LONGITUDINAL_FULL_DATES: "RetainLongitudinalTemporalInformationFullDatesOption",
    DeidOption.RETAIN_PATIENT_CHARACTERISTICS: "RetainPatientCharacteristicsOption",
    DeidOption.RETAIN_DEVICE_IDENTITY: "RetainDeviceIdentityOption",
    DeidOption.RETAIN_INSTITUTION_IDENTITY: "RetainInstitutionIdentityOption",
    DeidOption.RETAIN_UIDS: "RetainUidsOption",
    DeidOption.CLEAN_DESCRIPTORS: "CleanDescriptorsOption",
}
#: (code value, meaning) of the Basic Application Confidentiality Profile in CID 7050
BASIC_CODE = (
    str(codes.DCM.BasicApplicationConfidentialityProfile.value),
    str(codes.DCM.BasicApplicationConfidentialityProfile.meaning),
)

#: What the vault has always done: dates shifted per patient, age/sex/size/weight kept.
DEFAULT_OPTIONS: frozenset[DeidOption] = frozenset(
    {DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES, DeidOption.RETAIN_PATIENT_CHARACTERISTICS}
)

#: file meta (group 0002) elements kept; the others (AE titles, addresses, private
#: information) are removed. MediaStorageSOPInstanceUID is remapped like SOPInstanceUID.
META_KEEP = frozenset({0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013})
#: X/Z sequences that are Type 2 where they occur (Acquisition Context Module): emptied;
#: the other X/Z sequences are Type 3 and removed (an empty one breaks their 1-n items).
TYPE2_SEQUENCES = frozenset({0x00400555})
DATE_OPTIONS = frozenset(
    {DeidOption.RETAIN_LONGITUDINAL_FULL_DATES, DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES}
)
#: combined Table E.1-1 actions -> the single action applied
COMBINED = {"X/Z": "Z", "X/D": "X", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "U"}


def profile_action(tag: int, options: Iterable[DeidOption] = ()) -> str | None:
    """The Table E.1-1 action for ``tag`` under ``options`` (``None``: not in the table).

    A selected option's column replaces the Basic Profile action; where two selected
    options disagree, ``C`` (clean) wins over ``K`` (keep).

    Examples
    --------
    >>> profile_action(0x00100030)  # Patient's Birth Date
    'Z'
    >>> profile_action(0x00100010 + 0x1000, [DeidOption.RETAIN_PATIENT_CHARACTERISTICS])
    'K'
    """
    row = e11.ROWS.get(tag)
    if row is None:
        for value, mask, _name, basic, opts in e11.MASKED_ROWS:
            if tag & mask == value:
                row = (_name, basic, opts)
                break
        else:
            return None
    _, basic, opts = row
    chosen = {opts[str(o)] for o in options if str(o) in opts}
    if chosen:
        return "C" if "C" in chosen else "K"
    return basic


def default_action(tag: int, vr: str) -> str:
    """The action for an element the table does not list: ``X`` or ``K``."""
    group, element = tag >> 16, tag & 0xFFFF
    if group & 1 or element == 0 or group in (0x0000, 0x0002):
        return "X"  # private, group length, command group, file meta (handled apart)
    if group & 0xFF00 in (0x5000, 0x6000) or vr == "UN":
        return "X"  # curves, overlays, values nobody can interpret
    known = dictionary_has_tag(tag) or repeater_has_tag(tag)
    if not known or dictionary_is_retired(tag):
        return "X"
    return "K"
