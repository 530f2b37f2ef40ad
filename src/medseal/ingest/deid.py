"""De-identification of DICOM headers: a keyed, deterministic wrapper around dicognito.

Where it sits: :func:`medseal.ingest.read_dicom` calls :meth:`Deidentifier.deidentify`
on every header before the image goes on to the codec and the vault. The vault
owns the secret (derived from its key ring), so the same study ingested twice,
or in two sessions, gets the same pseudonyms and UIDs; the map from original
identifiers to pseudonyms is handed to the vault, which stores it encrypted.

What is applied (DICOM PS3.15 Annex E, Basic Application Level Confidentiality
Profile, with the options *Retain Longitudinal Temporal Information with Modified
Dates* (113107) and *Retain Patient Characteristics* (113108)):

- dicognito's :class:`~dicognito.anonymizer.Anonymizer`: every UID except class and
  transfer-syntax UIDs is replaced (``2.<10**39 + md5(seed + uid)>``), every person
  name (PN) and the identifier elements (PatientID, OtherPatientIDs,
  AccessionNumber, StudyID, StationName, order/procedure ids ...) get pseudonyms,
  patient and institution addresses are replaced, telephone numbers, religion,
  military and insurance elements are removed, DA/DT (and matching TM) values are
  shifted.
- added here: all private elements, overlays and curves (groups 60xx/50xx), icon
  images and a list of free-text and identifying elements that dicognito leaves
  (comments, descriptions, birth date/time, device serial number, ... see
  ``REMOVED_KEYWORDS``) are removed; any other text element whose value equals the
  original PatientID or PatientName is replaced by the pseudonym;
  ``PatientIdentityRemoved`` (``YES``, or ``NO`` when BurnedInAnnotation is YES),
  ``LongitudinalTemporalInformationModified`` and ``DeidentificationMethod`` with
  its code sequence (113100, 113107, 113108) are set.

How the secret is used (read from dicognito 0.19's source): dicognito derives every
replacement from ``md5(seed + original value)`` and its date offset from the seed
alone, i.e. **one offset per Anonymizer**. To shift dates consistently *per
patient* (so a patient's studies keep their spacing while patients cannot be
aligned with each other), this module keeps one Anonymizer per patient, seeded
with ``HMAC-SHA256(secret, "patient" || PatientID)``, and installs in each a
``DateTimeAnonymizer`` with a whole-day offset (62-729 days back, also from the
HMAC) and a ``UIAnonymizer`` seeded from ``HMAC(secret, "uid")`` shared by all
patients, so one original UID maps to one new UID everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import dicognito
import pydicom
from dicognito.anonymizer import Anonymizer
from dicognito.datetimeanonymizer import DateTimeAnonymizer
from dicognito.element_anonymizer import ElementAnonymizer
from dicognito.randomizer import Randomizer
from dicognito.uianonymizer import UIAnonymizer
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from medseal.errors import InputError, InvalidDicomError
from medseal.types import DeidReport

__all__ = ["PROFILE", "REMOVED_KEYWORDS", "Deidentifier"]

PROFILE = (
    "PS3.15 E.1 Basic Application Level Confidentiality Profile "
    "+ Retain Longitudinal Temporal Information with Modified Dates "
    "+ Retain Patient Characteristics "
    f"(dicognito {dicognito.__version__} + medseal)"
)

#: Basic-profile "X"/"Z" elements that dicognito 0.19 leaves untouched; removed here.
REMOVED_KEYWORDS = frozenset(
    {
        "AcquisitionComments",
        "AcquisitionDeviceProcessingDescription",
        "AdditionalPatientHistory",
        "AdmissionID",
        "AdmittingDiagnosesCodeSequence",
        "AdmittingDiagnosesDescription",
        "Allergies",
        "AuthorObserverSequence",
        "ClinicalTrialSubjectReadingID",
        "ContentSequence",
        "ContributionDescription",
        "CountryOfResidence",
        "CurrentPatientLocation",
        "CustodialOrganizationSequence",
        "DerivationDescription",
        "DeviceSerialNumber",
        "DigitalSignaturesSequence",
        "DischargeDiagnosisDescription",
        "EthnicGroup",
        "FrameComments",
        "GraphicAnnotationSequence",
        "IconImageSequence",
        "IdentifyingComments",
        "ImageComments",
        "ImagePresentationComments",
        "ImagingServiceRequestComments",
        "InstitutionAddress",
        "InstitutionCodeSequence",
        "InstitutionalDepartmentName",
        "InterpretationDiagnosisDescription",
        "InterpretationText",
        "IssuerOfAdmissionID",
        "MedicalAlerts",
        "MedicalRecordLocator",
        "ModifiedAttributesSequence",
        "OriginalAttributesSequence",
        "OtherPatientIDsSequence",
        "PatientAddress",
        "PatientBirthDate",
        "PatientBirthTime",
        "PatientComments",
        "PatientInstitutionResidence",
        "PatientMotherBirthName",
        "PatientState",
        "PatientTransportArrangements",
        "PerformedProcedureStepDescription",
        "PerformingPhysicianIdentificationSequence",
        "PhysiciansOfRecordIdentificationSequence",
        "PhysiciansReadingStudyIdentificationSequence",
        "ReasonForStudy",
        "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers",
        "RegionOfResidence",
        "RequestAttributesSequence",
        "RequestedContrastAgent",
        "RequestedProcedureComments",
        "RequestedProcedureDescription",
        "RequestingPhysicianIdentificationSequence",
        "ResultsComments",
        "ScheduledProcedureStepDescription",
        "SeriesDescription",
        "ServiceEpisodeDescription",
        "SpecialNeeds",
        "StudyComments",
        "StudyDescription",
        "TextComments",
        "TextString",
        "TopicAuthor",
        "TopicKeywords",
        "TopicSubject",
        "TopicTitle",
        "VisitComments",
    }
)
_REMOVED_TAGS = frozenset(
    int(tag)
    for tag in (pydicom.datadict.tag_for_keyword(kw) for kw in REMOVED_KEYWORDS)
    if tag is not None
)
_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_MIN_SECRET = 16
_CACHE_SIZE = 4096

# (code value, meaning) of PS3.16 CID 7050 "De-identification Method"
_METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113108", "Retain Patient Characteristics Option"),
)
_METHOD_TEXT = f"MEDSEAL PS3.15 E.1 BASIC (DICOGNITO {dicognito.__version__})"


class _Remover(ElementAnonymizer):
    """Removes private elements, overlays/curves and ``REMOVED_KEYWORDS`` during dicognito's walk."""

    def __call__(self, dataset: Dataset, data_element: DataElement) -> bool:
        tag = data_element.tag
        if tag.is_private or tag.group & 0xFF00 in (0x5000, 0x6000) or int(tag) in _REMOVED_TAGS:
            del dataset[tag]
            return True
        return False

    def describe_actions(self) -> Iterator[str]:
        yield "Remove private elements, overlays, curves and Basic-profile free text"


