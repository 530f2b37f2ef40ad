"""De-identification of DICOM headers driven by DICOM PS3.15 Table E.1-1.

Where it sits: :func:`medseal.ingest.read_dicom` calls :meth:`Deidentifier.deidentify`
on every header before the image goes on to the codec and the vault. The vault
owns the secret (derived from its key ring), so the same study ingested twice,
or in two sessions, gets the same pseudonyms, UIDs and date shift; the map from
original identifiers to pseudonyms is handed to the vault, which stores it sealed.

What is applied (see ``docs/deid.md``):

- Every attribute of the whole Table E.1-1 (:mod:`medseal.ingest._e11_table`,
  generated from a machine-readable copy of the standard) gets its Basic Profile
  action, replaced by the action of each selected :class:`DeidOption` column:
  ``X`` remove, ``Z`` empty (kept present: Type 2 attributes stay valid), ``D``
  dummy value (a keyed token, the same for the same original value), ``U`` keyed
  UID remapping, ``K`` keep, ``C`` clean (dates shifted, free text cleaned of the
  patient's names and ids). Combined actions: ``X/Z`` -> Z, ``X/D`` -> X,
  ``Z/D``/``X/Z/D`` -> D (never empties a Type 1 attribute), ``X/Z/U*`` -> the
  UIDs inside are remapped.
- Everything the table does not keep and the standard does not define is removed:
  private attributes, group lengths, overlay/curve groups (50xx, 60xx), elements
  whose VR is UN, public tags unknown to pydicom's data dictionary and retired
  attributes, at every depth of every sequence.
- The patient's names and ids left in any kept text are replaced.
- ``PatientIdentityRemoved``, ``LongitudinalTemporalInformationModified``,
  ``DeidentificationMethod`` and ``DeidentificationMethodCodeSequence`` (CID 7050:
  113100 and one code per option) record what was done.

Keys: the date offset is whole days (62-729 back), one per patient, from
``HMAC-SHA256(secret, "patient" || PatientID)`` (intervals between a patient's
studies are kept; patients are not aligned with each other); new UIDs are
``2.<10**39 + md5(hex(HMAC(secret, "uid")) || uid)>`` (dicognito's Randomizer, so one
original UID maps to one new UID everywhere in a vault); dummy values are
base32 of ``HMAC(secret, label || value)``.

No original value reaches a log or stderr: pydicom's warnings and log records are
dropped while a header is de-identified (:func:`quiet_pydicom`).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

import pydicom
from dicognito.randomizer import Randomizer
from pydicom.datadict import dictionary_has_tag, dictionary_is_retired, repeater_has_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes

from medseal.errors import InputError, InvalidDicomError
from medseal.ingest import _e11_table as e11
from medseal.ingest._quiet import quiet_pydicom
from medseal.types import DeidReport

__all__ = [
    "DEFAULT_OPTIONS",
    "DeidOption",
    "Deidentifier",
    "profile_action",
    "quiet_pydicom",
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
_BASIC_CODE = (
    str(codes.DCM.BasicApplicationConfidentialityProfile.value),
    str(codes.DCM.BasicApplicationConfidentialityProfile.meaning),
)

#: What the vault has always done: dates shifted per patient, age/sex/size/weight kept.
DEFAULT_OPTIONS: frozenset[DeidOption] = frozenset(
    {DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES, DeidOption.RETAIN_PATIENT_CHARACTERISTICS}
)

_MIN_SECRET = 16
_CACHE_SIZE = 4096
_TEXT_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_STRING_VRS = _TEXT_VRS | {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"}
_MAX_LEN = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "UC": 64}
_PATIENT_NAME = 0x00100010
_PATIENT_ID = 0x00100020
#: file meta (group 0002) elements kept; the others (AE titles, addresses, private
#: information) are removed. MediaStorageSOPInstanceUID is remapped like SOPInstanceUID.
_META_KEEP = frozenset({0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013})
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
#: X/Z sequences that are Type 2 where they occur (Acquisition Context Module): emptied;
#: the other X/Z sequences are Type 3 and removed (an empty one breaks their 1-n items).
_TYPE2_SEQUENCES = frozenset({0x00400555})
_DATE_OPTIONS = frozenset(
    {DeidOption.RETAIN_LONGITUDINAL_FULL_DATES, DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES}
)
_COMBINED = {"X/Z": "Z", "X/D": "X", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "U"}


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


# --------------------------------------------------------------- helpers
def _fingerprint(value: Any) -> Any:
    if isinstance(value, Sequence):
        return tuple(tuple((e.tag, _fingerprint(e.value)) for e in item) for item in value)
    if isinstance(value, MultiValue | list):
        return tuple(str(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return hashlib.sha256(value).digest()
    return str(value)


def _snapshot(ds: Dataset) -> dict[tuple[int, int], Any]:
    snap: dict[tuple[int, int], Any] = {}
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


def _str_value(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _values(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def _set_values(elem: DataElement, values: list[Any]) -> None:
    elem.value = values if len(values) > 1 else (values[0] if values else elem.empty_value)


def _default_action(tag: int, vr: str) -> str:
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


def _shift_date(value: str, days: int) -> str:
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


class Deidentifier:
    """Keyed, deterministic DICOM de-identification by PS3.15 Table E.1-1.

    Parameters
    ----------
    secret
        At least 16 bytes; the same secret gives the same pseudonyms, UIDs and date
        shifts in every process. Keep it secret: with it, pseudonyms of guessed
        identifiers can be recomputed.
    options
        The E.3 options to apply (:class:`DeidOption` members or their values);
        default :data:`DEFAULT_OPTIONS`. They are recorded in the output's
        DeidentificationMethodCodeSequence.

    Attributes
    ----------
    pseudonym_map : dict[str, str]
        Every original PatientID / PatientName seen so far -> its pseudonym. This is
        PHI; it is not shown by ``repr``.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.PatientID = "12345"; ds.PatientName = "Doe^Jane"
    >>> report = Deidentifier(b"0" * 32).deidentify(ds)
    >>> ds.PatientID != "12345" and "PatientID" in report.changed
    True
    """

    def __init__(
        self, secret: bytes, *, options: Iterable[DeidOption | str] = DEFAULT_OPTIONS
    ) -> None:
        if not isinstance(secret, bytes | bytearray | memoryview):
            raise TypeError(f"secret must be bytes, got {type(secret).__name__}")
        secret = bytes(secret)
        if len(secret) < _MIN_SECRET:
            raise InputError(f"the de-identification secret must be >= {_MIN_SECRET} bytes")
        try:
            chosen = frozenset(DeidOption(str(o)) for o in options)
        except ValueError:
            known = ", ".join(o.value for o in DeidOption)
            raise InputError(f"unknown de-identification option (known: {known})") from None
        if {
            DeidOption.RETAIN_LONGITUDINAL_FULL_DATES,
            DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES,
        } <= chosen:
            raise InputError("choose one of the full-dates and modified-dates options, not both")
        self.options = chosen
        self._keep_uids = DeidOption.RETAIN_UIDS in chosen
        self._secret = secret
        self._uids = Randomizer(self._derive(b"uid").hex())
        self._uid_cache: dict[str, str] = {}
        self._shifts: dict[str, int] = {}
        self.pseudonym_map: dict[str, str] = {}

    @classmethod
    def random(cls, *, options: Iterable[DeidOption | str] = DEFAULT_OPTIONS) -> Deidentifier:
        """A de-identifier with a fresh random secret (pseudonyms not reproducible)."""
        return cls(os.urandom(32), options=options)

    def __repr__(self) -> str:
        opts = ",".join(sorted(self.options))
        return f"Deidentifier(options={opts}, patients_seen={len(self.pseudonym_map)})"

    @property
    def profile(self) -> str:
        """The profile and options, as recorded in reports and manifests."""
        names = ", ".join(DeidOption(o).code[1] for o in sorted(self.options))
        return f"PS3.15 E.1-1 ({e11.EDITION}) Basic Application Level Confidentiality Profile" + (
            f" + {names}" if names else ""
        )

    # ---------------------------------------------------------------- keyed values
    def _derive(self, label: bytes) -> bytes:
        return hmac.new(self._secret, b"medseal/deid/v1/" + label, hashlib.sha256).digest()

    def _token(self, value: str, label: bytes = b"value") -> str:
        digest = self._derive(label + b"\x00" + value.encode("utf-8", "surrogatepass"))
        return base64.b32encode(digest).decode("ascii")[:12]

    def _shift_days(self, patient_key: str) -> int:
        days = self._shifts.get(patient_key)
        if days is None:
            digest = self._derive(b"patient\x00" + patient_key.encode("utf-8", "surrogatepass"))
            days = -(62 + int.from_bytes(digest[:4], "big") % (730 - 62))
            if len(self._shifts) >= _CACHE_SIZE:
                self._shifts.clear()
            self._shifts[patient_key] = days
        return days

    def new_uid(self, uid: str) -> str:
        """The vault-wide replacement of an instance UID (deterministic under the secret)."""
        uid = str(uid).strip().rstrip("\x00")
        new = self._uid_cache.get(uid)
        if new is None:
            new = "2." + str(10**39 + self._uids.to_int(uid))
            if len(self._uid_cache) >= _CACHE_SIZE:
                self._uid_cache.clear()
            self._uid_cache[uid] = new
        return new

    def name_for(self, original: str) -> str:
        """A neutral object name for a source path (keyed: stable under one secret).

        Non-DICOM files have no header to name them by; their paths often carry
        patient names or record numbers. The vault stores this name in its catalogue
        and the original path only in its sealed pseudonym map.
        """
        return "img-" + self._token(original, b"name").lower()

    def _pseudo_id(self, value: str) -> str:
        return self._token(value.strip())

    def _pseudo_name(self, value: str) -> str:
        return "ANON^" + self._token(value.strip(), b"pn")[:10]

    def _dummy(self, elem: DataElement, days: int) -> Any:
        """A value of ``elem``'s VR that carries nothing of the original (action D)."""
        vr = elem.VR
        originals = [str(v) for v in _values(elem.value)]
        if vr == "SQ":
            return None  # handled by the caller (items are de-identified)
        if not originals and vr in _STRING_VRS:
            return elem.empty_value
        if vr == "PN":
            return [self._pseudo_name(v) for v in originals]
        if vr in ("SH", "LO", "UC", "AE", "CS", "LT", "ST", "UT", "UR"):
            return [self._pseudo_id(v)[: _MAX_LEN.get(vr, 12)] for v in originals]
        if vr == "UI":
            return [self.new_uid(v) for v in originals]
        if vr in ("DA", "DT"):
            if DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options:
                return [_shift_date(v, days) or "19000101" for v in originals]
            return ["19000101" if vr == "DA" else "19000101000000" for _ in originals]
        if vr == "TM":
            return ["000000" for _ in originals]
        if vr == "AS":
            return ["000D" for _ in originals]
        if vr in ("DS", "IS"):
            return ["0" for _ in originals]
        if vr in ("FL", "FD", "SL", "SS", "UL", "US", "SV", "UV"):
            return [0 for _ in _values(elem.value)] or 0
        if vr == "AT":
            return [0 for _ in _values(elem.value)] or 0
        return b"\x00\x00"  # OB, OW, OD, OF, OL, OV: two zero bytes

    # ---------------------------------------------------------------- the walk
    def _apply(self, ds: Dataset, ctx: _Context) -> None:
        for tag in list(ds.keys()):
            elem = ds[tag]  # converts raw elements (inside quiet_pydicom)
            t = int(tag)
            action = profile_action(t, self.options) if not (t >> 16) & 1 else None
            if action is None:
                action = _default_action(t, elem.VR)
            elif elem.VR == "UN" or dictionary_is_retired(t):
                action = "X"  # unparsable bytes, or a retired attribute no IOD requires
            self._act(ds, elem, _COMBINED.get(action, action), ctx, action)

    def _act(
        self, ds: Dataset, elem: DataElement, action: str, ctx: _Context, combined: str
    ) -> None:
        t = int(elem.tag)
        if action == "X":
            del ds[elem.tag]
            return
        if elem.VR == "SQ":
            if action == "Z" and combined == "X/Z" and t not in _TYPE2_SEQUENCES:
                del ds[elem.tag]  # an empty Type 3 sequence is an error (1-n items)
                return
            if action == "Z":
                elem.value = Sequence()
            else:  # K, C, D, U: keep the structure, de-identify every item
                for item in elem.value or ():
                    self._apply(item, ctx)
            return
        if action == "Z":
            if t == _PATIENT_NAME and str(elem.value or "").strip():
                elem.value = self._pseudo_name(str(elem.value))
            else:
                elem.value = elem.empty_value
        elif action == "D":
            if t == _PATIENT_ID:
                _set_values(elem, [self._pseudo_id(str(v)) for v in _values(elem.value)])
            else:
                dummy = self._dummy(elem, ctx.days)
                if isinstance(dummy, list):
                    _set_values(elem, dummy)
                else:
                    elem.value = dummy
        elif action == "U":
            if elem.VR == "UI":
                _set_values(elem, [self.new_uid(str(v)) for v in _values(elem.value)])
            else:
                elem.value = elem.empty_value
        elif action == "C":
            self._clean(elem, ctx)
        elif action == "K" and elem.VR == "UI" and t not in e11.ROWS and not self._keep_uids:
            kw = elem.keyword
            if kw.endswith("InstanceUID") and not kw.endswith("ClassUID"):
                _set_values(elem, [self.new_uid(str(v)) for v in _values(elem.value)])

    def _clean(self, elem: DataElement, ctx: _Context) -> None:
        vr = elem.VR
        if vr in ("DA", "DT", "TM") and self.options & _DATE_OPTIONS:
            if vr != "TM" and DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options:
                _set_values(elem, [_shift_date(str(v), ctx.days) for v in _values(elem.value)])
            return  # full dates kept; whole-day shifts leave the time of day as it is
        if vr in _TEXT_VRS:
            _set_values(elem, [ctx.scrub(str(v)) for v in _values(elem.value)])
            return
        dummy = self._dummy(elem, ctx.days)
        if isinstance(dummy, list):
            _set_values(elem, dummy)
        else:
            elem.value = dummy

    def _meta(self, meta: FileMetaDataset) -> None:
        for tag in list(meta.keys()):
            t = int(tag)
            if t not in _META_KEEP:
                del meta[tag]
            elif t == 0x00020003 and DeidOption.RETAIN_UIDS not in self.options:
                meta[tag].value = self.new_uid(str(meta[tag].value))

    def _scrub_leftovers(self, ds: Dataset, ctx: _Context) -> None:
        """Replace the patient's names and ids wherever they survive in kept text."""

        def visit(_dataset: Dataset, elem: DataElement) -> None:
            if elem.VR not in _TEXT_VRS or int(elem.tag) in (_PATIENT_ID, _PATIENT_NAME):
                return
            values = [str(v) for v in _values(elem.value)]
            cleaned = [ctx.scrub(v) for v in values]
            if cleaned != values:
                _set_values(elem, cleaned)

        ds.walk(visit)

    # ---------------------------------------------------------------- public
    def deidentify(self, ds: Dataset) -> DeidReport:
        """De-identify ``ds`` in place and report what changed (keywords only, no values).

        Parameters
        ----------
        ds
            A pydicom dataset (with or without pixel data and file meta).

        Returns
        -------
        DeidReport
            ``removed``/``changed`` keywords of the top level (``(gggg,eeee)`` for
            private/unknown tags), ``burned_in_annotation``, ``pseudonyms``
            (original -> new PatientID and PatientName; PHI, hidden from repr) and
            ``date_shift_days`` (negative; ``None`` unless dates are modified).

        Raises
        ------
        InvalidDicomError
            The header could not be processed (the message names no values).
        """
        if not isinstance(ds, Dataset):
            raise TypeError(f"expected a pydicom Dataset, got {type(ds).__name__}")
        with quiet_pydicom():
            try:
                return self._deidentify(ds)
            except Exception as exc:
                raise InvalidDicomError(
                    f"the DICOM header could not be de-identified ({type(exc).__name__})"
                ) from None

    def _deidentify(self, ds: Dataset) -> DeidReport:
        if getattr(ds, "file_meta", None) is None:
            ds.file_meta = FileMetaDataset()
        orig_id = _str_value(ds, "PatientID")
        orig_name = _str_value(ds, "PatientName")
        burned = _str_value(ds, "BurnedInAnnotation").upper()
        burned = burned if burned in ("YES", "NO") else "UNKNOWN"
        # headers with neither PatientID nor PatientName share one date shift (key "")
        days = self._shift_days(orig_id or orig_name)
        new_id = self._pseudo_id(orig_id) if orig_id else ""
        new_name = self._pseudo_name(orig_name) if orig_name else ""
        ctx = _Context(days, _identifiers(ds), {orig_id: new_id, orig_name: new_name})
        before = _snapshot(ds)
        self._meta(ds.file_meta)
        self._apply(ds, ctx)
        self._scrub_leftovers(ds, ctx)
        self._set_method(ds, burned)
        after = _snapshot(ds)
        removed = sorted({_tag_name(t) for g, t in before if (g, t) not in after})
        changed = sorted(
            {_tag_name(t) for (g, t), fp in after.items() if before.get((g, t), None) != fp}
        )
        pseudonyms = {}
        if orig_id:
            pseudonyms[orig_id] = _str_value(ds, "PatientID")
        if orig_name:
            pseudonyms[orig_name] = _str_value(ds, "PatientName")
        self.pseudonym_map.update(pseudonyms)
        modified = DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options
        return DeidReport(
            profile=self.profile,
            removed=tuple(removed),
            changed=tuple(changed),
            burned_in_annotation=burned,
            pseudonyms=pseudonyms,
            date_shift_days=days if modified else None,
        )

    def method_codes(self) -> list[tuple[str, str]]:
        """(code value, meaning) of CID 7050 for the profile and each selected option."""
        return [_BASIC_CODE] + sorted(DeidOption(o).code for o in self.options)

    def _set_method(self, ds: Dataset, burned: str) -> None:
        ds.PatientIdentityRemoved = "NO" if burned == "YES" else "YES"
        if DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options:
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        elif DeidOption.RETAIN_LONGITUDINAL_FULL_DATES in self.options:
            ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
        else:
            ds.LongitudinalTemporalInformationModified = "REMOVED"
        text = f"MEDSEAL PS3.15 E.1-1 {e11.EDITION}"
        values = [str(v) for v in _values(ds.get("DeidentificationMethod"))]
        values = [v for v in values if v != "DICOGNITO" and not v.startswith("MEDSEAL ")]
        values.append(text)
        ds.DeidentificationMethod = values if len(values) > 1 else values[0]
        seq = ds.get("DeidentificationMethodCodeSequence")
        items = list(seq) if seq else []
        present = {
            (str(i.get("CodeValue", "")), str(i.get("CodingSchemeDesignator", ""))) for i in items
        }
        for value, meaning in self.method_codes():
            if (value, "DCM") in present:
                continue
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)


def _identifiers(ds: Dataset) -> list[str]:
    """The patient's names, name parts and ids found in ``ds`` (top level)."""
    found: set[str] = set()
    for kw in _IDENTIFYING_KEYWORDS:
        elem = ds.get(kw)
        for value in _values(elem):
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


class _Context:
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

    def _scrub(self, text: str) -> str:
        stripped = text.strip()
        if stripped in self.exact:
            return self.exact[stripped]
        if self._pattern is None:
            return text
        return self._pattern.sub("*", text)
