"""Standard DICOM Part 10 export of an encoded image, in the transfer syntax asked for.

Codec stage, the way out of medseal: :func:`to_dicom` wraps the stored
codestreams of an :class:`~medseal.types.EncodedImage` in a DICOM dataset with
the matching transfer syntax, so any PACS or viewer can read what the vault
holds without re-compression. A receiver that needs another syntax (an older
PACS that reads classic JPEG 2000 only, or one that reads no compression)
asks for it with ``transfer_syntax=``: the frames are then decoded and
re-encoded losslessly (or written uncompressed). The vault's ``export_dicom``
and the CLI call it after unsealing; :func:`transcode_dicom` converts a file
already written.

- Transfer syntax: JPEG 2000 lossless ``1.2.840.10008.1.2.4.90`` / lossy
  ``.91``; HTJ2K lossless ``.201`` / lossy ``.203``; JPEG-LS lossless
  ``.80``; Explicit VR Little Endian ``1.2.840.10008.1.2.1`` (uncompressed).
- Pixel data: one fragment per frame, encapsulated with a basic offset table
  (uncompressed: the native pixel bytes).
- Header: the given (de-identified) header with its Image Pixel module
  rewritten from the encoded image, or, when there is none (PNG and array
  sources), a minimal Secondary Capture header with fresh UIDs.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.errors import InvalidDicomError
from pydicom.filewriter import dcmwrite
from pydicom.multival import MultiValue
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    JPEGLSLossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from medseal.codec.pack import strip_header
from medseal.codec.registry import CodecName, decode, encode, frame_shape
from medseal.errors import CodecError, InputError, StorageError
from medseal.types import EncodedImage, Image

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "TransferSyntax",
    "encoded_from_dicom",
    "parse_transfer_syntax",
    "to_dicom",
    "transcode_dicom",
    "transfer_syntax",
    "write_dicom",
]


class TransferSyntax(StrEnum):
    """What a receiver may ask an export for (``--transfer-syntax``)."""

    HTJ2K = "htj2k"  # High-Throughput JPEG 2000 lossless, 1.2.840.10008.1.2.4.201
    JPEGLS = "jpegls"  # JPEG-LS lossless, 1.2.840.10008.1.2.4.80
    J2K = "j2k"  # JPEG 2000 lossless, 1.2.840.10008.1.2.4.90 (older PACS)
    EXPLICIT_LITTLE_ENDIAN = "explicit-little-endian"  # uncompressed, 1.2.840.10008.1.2.1


_TS_CODEC = {
    TransferSyntax.HTJ2K: CodecName.HTJ2K,
    TransferSyntax.JPEGLS: CodecName.JPEGLS,
    TransferSyntax.J2K: CodecName.J2K,
}
#: transfer syntax UID -> (codec, lossless) for the encapsulated syntaxes medseal writes
_UID_CODEC: dict[str, tuple[CodecName, bool]] = {
    JPEG2000Lossless: (CodecName.J2K, True),
    JPEG2000: (CodecName.J2K, False),
    HTJ2KLossless: (CodecName.HTJ2K, True),
    HTJ2KLosslessRPCL: (CodecName.HTJ2K, True),
    HTJ2K: (CodecName.HTJ2K, False),
    JPEGLSLossless: (CodecName.JPEGLS, True),
}


def parse_transfer_syntax(value: TransferSyntax | str) -> TransferSyntax:
    """``value`` as a :class:`TransferSyntax`; an unknown name raises :class:`InputError`."""
    try:
        return TransferSyntax(str(value).lower())
    except ValueError:
        known = ", ".join(t.value for t in TransferSyntax)
        raise InputError(f"unknown transfer syntax {value!r}; known: {known}") from None

#: A fixed UUID-derived (2.25) UID naming medseal as the writer of exported files.
IMPLEMENTATION_CLASS_UID = UID("2.25." + str(uuid.uuid5(uuid.NAMESPACE_DNS, "medseal.invalid").int))
IMPLEMENTATION_VERSION_NAME = "MEDSEAL_0_1"

_LOSSY_METHOD: dict[str, str] = {
    CodecName.J2K: "ISO_15444_1",
    CodecName.HTJ2K: "ISO_15444_15",
    CodecName.JPEGLS: "ISO_14495_1",
}


def transfer_syntax(enc: EncodedImage) -> UID:
    """The DICOM transfer syntax UID that matches ``enc``'s codec and losslessness."""
    codec = str(enc.codec)
    if codec == CodecName.J2K:
        return JPEG2000Lossless if enc.lossless else JPEG2000
    if codec == CodecName.HTJ2K:
        return HTJ2KLossless if enc.lossless else HTJ2K
    if codec == CodecName.JPEGLS and enc.lossless:
        return JPEGLSLossless
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
    methods.append(_LOSSY_METHOD.get(str(enc.codec), "ISO_15444_1"))
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = ratios
    ds.LossyImageCompressionMethod = methods


