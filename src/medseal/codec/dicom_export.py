"""Standard DICOM Part 10 export of an encoded image, codestreams unchanged.

Codec stage, the way out of medseal: :func:`to_dicom` wraps the stored JPEG
2000 (or HTJ2K) codestreams of an :class:`~medseal.types.EncodedImage` in a
DICOM dataset with the matching transfer syntax, so any PACS or viewer can read
what the vault holds without re-compression. The vault's ``export_dicom`` and
the CLI call it after unsealing.

- Transfer syntax: JPEG 2000 lossless ``1.2.840.10008.1.2.4.90`` / lossy
  ``.91``; HTJ2K lossless ``.201`` / lossy ``.203``.
- Pixel data: one fragment per frame, encapsulated with a basic offset table.
- Header: the given (de-identified) header with its Image Pixel module
  rewritten from the encoded image, or, when there is none (PNG and array
  sources), a minimal Secondary Capture header with fresh UIDs.
"""

from __future__ import annotations

import copy
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import dcmwrite
from pydicom.multival import MultiValue
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    HTJ2KLossless,
    JPEG2000Lossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from medseal.codec.pack import strip_header
from medseal.codec.registry import CodecName, frame_shape
from medseal.errors import CodecError, StorageError
from medseal.types import EncodedImage

__all__ = ["IMPLEMENTATION_CLASS_UID", "to_dicom", "transfer_syntax", "write_dicom"]

#: A fixed UUID-derived (2.25) UID naming medseal as the writer of exported files.
IMPLEMENTATION_CLASS_UID = UID("2.25." + str(uuid.uuid5(uuid.NAMESPACE_DNS, "medseal.invalid").int))
IMPLEMENTATION_VERSION_NAME = "MEDSEAL_0_1"

_LOSSY_METHOD = {CodecName.J2K: "ISO_15444_1", CodecName.HTJ2K: "ISO_15444_15"}


def transfer_syntax(enc: EncodedImage) -> UID:
    """The DICOM transfer syntax UID that matches ``enc``'s codec and losslessness."""
    codec = str(enc.codec)
    if codec == CodecName.J2K:
        return JPEG2000Lossless if enc.lossless else JPEG2000
    if codec == CodecName.HTJ2K:
        return HTJ2KLossless if enc.lossless else HTJ2K
    raise CodecError(f"codec {codec!r} has no DICOM transfer syntax here")


def _secondary_capture(ds: Dataset) -> None:
    """Fill a minimal SC Image IOD header (patient/study/series/equipment/SC image)."""
    now = datetime.now(UTC)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    # Patient and General Study type 2 attributes: present, empty
    ds.PatientName = ""
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    # General Series
    ds.Modality = "OT"
    ds.SeriesNumber = 1
    ds.Laterality = ""  # type 2C; unknown for an arbitrary picture
    # SC Equipment: WSD = workstation
    ds.ConversionType = "WSD"
    # General Image
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.BurnedInAnnotation = "NO"


def _pixel_module(ds: Dataset, enc: EncodedImage) -> None:
    n = len(enc.frames)
    fshape = frame_shape(tuple(enc.shape), n)
    samples = fshape[2] if len(fshape) == 3 else 1
    bits_allocated = 8 if enc.dtype in ("uint8", "int8") else 16
    mct = bool(enc.params.get("mct", False))
    ds.SamplesPerPixel = samples
    if mct:
        # PS3.5 8.2.4: J2K with the colour transform is YBR_RCT (reversible) / YBR_ICT
        ds.PhotometricInterpretation = "YBR_RCT" if enc.lossless else "YBR_ICT"
    else:
        ds.PhotometricInterpretation = enc.photometric
    ds.Rows = fshape[0]
    ds.Columns = fshape[1]
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = int(enc.bits_stored)
    ds.HighBit = int(enc.bits_stored) - 1
    ds.PixelRepresentation = 1 if enc.dtype.startswith("int") else 0
    if samples > 1:
        ds.PlanarConfiguration = 0
    elif "PlanarConfiguration" in ds:
        del ds.PlanarConfiguration
    if n > 1 or "NumberOfFrames" in ds:
        ds.NumberOfFrames = n


def _values(value: object) -> list[Any]:
    """A DICOM value as a list (absent -> [], single -> [v], multi -> list)."""
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def _lossy_history(ds: Dataset, enc: EncodedImage) -> None:
    if enc.lossless:
        return
    ratios = []
    methods = []
    if ds.get("LossyImageCompression") == "01":
        ratios = _values(ds.get("LossyImageCompressionRatio"))
        methods = _values(ds.get("LossyImageCompressionMethod"))
    raw = 1
    for n in enc.shape:
        raw *= int(n)
    raw *= 1 if enc.dtype in ("uint8", "int8") else 2
    ratio = raw / max(1, enc.nbytes)
    ratios.append(f"{ratio:.4g}"[:16])
    methods.append(_LOSSY_METHOD.get(CodecName(enc.codec), "ISO_15444_1"))
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = ratios
    ds.LossyImageCompressionMethod = methods


def to_dicom(enc: EncodedImage, header: Dataset | None = None) -> FileDataset:
    """Wrap an encoded image in a DICOM Part 10 dataset with a JPEG 2000 transfer syntax.

    Parameters
    ----------
    enc
        From :func:`medseal.codec.encode` or :func:`medseal.codec.unpack`.
    header
        The image's (de-identified) DICOM header. Its SOP Class and Instance
        UIDs are kept; its Image Pixel attributes are rewritten to match
        ``enc``. ``None`` gives a Secondary Capture header with fresh UIDs.

    Returns
    -------
    pydicom.dataset.FileDataset
        Ready for :func:`pydicom.dcmwrite` with ``enforce_file_format=True``;
        reading it back and decoding gives the stored values (bit-exact for
        lossless).

    Raises
    ------
    CodecError
        The encoded image's shape and frames disagree, or its codec has no
        transfer syntax.
    """
    tsyntax = transfer_syntax(enc)
    ds = strip_header(copy.deepcopy(header)) if header is not None else Dataset()
    if header is None:
        _secondary_capture(ds)
    else:
        if "SOPClassUID" not in ds:
            ds.SOPClassUID = SecondaryCaptureImageStorage
        if "SOPInstanceUID" not in ds:
            ds.SOPInstanceUID = generate_uid()
    _pixel_module(ds, enc)
    _lossy_history(ds, enc)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = tsyntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME

    out = FileDataset("", ds, file_meta=meta, preamble=b"\x00" * 128)
    out.PixelData = encapsulate([bytes(f) for f in enc.frames], has_bot=True)
    out["PixelData"].VR = "OB"
    out["PixelData"].is_undefined_length = True
    return out


def write_dicom(
    path: str | os.PathLike[str], enc: EncodedImage, header: Dataset | None = None
) -> Path:
    """Write :func:`to_dicom`'s dataset to ``path`` as a DICOM Part 10 file.

    Raises
    ------
    StorageError
        The file could not be written.
    """
    ds = to_dicom(enc, header)
    target = Path(path)
    try:
        dcmwrite(target, ds, enforce_file_format=True)
    except OSError as exc:
        raise StorageError(f"could not write the DICOM file: {exc.strerror or exc}") from None
    return target
