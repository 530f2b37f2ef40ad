"""Codec stage: JPEG 2000 compression, the MSPK container and standard DICOM export.

Flow: ``ingest`` (:class:`~medseal.types.Image`) -> :func:`encode` ->
:class:`~medseal.types.EncodedImage` -> :func:`pack` -> bytes that ``crypto``
seals. On the way back :func:`unpack` and :func:`decode` give the stored pixel
values (bit-exact when lossless), and :func:`to_dicom` / :func:`write_dicom`
export the stored codestreams as a standard JPEG 2000 DICOM file.

Backends are registered by name and imported only when used
(:func:`available_codecs` says which work here and what to install otherwise).

Examples
--------
>>> import numpy as np
>>> from medseal.types import Image
>>> img = Image(pixels=np.arange(256, dtype=np.uint16).reshape(16, 16), bits_stored=8)
>>> enc, header = unpack(pack(encode(img)))
>>> bool((decode(enc) == img.pixels).all())
True
"""

from __future__ import annotations

from medseal.codec.dicom_export import to_dicom, write_dicom
from medseal.codec.pack import pack, unpack
from medseal.codec.registry import (
    CodecName,
    available_codecs,
    decode,
    encode,
    read_siz,
    register_backend,
)

__all__ = [
    "CodecName",
    "available_codecs",
    "decode",
    "encode",
    "pack",
    "read_siz",
    "register_backend",
    "to_dicom",
    "unpack",
    "write_dicom",
]