def _transcoded(enc: EncodedImage, codec: CodecName) -> EncodedImage:
    """``enc`` decoded and encoded again, losslessly, with ``codec``."""
    pixels = decode(enc)
    image = Image(
        pixels=pixels,
        photometric=enc.photometric,
        bits_stored=int(enc.bits_stored),
        frames=len(enc.frames),
    )
    return encode(image, codec=codec, lossless=True)


def _native(ds: Dataset, enc: EncodedImage) -> bytes:
    """The decoded frames as uncompressed little-endian pixel bytes (no colour transform)."""
    pixels = decode(enc)
    plain = dataclasses.replace(enc, params={**enc.params, "mct": False}, lossless=True)
    _pixel_module(ds, plain)
    data = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("<")).tobytes()
    return data + b"\x00" * (len(data) % 2)  # pixel data has an even length


def to_dicom(
    enc: EncodedImage,
    header: Dataset | None = None,
    *,
    transfer_syntax: TransferSyntax | str | None = None,
) -> FileDataset:
    """Wrap an encoded image in a DICOM Part 10 dataset, in the transfer syntax asked for.

    Parameters
    ----------
    enc
        From :func:`medseal.codec.encode` or :func:`medseal.codec.unpack`.
    header
        The image's (de-identified) DICOM header. Its SOP Class and Instance
        UIDs are kept; its Image Pixel attributes are rewritten to match
        ``enc``. ``None`` gives a Secondary Capture header with fresh UIDs.
    transfer_syntax
        ``None`` (default): the stored codec's own syntax, codestreams
        unchanged. ``"htj2k"``, ``"jpegls"``, ``"j2k"``: that lossless syntax,
        re-encoded when the stored codec differs. ``"explicit-little-endian"``:
        uncompressed. A lossy source keeps its lossy-compression history.

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
    InputError
        Unknown ``transfer_syntax``.
    """
    return _build(enc, header, transfer_syntax, history=True)


def _build(
    enc: EncodedImage,
    header: Dataset | None,
    requested: TransferSyntax | str | None,
    *,
    history: bool,
) -> FileDataset:
    target = None if requested is None else parse_transfer_syntax(requested)
    out_enc = enc
    if target in _TS_CODEC and _TS_CODEC[target] != str(enc.codec):
        out_enc = _transcoded(enc, _TS_CODEC[target])
    ds = strip_header(copy.deepcopy(header)) if header is not None else Dataset()
    if header is None:
        _secondary_capture(ds)
    else:
        if "SOPClassUID" not in ds:
            ds.SOPClassUID = SecondaryCaptureImageStorage
        if "SOPInstanceUID" not in ds:
            ds.SOPInstanceUID = generate_uid()
    if history:
        _lossy_history(ds, enc)  # the stored encoding's history, whatever is written now
    native = None
    if target is TransferSyntax.EXPLICIT_LITTLE_ENDIAN:
        native = _native(ds, enc)
        tsyntax = ExplicitVRLittleEndian
    else:
        _pixel_module(ds, out_enc)
        tsyntax = transfer_syntax(out_enc)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = tsyntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME

    out = FileDataset("", ds, file_meta=meta, preamble=b"\x00" * 128)
    if native is not None:
        out.PixelData = native
        out["PixelData"].VR = "OW" if int(ds.BitsAllocated) > 8 else "OB"
        return out
    out.PixelData = encapsulate([bytes(f) for f in out_enc.frames], has_bot=True)
    out["PixelData"].VR = "OB"
    out["PixelData"].is_undefined_length = True
    return out


