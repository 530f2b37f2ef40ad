"""The decompression-bomb guard: image sizes checked before any decoder allocates.

:func:`read_siz` parses a JPEG 2000 codestream's SIZ marker segment and
:func:`read_jpegls_header` a JPEG-LS SOF55 frame header (:func:`frame_info`
picks the parser for a codec); :func:`check_size` checks a recorded shape
against :func:`medseal.config.max_pixels`. :data:`SUPPORTED_DTYPES` and
:data:`MAX_SIDE` are what encoding accepts and decoding expects.

Public names are imported from :mod:`medseal.codec.registry` (or the package).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from medseal._codestreams import frame_segment, siz_segment, sof_fields
from medseal.codec._backends import CodecName, backend_spec
from medseal.config import max_pixels as default_max_pixels
from medseal.errors import CodecError, ImageTooLargeError

#: dtypes a codestream can carry bit-exactly here (and DICOM's BitsAllocated 8 or 16).
SUPPORTED_DTYPES = ("uint8", "int8", "uint16", "int16")
#: JPEG 2000 and DICOM both cap rows and columns at 2**16 - 1.
MAX_SIDE = 65535


@dataclass(frozen=True)
class SizInfo:
    """What a JPEG 2000 codestream's SIZ marker segment says about the image."""

    width: int
    height: int
    components: int
    precision: tuple[int, ...]
    signed: tuple[bool, ...]

    @property
    def samples(self) -> int:
        """Upper bound on the decoded sample count (sub-sampling ignored)."""
        return self.width * self.height * self.components


def read_siz(codestream: bytes) -> SizInfo:
    """Parse the SIZ marker segment at the start of a raw J2K/HTJ2K codestream.

    Only the header bytes are read (with :mod:`medseal._codestreams`), so
    this is safe on hostile input.

    Raises
    ------
    CodecError
        The bytes do not start with SOC + SIZ or the segment is inconsistent.
    """
    try:
        width, height, ssiz = siz_segment(bytes(codestream[: 4 + 38 + 3 * 16384]))
    except ValueError as exc:
        raise CodecError(f"not a valid raw JPEG 2000 codestream: {exc}") from None
    precision = tuple((s & 0x7F) + 1 for s in ssiz)
    return SizInfo(width, height, len(ssiz), precision, tuple(bool(s & 0x80) for s in ssiz))


#: the JPEG-LS frame header marker
_SOF55 = frozenset({0xF7})


def read_jpegls_header(codestream: bytes) -> SizInfo:
    """Parse the SOF55 frame header of a JPEG-LS codestream (ISO/IEC 14495-1 C.2.2).

    Marker segments before the first scan are walked by their lengths (a few
    dozen bytes, never the coded data), so this is safe on hostile input.
    JPEG-LS carries no sign: ``signed`` is always false.

    Raises
    ------
    CodecError
        No SOI, no SOF55 before the first scan, or an inconsistent header.
    """
    data = bytes(codestream[:65536])
    if data[:2] != b"\xff\xd8":
        raise CodecError("not a JPEG-LS codestream (no SOI marker at the start)")
    try:
        pos = frame_segment(data, _SOF55)
        fields = None if pos is None else sof_fields(data, pos)
    except ValueError as exc:
        raise CodecError(f"corrupt JPEG-LS codestream: {exc}") from None
    if fields is None:
        raise CodecError("not a JPEG-LS codestream (no SOF55 frame header before the first scan)")
    precision, height, width, components = fields
    if not (2 <= precision <= 16) or width < 1 or height < 1:
        raise CodecError("corrupt JPEG-LS frame header")
    return SizInfo(width, height, components, (precision,) * components, (False,) * components)


def frame_info(codec: CodecName | str, codestream: bytes) -> SizInfo:
    """What one stored frame's own header says, read with the parser for ``codec``."""
    if backend_spec(codec).name == CodecName.JPEGLS:
        return read_jpegls_header(codestream)
    return read_siz(codestream)


def frame_shape(enc_shape: tuple[int, ...], n_frames: int) -> tuple[int, ...]:
    """The shape of one frame of an encoded image of ``enc_shape`` with ``n_frames``."""
    if n_frames < 1:
        raise CodecError("encoded image has no frames")
    if n_frames > 1:
        if len(enc_shape) not in (3, 4) or enc_shape[0] != n_frames:
            raise CodecError("encoded image shape does not match its frame count")
        return tuple(enc_shape[1:])
    if len(enc_shape) not in (2, 3):
        raise CodecError("encoded image shape is not (rows, cols[, samples])")
    return tuple(enc_shape)


def check_size(shape: tuple[int, ...], n_frames: int, max_pixels: int | None) -> tuple[int, ...]:
    """Validate a recorded shape against ``max_pixels``; returns the per-frame shape.

    Raises
    ------
    ImageTooLargeError
        The image holds more pixel samples than allowed.
    CodecError
        The shape is malformed.
    """
    if any((not isinstance(n, int)) or isinstance(n, bool) or n < 1 for n in shape):
        raise CodecError("encoded image shape must hold positive integers")
    fshape = frame_shape(shape, n_frames)
    limit = default_max_pixels() if max_pixels is None else int(max_pixels)
    total = math.prod(shape)
    if total > limit:
        raise ImageTooLargeError(
            f"image holds {total} pixel samples, above the limit of {limit} (MEDSEAL_MAX_PIXELS)"
        )
    if fshape[0] > MAX_SIDE or fshape[1] > MAX_SIDE:
        raise CodecError("encoded image rows/columns exceed 65535")
    return fshape
