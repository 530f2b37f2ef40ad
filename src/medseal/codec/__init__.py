"""Codec stage: lossless compression (HTJ2K, JPEG-LS, JPEG 2000), the MSPK container, DICOM export.

Flow: ``ingest`` (:class:`~medseal.types.Image`) -> :func:`encode` ->
:class:`~medseal.types.EncodedImage` -> :func:`pack` -> bytes that ``crypto``
seals. On the way back :func:`unpack` and :func:`decode` give the stored pixel
values (bit-exact when lossless), and :func:`to_dicom` / :func:`write_dicom`
export the stored codestreams as a standard DICOM file, in the transfer
syntax the receiver asks for (:class:`TransferSyntax`).

Backends are registered by name and imported only when used
(:func:`available_codecs` says which work here and what to install otherwise);
the default, :func:`default_codec`, is the fastest by measurement
(``docs/codec.md``). Importing this package stays light: pydicom loads only
when a DICOM header is packed or read, and the DICOM export on first use.

Examples
--------
>>> import numpy as np
>>> from medseal.codec import decode, encode, pack, unpack
>>> from medseal.types import Image
>>> img = Image(pixels=np.arange(256, dtype=np.uint16).reshape(16, 16), bits_stored=8)
>>> enc, header = unpack(pack(encode(img)))
>>> bool((decode(enc) == img.pixels).all())
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from medseal.codec.pack import pack, unpack
from medseal.codec.registry import (
    DEFAULT_CODEC,
    CodecName,
    available_codecs,
    decode,
    default_codec,
    encode,
    read_siz,
    register_backend,
)

if TYPE_CHECKING:  # pragma: no cover
    from medseal.codec.dicom_export import (
        TransferSyntax,
        parse_transfer_syntax,
        to_dicom,
        transcode_dicom,
        write_dicom,
    )

__all__ = [
    "DEFAULT_CODEC",
    "CodecName",
    "TransferSyntax",
    "available_codecs",
    "decode",
    "default_codec",
    "encode",
    "pack",
    "parse_transfer_syntax",
    "read_siz",
    "register_backend",
    "to_dicom",
    "transcode_dicom",
    "unpack",
    "write_dicom",
]

#: names loaded on first use (PEP 562): the DICOM export imports pydicom
_LAZY = {
    "TransferSyntax": "medseal.codec.dicom_export",
    "parse_transfer_syntax": "medseal.codec.dicom_export",
    "to_dicom": "medseal.codec.dicom_export",
    "transcode_dicom": "medseal.codec.dicom_export",
    "write_dicom": "medseal.codec.dicom_export",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
