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

Where things live: this module holds :class:`Deidentifier` (the keyed values and
the walk that applies the actions); the policy (:class:`DeidOption`,
:data:`DEFAULT_OPTIONS`, :func:`profile_action`) is in
:mod:`medseal.ingest._deid_profile`, element values, date shifts and free-text
scrubbing in :mod:`medseal.ingest._deid_values`, and the report's before/after
diff and the method attributes in :mod:`medseal.ingest._deid_report`. All public
names stay importable from here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable
from typing import Any

from dicognito.randomizer import Randomizer
from pydicom.datadict import dictionary_is_retired
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence

from medseal.errors import InputError, InvalidDicomError
from medseal.ingest import _e11_table as e11
from medseal.ingest._deid_profile import (
    BASIC_CODE,
    COMBINED,
    DATE_OPTIONS,
    DEFAULT_OPTIONS,
    META_KEEP,
    TYPE2_SEQUENCES,
    DeidOption,
    default_action,
    profile_action,
)
from medseal.ingest._deid_report import changes, record_method, snapshot
from medseal.ingest._deid_values import (
    MAX_LEN,
    PATIENT_ID,
    PATIENT_NAME,
    STRING_VRS,
    TEXT_VRS,
    Context,
    identifiers,
    set_values,
    shift_date,
    str_value,
    value_list,
)
from medseal.ingest._quiet import quiet_pydicom
from medseal.types import DeidReport

__all__ = [
    "DEFAULT_OPTIONS",
    "DeidOption",
    "Deidentifier",
    "profile_action",
    "quiet_pydicom",
]

_MIN_SECRET = 16
_CACHE_SIZE = 4096


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
        originals = [str(v) for v in value_list(elem.value)]
        if vr == "SQ":
            return None  # handled by the caller (items are de-identified)
        if not originals and vr in STRING_VRS:
            return elem.empty_value
        if vr == "PN":
            return [self._pseudo_name(v) for v in originals]
        if vr in ("SH", "LO", "UC", "AE", "CS", "LT", "ST", "UT", "UR"):
            return [self._pseudo_id(v)[: MAX_LEN.get(vr, 12)] for v in originals]
        if vr == "UI":
            return [self.new_uid(v) for v in originals]
        if vr in ("DA", "DT"):
            if DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options:
                return [shift_date(v, days) or "19000101" for v in originals]
            return ["19000101" if vr == "DA" else "19000101000000" for _ in originals]
        if vr == "TM":
            return ["000000" for _ in originals]
        if vr == "AS":
            return ["000D" for _ in originals]
        if vr in ("DS", "IS"):
            return ["0" for _ in originals]
        if vr in ("FL", "FD", "SL", "SS", "UL", "US", "SV", "UV"):
            return [0 for _ in value_list(elem.value)] or 0
        if vr == "AT":
            return [0 for _ in value_list(elem.value)] or 0
        return b"\x00\x00"  # OB, OW, OD, OF, OL, OV: two zero bytes

    # ---------------------------------------------------------------- the walk
    def _apply(self, ds: Dataset, ctx: Context) -> None:
        for tag in list(ds.keys()):
            elem = ds[tag]  # converts raw elements (inside quiet_pydicom)
            t = int(tag)
            action = profile_action(t, self.options) if not (t >> 16) & 1 else None
            if action is None:
                action = default_action(t, elem.VR)
            elif elem.VR == "UN" or dictionary_is_retired(t):
                action = "X"  # unparsable bytes, or a retired attribute no IOD requires
            self._act(ds, elem, COMBINED.get(action, action), ctx, action)

    def _act(
        self, ds: Dataset, elem: DataElement, action: str, ctx: Context, combined: str
    ) -> None:
        t = int(elem.tag)
        if action == "X":
            del ds[elem.tag]
            return
        if elem.VR == "SQ":
            if action == "Z" and combined == "X/Z" and t not in TYPE2_SEQUENCES:
                del ds[elem.tag]  # an empty Type 3 sequence is an error (1-n items)
                return
            if action == "Z":
                elem.value = Sequence()
            else:  # K, C, D, U: keep the structure, de-identify every item
                for item in elem.value or ():
                    self._apply(item, ctx)
            return
        if action == "Z":
            if t == PATIENT_NAME and str(elem.value or "").strip():
                elem.value = self._pseudo_name(str(elem.value))
            else:
                elem.value = elem.empty_value
        elif action == "D":
            if t == PATIENT_ID:
                set_values(elem, [self._pseudo_id(str(v)) for v in value_list(elem.value)])
            else:
                dummy = self._dummy(elem, ctx.days)
                if isinstance(dummy, list):
                    set_values(elem, dummy)
                else:
                    elem.value = dummy
        elif action == "U":
            if elem.VR == "UI":
                set_values(elem, [self.new_uid(str(v)) for v in value_list(elem.value)])
            else:
                elem.value = elem.empty_value
        elif action == "C":
            self._clean(elem, ctx)
        elif action == "K" and elem.VR == "UI" and t not in e11.ROWS and not self._keep_uids:
            kw = elem.keyword
            if kw.endswith("InstanceUID") and not kw.endswith("ClassUID"):
                set_values(elem, [self.new_uid(str(v)) for v in value_list(elem.value)])

    def _clean(self, elem: DataElement, ctx: Context) -> None:
        vr = elem.VR
        if vr in ("DA", "DT", "TM") and self.options & DATE_OPTIONS:
            if vr != "TM" and DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options:
                set_values(elem, [shift_date(str(v), ctx.days) for v in value_list(elem.value)])
            return  # full dates kept; whole-day shifts leave the time of day as it is
        if vr in TEXT_VRS:
            set_values(elem, [ctx.scrub(str(v)) for v in value_list(elem.value)])
            return
        dummy = self._dummy(elem, ctx.days)
        if isinstance(dummy, list):
            set_values(elem, dummy)
        else:
            elem.value = dummy

    def _meta(self, meta: FileMetaDataset) -> None:
        for tag in list(meta.keys()):
            t = int(tag)
            if t not in META_KEEP:
                del meta[tag]
            elif t == 0x00020003 and DeidOption.RETAIN_UIDS not in self.options:
                meta[tag].value = self.new_uid(str(meta[tag].value))

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
        orig_id = str_value(ds, "PatientID")
        orig_name = str_value(ds, "PatientName")
        burned = str_value(ds, "BurnedInAnnotation").upper()
        burned = burned if burned in ("YES", "NO") else "UNKNOWN"
        # headers with neither PatientID nor PatientName share one date shift (key "")
        days = self._shift_days(orig_id or orig_name)
        new_id = self._pseudo_id(orig_id) if orig_id else ""
        new_name = self._pseudo_name(orig_name) if orig_name else ""
        ctx = Context(days, identifiers(ds), {orig_id: new_id, orig_name: new_name})
        before = snapshot(ds)
        self._meta(ds.file_meta)
        self._apply(ds, ctx)
        ctx.scrub_leftovers(ds)
        record_method(ds, burned, self.options, self.method_codes())
        removed, changed = changes(before, snapshot(ds))
        pseudonyms = {}
        if orig_id:
            pseudonyms[orig_id] = str_value(ds, "PatientID")
        if orig_name:
            pseudonyms[orig_name] = str_value(ds, "PatientName")
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
        return [BASIC_CODE] + sorted(DeidOption(o).code for o in self.options)
