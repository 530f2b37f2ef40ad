"""Parsers of image codestream headers (JPEG 2000 SIZ, JPEG/JPEG-LS frame headers).

Where it sits: beside ``errors`` and ``types``, below every stage, with no
imports beyond the standard library: the ingest frame guard checks DICOM
frames with it before decoding, and the codec registry reads stored frames'
headers with it (without importing the ingest stage). Only header bytes are
read, never the coded data, so the parsers are safe on hostile input. They
raise :class:`MalformedHeader` (a ``ValueError`` whose message is a reason,
never data).
"""

from __future__ import annotations

import struct

__all__ = ["SOC_SIZ", "MalformedHeader", "frame_segment", "siz_segment", "sof_fields"]

#: start of a raw JPEG 2000 codestream: SOC then SIZ
SOC_SIZ = b"\xff\x4f\xff\x51"
#: markers without a length field (TEM, RSTn)
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


class MalformedHeader(ValueError):
    """A header that cannot be parsed (the message is a reason, no data)."""


def siz_segment(data: bytes) -> tuple[int, int, tuple[int, ...]]:
    """``(width, height, Ssiz byte of each component)`` of the SIZ segment ``data`` starts with.

    The one SIZ parser (ISO/IEC 15444-1 A.5.1): the frame guard and the codec
    registry both read headers with it. Raises ``ValueError`` (no data in the
    message) when ``data`` does not start with SOC + SIZ or the segment is
    inconsistent.
    """
    if data[:4] != SOC_SIZ:
        raise MalformedHeader("the codestream does not start with the SOC and SIZ markers")
    if len(data) < 42:
        raise MalformedHeader("the SIZ marker segment is truncated")
    (lsiz,) = struct.unpack_from(">H", data, 4)
    xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">IIII", data, 8)
    (csiz,) = struct.unpack_from(">H", data, 40)
    if not 1 <= csiz <= 16384 or lsiz != 38 + 3 * csiz or len(data) < 4 + lsiz:
        raise MalformedHeader("the SIZ marker segment is corrupt")
    if xsiz <= xosiz or ysiz <= yosiz:
        raise MalformedHeader("the SIZ marker segment describes an empty image")
    ssiz = []
    for i in range(csiz):
        s, xrsiz, yrsiz = data[42 + 3 * i : 45 + 3 * i]
        if xrsiz == 0 or yrsiz == 0:
            raise MalformedHeader("the SIZ marker segment has a zero sub-sampling factor")
        ssiz.append(s)
    return xsiz - xosiz, ysiz - yosiz, tuple(ssiz)


def frame_segment(data: bytes, markers: frozenset[int]) -> int | None:
    """Offset of the first marker in ``markers`` before the first scan (``data`` starts at SOI).

    The one JPEG marker walk: segments are skipped by their lengths (a few
    dozen bytes, never the coded data), so it is safe on hostile input.
    ``None`` when a scan (SOS) or the end (EOI) comes first. Raises
    ``ValueError`` on a corrupt marker or segment length.
    """
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            raise MalformedHeader("a corrupt marker before the frame header")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # SOS, EOI
            return None
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > end:
            raise MalformedHeader("a corrupt marker segment before the frame header")
        if marker in markers:
            return pos
        pos += 2 + length
    return None


def sof_fields(data: bytes, pos: int) -> tuple[int, int, int, int]:
    """``(precision, height, width, components)`` of the frame header at offset ``pos``."""
    (length,) = struct.unpack_from(">H", data, pos + 2)
    if length < 8:
        raise MalformedHeader("the frame header is corrupt")
    precision = data[pos + 4]
    height, width = struct.unpack_from(">HH", data, pos + 5)
    components = data[pos + 9]
    if length != 8 + 3 * components or components == 0:
        raise MalformedHeader("the frame header is corrupt")
    return precision, height, width, components