def _write(ds: FileDataset, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    try:
        dcmwrite(target, ds, enforce_file_format=True)
    except OSError as exc:
        raise StorageError(f"could not write the DICOM file: {exc.strerror or exc}") from None
    return target


def write_dicom(
    path: str | os.PathLike[str],
    enc: EncodedImage,
    header: Dataset | None = None,
    *,
    transfer_syntax: TransferSyntax | str | None = None,
) -> Path:
    """Write :func:`to_dicom`'s dataset to ``path`` as a DICOM Part 10 file.

    Raises
    ------
    StorageError
        The file could not be written.
    """
    return _write(to_dicom(enc, header, transfer_syntax=transfer_syntax), path)


def encoded_from_dicom(ds: Dataset) -> EncodedImage:
    """The encoded image inside a DICOM dataset that uses one of medseal's syntaxes.

    The frames are taken as they are (not decoded); shape, dtype, bit depth
    and colour transform come from the Image Pixel module.

    Raises
    ------
    CodecError
        Another transfer syntax, or an inconsistent Image Pixel module.
    """
    ts = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    if ts not in _UID_CODEC:
        raise CodecError(f"transfer syntax {ts or 'unknown'} is not one medseal converts from")
    codec, lossless = _UID_CODEC[ts]
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1))
        n = int(ds.get("NumberOfFrames", 1) or 1)
        allocated, stored = int(ds.BitsAllocated), int(ds.BitsStored)
        signed = int(ds.get("PixelRepresentation", 0)) == 1
        photometric = str(ds.PhotometricInterpretation)
        frames = tuple(generate_frames(ds.PixelData, number_of_frames=n))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"incomplete Image Pixel module: {type(exc).__name__}") from None
    if allocated not in (8, 16) or len(frames) != n:
        raise CodecError("Image Pixel module does not match the encapsulated frames")
    mct = photometric in ("YBR_RCT", "YBR_ICT")
    shape = (rows, cols) + ((samples,) if samples > 1 else ())
    return EncodedImage(
        codec=str(codec),
        frames=frames,
        shape=((n,) if n > 1 else ()) + shape,
        dtype=("int" if signed else "uint") + str(allocated),
        bits_stored=stored,
        photometric="RGB" if mct else photometric,
        lossless=lossless,
        params={"mct": mct},
    )


def transcode_dicom(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    transfer_syntax: TransferSyntax | str,
) -> Path:
    """Rewrite a DICOM file medseal exported in another transfer syntax (atomically).

    ``source`` and ``target`` may be the same path. Frames already coded with
    the requested codec are kept as they are; others are decoded and
    re-encoded losslessly. The header (and its lossy history) is kept.

    Raises
    ------
    CodecError
        The source is not DICOM or not in a syntax medseal writes.
    StorageError
        The file could not be written.
    """
    wanted = parse_transfer_syntax(transfer_syntax)
    try:
        ds = dcmread(source)
    except (InvalidDicomError, OSError, ValueError) as exc:
        raise CodecError(f"could not read the DICOM file: {type(exc).__name__}") from None
    enc = encoded_from_dicom(ds)
    out = _build(enc, ds, wanted, history=False)
    dest = Path(target)
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        _write(out, tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return dest
