"""Check every encapsulated frame's own header against the dataset before anything is decoded.

Where it sits: a guard of :func:`medseal.ingest.dicom.read_dicom`, called after
the pixel-count guard and before pydicom's decoder runs. The pixel-count guard
reads Rows, Columns, NumberOfFrames and SamplesPerPixel from the DICOM header,
but a codec allocates what the *codestream* says: a 6.7 KB file declaring 64 x 64
that held an 8192 x 8192 JPEG 2000 stream passed it and grew the process to
426 MB. So each frame's header is parsed here (a few dozen bytes, never the
coded data) and compared with the dataset:

- JPEG 2000 and HTJ2K: the SIZ marker segment of the raw codestream
  (``FF4F FF51``), or of the ``jp2c`` box of a JP2 file (ISO/IEC 15444-1 A.5.1, I.5);
- JPEG (baseline, extended, lossless) and JPEG-LS: the SOFn / SOF55 frame
  header (ISO/IEC 10918-1 B.2.2, 14495-1 C.2.2);
- RLE Lossless: the segment count and each segment's length (PackBits output
  is at most 64 times its input, so a long segment is a bomb too; DICOM PS3.5 G).

Width, height and component count must equal Columns, Rows and
SamplesPerPixel, the precision must fit BitsAllocated, and the frames together
must stay under the pixel-count limit. Nothing here imports :mod:`medseal.codec`
(ingest sits below codec in the layers contract);
:func:`medseal.codec.registry.read_siz` is the codec's own SIZ reader.

Error messages name the file's base name and the numbers compared, never header text.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import (
    UID,
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLELossless,
)

from medseal._codestreams import (
    SOC_SIZ,
    MalformedHeader,
    frame_segment,
    siz_segment,
    sof_fields,
)
from medseal.errors import ImageTooLargeError, InvalidDicomError

__all__ = [
    "FrameHeader",
    "check_encapsulated_frames",
    "j2k_header",
    "jpeg_header",
]

_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
#: start-of-frame markers: SOF0-3, 5-7, 9-11, 13-15 (C4 DHT, C8 JPG, CC DAC are not) and SOF55
_SOF_MARKERS = frozenset({*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC} | {0xF7})


_Malformed = MalformedHeader


@dataclass(frozen=True)
class FrameHeader:
    """What a frame's own header says it decodes to."""

    width: int
    height: int
    components: int
    precision: int  # the largest component precision in bits

    @property
    def samples(self) -> int:
        return self.width * self.height * self.components


def _codestream_offset(frame: bytes) -> int:
    """Offset of the raw codestream in ``frame``: 0, or the payload of the JP2 ``jp2c`` box."""
    if frame[:4] == SOC_SIZ:
        return 0
    if frame[:12] != _JP2_SIGNATURE:
        raise _Malformed("not a JPEG 2000 codestream (no SOC and SIZ markers, no JP2 signature)")
    offset = 12
    while offset + 8 <= len(frame):
        (length,) = struct.unpack_from(">I", frame, offset)
        box = frame[offset + 4 : offset + 8]
        if box == b"jp2c":
            if length == 1:
                return offset + 16
            return offset + 8
        # pydicom's own JP2 walk assumes 4-byte box lengths and never ends on a
        # zero one: refuse both before it runs
        if length == 1:
            raise _Malformed("an extended-length JP2 box before the codestream box")
        if length == 0:
            raise _Malformed("a JP2 box before the codestream box runs to the end of the frame")
        if length < 8:
            raise _Malformed("a corrupt JP2 box length")
        offset += length
    raise _Malformed("no codestream box (jp2c) in the JP2 data")


def j2k_header(frame: bytes) -> FrameHeader:
    """Parse the SIZ marker segment of a J2K/HTJ2K codestream or of a JP2 file's ``jp2c`` box.

    Raises ``ValueError`` when the bytes are not one or the segment is inconsistent.
    """
    off = _codestream_offset(frame)
    width, height, ssiz = siz_segment(frame[off : off + 4 + 38 + 3 * 16384])
    precision = max((s & 0x7F) + 1 for s in ssiz)
    return FrameHeader(width, height, len(ssiz), precision)


def jpeg_header(frame: bytes) -> FrameHeader:
    """Parse the first SOFn (JPEG) or SOF55 (JPEG-LS) frame header before the first scan.

    Raises ``ValueError`` when there is none or it is inconsistent.
    """
    if frame[:2] != b"\xff\xd8":
        raise _Malformed("not a JPEG stream (no SOI marker)")
    found = frame_segment(frame, _SOF_MARKERS)
    if found is None:
        raise _Malformed("no frame header (SOFn) before the first scan")
    precision, height, width, components = sof_fields(frame, found)
    if height == 0 or width == 0:
        # height 0 defers it to a DNL marker after the first scan
        raise _Malformed("the frame header leaves the image size to a later DNL marker")
    return FrameHeader(width, height, components, precision)