class _SafeDateTimeAnonymizer(DateTimeAnonymizer):
    """dicognito's date shift, but an unparsable date is emptied instead of raising."""

    def __call__(self, dataset: Dataset, data_element: DataElement) -> bool:
        try:
            return bool(super().__call__(dataset, data_element))
        except (ValueError, TypeError, IndexError):
            data_element.value = ""
            return True


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
    kw = pydicom.datadict.keyword_for_tag(tag)
    return kw or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _str_value(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


class Deidentifier:
    """Keyed, deterministic DICOM de-identification (see the module docstring).

    Parameters
    ----------
    secret
        At least 16 bytes; the same secret gives the same pseudonyms, UIDs and date
        shifts in every process. Keep it secret: with it, pseudonyms of guessed
        identifiers can be recomputed.

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

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes | bytearray | memoryview):
            raise TypeError(f"secret must be bytes, got {type(secret).__name__}")
        secret = bytes(secret)
        if len(secret) < _MIN_SECRET:
            raise InputError(f"the de-identification secret must be >= {_MIN_SECRET} bytes")
        self._secret = secret
        self._uid_seed = self._derive(b"uid").hex()
        self._anonymizers: OrderedDict[str, tuple[Anonymizer, int]] = OrderedDict()
        self.pseudonym_map: dict[str, str] = {}

    @classmethod
    def random(cls) -> Deidentifier:
        """A de-identifier with a fresh random secret (pseudonyms not reproducible)."""
        return cls(os.urandom(32))

    def __repr__(self) -> str:
        return f"Deidentifier(patients_seen={len(self.pseudonym_map)})"

    def _derive(self, label: bytes) -> bytes:
        return hmac.new(self._secret, b"medseal/deid/v1/" + label, hashlib.sha256).digest()

    def _for_patient(self, patient_key: str) -> tuple[Anonymizer, int]:
        cached = self._anonymizers.get(patient_key)
        if cached is not None:
            self._anonymizers.move_to_end(patient_key)
            return cached
        digest = self._derive(b"patient\x00" + patient_key.encode("utf-8"))
        days = 62 + int.from_bytes(digest[:4], "big") % (730 - 62)
        anonymizer = Anonymizer(seed=digest.hex())
        # add_element_handler puts a handler first, so these run before dicognito's own
        anonymizer.add_element_handler(_SafeDateTimeAnonymizer(-24 * days))
        anonymizer.add_element_handler(UIAnonymizer(Randomizer(self._uid_seed)))
        anonymizer.add_element_handler(_Remover())
        self._anonymizers[patient_key] = (anonymizer, -days)
        if len(self._anonymizers) > _CACHE_SIZE:
            self._anonymizers.popitem(last=False)
        return anonymizer, -days

    def deidentify(self, ds: Dataset) -> DeidReport:
        """De-identify ``ds`` in place and report what changed (keywords only, no values).

        Parameters
        ----------
        ds
            A pydicom dataset (with or without pixel data and file meta).

        Returns
        -------
        DeidReport
            ``removed``/``changed`` keywords (``(gggg,eeee)`` for private tags),
            ``burned_in_annotation``, ``pseudonyms`` (original -> new PatientID and
            PatientName; PHI, hidden from repr) and ``date_shift_days`` (negative).

        Raises
        ------
        InvalidDicomError
            The header could not be processed (the message names no values).
        """
        if not isinstance(ds, Dataset):
            raise TypeError(f"expected a pydicom Dataset, got {type(ds).__name__}")
        if getattr(ds, "file_meta", None) is None:
            ds.file_meta = FileMetaDataset()
        orig_id = _str_value(ds, "PatientID")
        orig_name = _str_value(ds, "PatientName")
        burned = _str_value(ds, "BurnedInAnnotation").upper()
        burned = burned if burned in ("YES", "NO") else "UNKNOWN"
        # headers with neither PatientID nor PatientName share one anonymizer (key "")
        anonymizer, shift = self._for_patient(orig_id or orig_name)
        before = _snapshot(ds)
        try:
            ds.remove_private_tags()
            anonymizer.anonymize(ds)
            new_id = _str_value(ds, "PatientID")
            new_name = _str_value(ds, "PatientName")
            self._replace_leftovers(ds, {orig_id: new_id, orig_name: new_name})
            self._set_method(ds, burned)
        except Exception as exc:
            raise InvalidDicomError(
                f"the DICOM header could not be de-identified ({type(exc).__name__})"
            ) from None
        after = _snapshot(ds)
        removed = sorted({_tag_name(t) for g, t in before if (g, t) not in after})
        changed = sorted(
            {_tag_name(t) for (g, t), fp in after.items() if before.get((g, t), None) != fp}
        )
        pseudonyms = {}
        if orig_id:
            pseudonyms[orig_id] = new_id
        if orig_name:
            pseudonyms[orig_name] = new_name
        self.pseudonym_map.update(pseudonyms)
        return DeidReport(
            profile=PROFILE,
            removed=tuple(removed),
            changed=tuple(changed),
            burned_in_annotation=burned,
            pseudonyms=pseudonyms,
            date_shift_days=shift,
        )

    @staticmethod
    def _replace_leftovers(ds: Dataset, originals: dict[str, str]) -> None:
        """Replace text values equal to an original identifier that dicognito did not touch."""
        lookup = {k: v for k, v in originals.items() if k}
        if not lookup:
            return

        def visit(dataset: Dataset, elem: DataElement) -> None:
            if elem.VR not in _TEXT_VRS or elem.keyword in ("PatientID", "PatientName"):
                return
            value = elem.value
            if isinstance(value, MultiValue | list):
                if any(str(v).strip() in lookup for v in value):
                    elem.value = [lookup.get(str(v).strip(), v) for v in value]
            elif value is not None and str(value).strip() in lookup:
                elem.value = lookup[str(value).strip()]

        ds.walk(visit)

    @staticmethod
    def _set_method(ds: Dataset, burned: str) -> None:
        ds.PatientIdentityRemoved = "NO" if burned == "YES" else "YES"
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
        current = ds.get("DeidentificationMethod")
        values: list[str] = []
        if isinstance(current, MultiValue | list):
            values = [str(v) for v in current]
        elif current:
            values = [str(current)]
        values = [v for v in values if v != "DICOGNITO"]
        if _METHOD_TEXT not in values:
            values.append(_METHOD_TEXT)
        ds.DeidentificationMethod = values if len(values) > 1 else values[0]
        seq = ds.get("DeidentificationMethodCodeSequence")
        items = list(seq) if seq else []
        present = {str(item.get("CodeValue", "")) for item in items}
        for value, meaning in _METHOD_CODES:
            if value in present:
                continue
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
