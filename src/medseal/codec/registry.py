"""Codec registry and the ``encode``/``decode`` front door of the codec stage.

Flow: ``ingest`` hands an :class:`~medseal.types.Image` to :func:`encode`, which
picks a backend by name (``htj2k``, ``jpegls``, ``j2k``) and returns an
:class:`~medseal.types.EncodedImage` (one raw codestream per frame);
``crypto`` then seals the bytes that :func:`medseal.codec.pack` makes of it.

This module is the public import path; the code lives in private modules, one
job each:

- :mod:`medseal.codec._backends`: codec names, backends registered by name and
  imported only when used (:func:`register_backend`, :func:`get_backend`,
  :func:`available_codecs`), and :func:`default_codec` (HTJ2K, the fastest
  lossless DICOM-standard codec measured here, ``docs/codec.md``; classic
  JPEG 2000 where no HTJ2K encoder is installed).
- :mod:`medseal.codec._guard`: the decompression-bomb guard. :func:`read_siz`
  parses a JPEG 2000 codestream's SIZ marker segment and
  :func:`read_jpegls_header` a JPEG-LS SOF55 frame header, so that image sizes
  are checked against :func:`medseal.config.max_pixels` *before* any decoder
  allocates memory.
- :mod:`medseal.codec._encode`: :func:`encode` (frame splitting, bit-depth and
  lossy-option checks, PSNR targets) and the JSON-safe form of its ``params``.
- :mod:`medseal.codec._decode`: :func:`decode`.
"""

from __future__ import annotations

from medseal.codec._backends import (
    DEFAULT_CODEC,
    Backend,
    CodecName,
    UnknownCodecError,
    available_codecs,
    default_codec,
    get_backend,
    register_backend,
)
from medseal.codec._decode import decode
from medseal.codec._encode import encode
from medseal.codec._encode import measure_psnr as measure_psnr
from medseal.codec._encode import params_jsonable as params_jsonable
from medseal.codec._guard import MAX_SIDE as MAX_SIDE
from medseal.codec._guard import SUPPORTED_DTYPES as SUPPORTED_DTYPES
from medseal.codec._guard import (
    SizInfo,
    frame_info,
    read_jpegls_header,
    read_siz,
)
from medseal.codec._guard import check_size as check_size
from medseal.codec._guard import frame_shape as frame_shape

__all__ = [
    "DEFAULT_CODEC",
    "Backend",
    "CodecName",
    "SizInfo",
    "UnknownCodecError",
    "available_codecs",
    "decode",
    "default_codec",
    "encode",
    "frame_info",
    "get_backend",
    "read_jpegls_header",
    "read_siz",
    "register_backend",
]