def _check_rle(frame: bytes, rows: int, cols: int, segments: int) -> None:
    """The RLE header lists ``segments`` segments, none longer than 2 bytes per output byte."""
    if len(frame) < 64:
        raise _Malformed("the RLE header is truncated")
    header = struct.unpack_from("<16I", frame, 0)
    count, offsets = header[0], list(header[1:])
    if count != segments:
        raise _Malformed(f"the RLE header lists {count} segments, the dataset needs {segments}")
    bounds = [*offsets[:count], len(frame)]
    # PackBits needs at most 2 input bytes per output byte (literal runs of 1);
    # a longer segment can only expand past the frame (a run of 2 bytes decodes to 128)
    most = 2 * rows * cols + 2
    for start, stop in zip(bounds, bounds[1:], strict=False):
        if not 64 <= start <= stop:
            raise _Malformed("the RLE segment offsets are corrupt")
        if stop - start > most:
            raise _Malformed("an RLE segment is longer than its decoded size allows")


def _kind(ts: UID) -> str | None:
    if ts in JPEG2000TransferSyntaxes:
        return "JPEG 2000"
    if ts in JPEGLSTransferSyntaxes:
        return "JPEG-LS"
    if ts in JPEGTransferSyntaxes:
        return "JPEG"
    if ts == RLELossless:
        return "RLE"
    return None


def _extended_offsets(ds: Dataset) -> tuple[bytes, bytes] | None:
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        return ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths
    return None


def check_encapsulated_frames(ds: Dataset, ts: UID, name: str, limit: int) -> None:
    """Refuse encapsulated pixel data whose frame headers disagree with the dataset.

    Parameters
    ----------
    ds
        The dataset as read (its Rows, Columns, SamplesPerPixel, BitsAllocated and
        NumberOfFrames already passed the pixel-count guard).
    ts
        Its transfer syntax. Native (uncompressed) syntaxes and those without a
        frame check here return at once; what they decode to is fixed by the header.
    name
        The file's base name, for messages.
    limit
        The pixel-count limit (samples over all frames).

    Raises
    ------
    ImageTooLargeError
        A frame's header declares more samples than the dataset, or the frames
        together exceed ``limit``. Nothing was decoded.
    InvalidDicomError
        A frame's header is missing, corrupt or disagrees with the dataset.
    """
    kind = _kind(ts)
    if kind is None or not ts.is_encapsulated or "PixelData" not in ds:
        return
    rows, cols = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.get("BitsAllocated", 0) or 0)
    try:
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        n_frames = 1
    declared = f"{cols}x{rows} x {samples} samples"
    total = 0
    try:
        frames = generate_frames(
            ds.PixelData, number_of_frames=n_frames, extended_offsets=_extended_offsets(ds)
        )
        for index, frame in enumerate(frames):
            if kind == "RLE":
                _check_rle(frame, rows, cols, samples * max(1, bits // 8))
                total += rows * cols * samples
            else:
                head = j2k_header(frame) if kind == "JPEG 2000" else jpeg_header(frame)
                found = f"{head.width}x{head.height} x {head.components} samples"
                if head.samples > rows * cols * samples:
                    raise ImageTooLargeError(
                        f"{name}: {kind} frame {index} holds {found}, the header declares "
                        f"{declared} (a decompression bomb); nothing was decoded"
                    )
                if (head.width, head.height, head.components) != (cols, rows, samples):
                    raise InvalidDicomError(
                        f"{name}: {kind} frame {index} holds {found}, the header declares "
                        f"{declared}; nothing was decoded"
                    )
                if bits and head.precision > bits:
                    raise InvalidDicomError(
                        f"{name}: {kind} frame {index} has {head.precision}-bit samples, "
                        f"more than BitsAllocated {bits}; nothing was decoded"
                    )
                total += head.samples
            if total > limit:
                raise ImageTooLargeError(
                    f"{name}: the {kind} frames hold more than {limit} samples "
                    "(MEDSEAL_MAX_PIXELS); nothing was decoded"
                )
    except (InvalidDicomError, ImageTooLargeError):
        raise
    except _Malformed as exc:
        raise InvalidDicomError(
            f"{name}: {kind} frame header refused before decoding: {exc}"
        ) from None
    except (ValueError, KeyError, struct.error) as exc:  # pydicom cannot split the frames
        raise InvalidDicomError(
            f"{name}: the encapsulated {kind} frames could not be located "
            f"({type(exc).__name__}); nothing was decoded"
        ) from None
