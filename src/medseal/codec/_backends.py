"""The codec registry: codec names, backends registered by name, the default.

Backends are registered by name, as pydicom registers its pixel-data plugins:
each lives in its own module, is imported only when used, and says what to
install when its library is missing. :func:`available_codecs` lists them all,
usable or not.

The default codec is HTJ2K, the fastest lossless DICOM-standard codec measured
here (``benchmarks/codec.py``, table and rule in ``docs/codec.md``);
:func:`default_codec` falls back to classic JPEG 2000 where no HTJ2K encoder
is installed.

Public names are imported from :mod:`medseal.codec.registry` (or the package).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, Unpack, cast

import numpy as np

from medseal.codec._probe import FrameOptions
from medseal.errors import CodecError, CodecUnavailableError


class CodecName(StrEnum):
    """The codecs medseal knows; plain strings (``"j2k"``) are accepted too.

    All three are lossless DICOM transfer syntaxes: ``j2k`` JPEG 2000 Part 1
    (``1.2.840.10008.1.2.4.90``), ``htj2k`` High-Throughput JPEG 2000 Part 15
    (``.201``), ``jpegls`` JPEG-LS (``.80``, lossless only here).
    """

    J2K = "j2k"
    HTJ2K = "htj2k"
    JPEGLS = "jpegls"


#: The fastest lossless DICOM-standard codec by measurement (docs/codec.md).
DEFAULT_CODEC = CodecName.HTJ2K


class UnknownCodecError(CodecError, ValueError):
    """A codec name that no backend is registered under."""


class Backend(Protocol):
    """What a backend module provides (module-level functions)."""

    def unavailable_reason(self) -> str | None:
        """``None`` when encoding works, else what is missing and what to install."""

    def encode_frame(self, frame: np.ndarray, **options: Unpack[FrameOptions]) -> bytes:
        """One frame ``(rows, cols)`` or ``(rows, cols, 3)`` -> one raw codestream."""

    def decode_frame(self, codestream: bytes) -> np.ndarray:
        """One raw codestream -> ``(rows, cols)`` or ``(rows, cols, samples)``."""


@dataclass(frozen=True)
class _Spec:
    name: str
    module: str
    requires: str


_REGISTRY: dict[str, _Spec] = {}


def register_backend(name: str, module: str, *, requires: str) -> None:
    """Register a backend module under ``name`` (imported lazily on first use).

    Parameters
    ----------
    name
        The codec name users pass to :func:`encode` (e.g. ``"j2k"``).
    module
        Dotted path of a module implementing :class:`Backend`'s functions.
    requires
        What a user installs to make it work (shown when it is missing).
    """
    _REGISTRY[str(name)] = _Spec(str(name), module, requires)


register_backend(CodecName.J2K, "medseal.codec.openjpeg", requires="pylibjpeg-openjpeg")
register_backend(CodecName.HTJ2K, "medseal.codec.htj2k", requires="imagecodecs")
register_backend(CodecName.JPEGLS, "medseal.codec.jpegls", requires="imagecodecs")


def backend_spec(name: CodecName | str) -> _Spec:
    """The registration under ``name`` (any case); :class:`UnknownCodecError` if none."""
    key = str(name).lower()
    try:
        return _REGISTRY[key]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownCodecError(f"unknown codec {key!r}; known codecs: {known}") from None


def get_backend(name: CodecName | str) -> Backend:
    """The backend module registered under ``name`` (imported now).

    Raises
    ------
    UnknownCodecError
        No backend has that name.
    CodecUnavailableError
        The backend module itself could not be imported.
    """
    spec = backend_spec(name)
    try:
        module = importlib.import_module(spec.module)
    except ImportError as exc:
        raise CodecUnavailableError(
            f"codec {spec.name!r} is unavailable ({exc.name or 'import failed'}); "
            f"install it with: pip install {spec.requires}"
        ) from None
    return cast(Backend, module)


def available_codecs() -> dict[str, str | None]:
    """Every registered codec: ``None`` if it can encode here, else why not.

    Examples
    --------
    >>> available_codecs()["j2k"] is None
    True
    """
    out: dict[str, str | None] = {}
    for name in sorted(_REGISTRY):
        try:
            out[name] = get_backend(name).unavailable_reason()
        except CodecUnavailableError as exc:
            out[name] = str(exc)
    return out


def default_codec() -> CodecName:
    """:data:`DEFAULT_CODEC` when it can encode here, else classic JPEG 2000 (``j2k``).

    Examples
    --------
    >>> default_codec() in (CodecName.HTJ2K, CodecName.J2K)
    True
    """
    try:
        reason = get_backend(DEFAULT_CODEC).unavailable_reason()
    except CodecUnavailableError:
        reason = "unavailable"
    return DEFAULT_CODEC if reason is None else CodecName.J2K
