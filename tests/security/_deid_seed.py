"""A DICOM file seeded with a marker in every PS3.15 Table E.1-1 attribute, and a marker scan.

The file (Secondary Capture, 8x8 pixels, explicit VR little endian) holds:

- every attribute of the table at the top level, each with its own marker value
  valid for its VR (``MKR0001``, a date in year ``1000 + 3 * i``, UID ``...999.i``,
  number ``30000 + i`` ...);
- the same attributes nested two sequences deep (two public sequences the table
  does not list, so the de-identifier must go into them);
- the same attributes written with VR UN (in a third nested item), plus unknown
  public tags as UN;
- markers in a private block at the top level and inside the nested item,
  in overlay/curve groups, in a group length and in a retired attribute.

:func:`scan` lists every (path, keyword) whose value still holds a marker.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import pydicom.config
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from medseal.ingest import _e11_table as e11

OUTER_SQ = 0x00089215  # Derivation Code Sequence: not in Table E.1-1
INNER_SQ = 0x00082218  # Anatomic Region Sequence: not in Table E.1-1
UN_SQ = 0x00400260  # Performed Protocol Code Sequence: not in Table E.1-1
UNKNOWN_PUBLIC = (0x0018FFF0, 0x0070FFF0, 0x00189FF0)
_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}


@dataclass
class Seed:
    """The seeded dataset and what each marker belongs to."""

    dataset: Dataset
    markers: dict[str, int] = field(default_factory=dict)  # marker text -> tag
    seeded_tags: set[int] = field(default_factory=set)
    skipped: dict[int, str] = field(default_factory=dict)  # tag -> why not seeded


def _vr(tag: int) -> str:
    return dictionary_VR(tag).split(" or ")[0]


def _marker(vr: str, i: int) -> object:
    """A value valid for ``vr`` that no other attribute and no de-identifier output has."""
    text = f"MKR{i:04d}"
    if vr in ("AE", "CS", "SH", "LO", "LT", "ST", "UT", "UC"):
        return text
    if vr == "PN":
        return f"{text}^MKRGIVEN{i:04d}"
    if vr == "UR":
        return f"http://{text.lower()}.invalid/"
    if vr == "AS":
        return f"{100 + i % 899:03d}Y"
    if vr == "DA":
        return f"{1000 + 3 * i:04d}0611"
    if vr == "DT":
        return f"{1000 + 3 * i:04d}0611101010"
    if vr == "TM":
        seconds = 3600 + i
        return f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"
    if vr == "UI":
        return f"1.2.826.0.1.3680043.9.999.{i}"
    if vr == "DS":
        return f"{9000 + i}.5"
    if vr == "IS":
        return str(900000 + i)
    if vr in ("US", "SS", "UL", "SL", "UV", "SV"):
        return 30000 + i
    if vr in ("FL", "FD"):
        return float(12000 + i)
    if vr == "AT":
        return Tag(0x00091000 + i)
    # OB OW OD OF OL OV UN: the marker text as bytes, even length
    raw = f"{text}MK".encode()
    return raw + b"\0" * (len(raw) % 2)


def _record(seed: Seed, vr: str, value: object, tag: int) -> None:
    if isinstance(value, bytes):
        seed.markers[value.decode("ascii", "replace").rstrip("\0")] = tag
    else:
        seed.markers[str(value)] = tag


def _private(ds: Dataset, seed: Seed, start: int) -> int:
    block = ds.private_block(0x0099, "MKR CREATOR", create=True)
    for k in range(3):
        value = f"MKR{start + k:04d}"
        block.add_new(0x10 + k, "LO", value)
        seed.markers[value] = 0x00991000
    seed.markers["MKR CREATOR"] = 0x00990010
    return start + 3


def _fill(ds: Dataset, seed: Seed, start: int, *, as_un: bool = False) -> int:
    """Every table attribute into ``ds``; returns the next marker index."""
    i = start
    for tag in sorted(e11.ROWS):
        group = tag >> 16
        if group in (0x0000, 0x0002):
            seed.skipped[tag] = "command/file-meta group: not allowed in a dataset"
            continue
        if tag == 0xFFFCFFFC and (as_un or ds is not seed.dataset):
            continue  # trailing padding only at the top level
        vr = _vr(tag)
        if vr == "SQ":
            if as_un:
                continue  # a UN sequence needs implicit-VR items; covered at the other levels
            item = Dataset()
            item.PatientName = f"MKR{i:04d}^SQITEM"
            seed.markers[f"MKR{i:04d}^SQITEM"] = tag
            _private(item, seed, 9000 + i)
            ds.add(DataElement(tag, "SQ", Sequence([item])))
        else:
            value = _marker(vr, i)
            elem = DataElement(tag, vr, value)
            if as_un:
                elem = _un(tag, _value_bytes(elem))
            ds.add(elem)
            _record(seed, vr, value, tag)
        seed.seeded_tags.add(tag)
        i += 1
    return i


def _un(tag: int, value: bytes) -> DataElement:
    """A UN element even for a known tag (pydicom would otherwise restore the VR)."""
    saved = pydicom.config.replace_un_with_known_vr
    pydicom.config.replace_un_with_known_vr = False
    try:
        return DataElement(tag, "UN", value)
    finally:
        pydicom.config.replace_un_with_known_vr = saved


def _value_bytes(elem: DataElement) -> bytes:
    """The explicit VR little endian value bytes of ``elem``."""
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_data_element(fp, elem)
    data = fp.getvalue()
    return data[12:] if elem.VR in _LONG_VRS else data[8:]


def seeded_dataset() -> Seed:
    ds = Dataset()
    seed = Seed(ds)
    i = _fill(ds, seed, 1)
    # two sequences deep, inside public sequences the table does not list
    inner_item = Dataset()
    i = _fill(inner_item, seed, i)
    i = _private(inner_item, seed, i)
    outer_item = Dataset()
    outer_item.add(DataElement(INNER_SQ, "SQ", Sequence([inner_item])))
    ds.add(DataElement(OUTER_SQ, "SQ", Sequence([outer_item])))
    # every attribute again as VR UN, plus unknown public tags
    un_item = Dataset()
    i = _fill(un_item, seed, i, as_un=True)
    for tag in UNKNOWN_PUBLIC:
        value = f"MKR{i:04d}".encode()
        un_item.add(_un(tag, value))
        ds.add(_un(tag, value))
        seed.markers[f"MKR{i:04d}"] = tag
        i += 1
    ds.add(DataElement(UN_SQ, "SQ", Sequence([un_item])))
    i = _private(ds, seed, i)
    # overlays, curves, group length, a retired attribute not in the table
    for tag, vr in ((0x60000022, "LO"), (0x50000022, "LO"), (0x60020022, "LO")):
        value = f"MKR{i:04d}"
        ds.add(DataElement(tag, vr, value))
        seed.markers[value] = tag
        i += 1
    ds.add(DataElement(0x00080000, "UL", 777777))
    seed.markers["777777"] = 0x00080000
    ds.add(DataElement(0x00080040, "US", 31999))  # Data Set Type (retired)
    seed.markers["31999"] = 0x00080040
    # a minimal Secondary Capture image so that read_dicom accepts it
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.Modality = "OT"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.arange(64, dtype=np.uint8).tobytes()
    return seed


def write_seeded(path: Path) -> Seed:
    seed = seeded_dataset()
    ds = seed.dataset
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = "MKRSOURCEAE"
    seed.markers["MKRSOURCEAE"] = 0x00020016
    ds.file_meta = meta
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return seed


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, bytes | bytearray):
        yield bytes(value).decode("latin-1").rstrip("\0 ")
    elif isinstance(value, list | tuple | pydicom.multival.MultiValue):
        for v in value:
            yield from _strings(v)
    elif value is not None:
        yield str(value).strip()


#: what a seeded marker looks like; pseudonyms are random capitals and may contain
#: "MKR" by chance ("ANON^GBMKRXGYPO"), so a bare "MKR" is not enough
MARKER = re.compile(r"MKR(?:\d| CREATOR|GIVEN|SOURCEAE|BADUID)", re.IGNORECASE)


def has_marker(text: str | bytes) -> bool:
    """``text`` carries a seeded marker (not merely the letters M, K, R in a row)."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return MARKER.search(text) is not None


def scan(ds: Dataset, seed: Seed) -> list[tuple[str, str]]:
    """(path, attribute) of every value in ``ds`` (file meta included) that holds a marker."""
    found: list[tuple[str, str]] = []

    def walk(d: Dataset, path: str) -> None:
        for elem in d:
            name = keyword_for_tag(elem.tag) or str(elem.tag)
            if elem.VR == "SQ":
                for n, item in enumerate(elem.value or ()):
                    walk(item, f"{path}{name}[{n}].")
                continue
            for text in _strings(elem.value):
                if text in seed.markers or has_marker(text):
                    found.append((path + name, text))

    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        walk(meta, "meta.")
    walk(ds, "")
    return found


def marker_tag(seed: Seed, text: str) -> int | None:
    return seed.markers.get(text)
