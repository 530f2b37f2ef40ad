"""Small shared value types handed from one stage of the flow to the next.

``Image`` (ingest) -> ``EncodedImage`` (codec) -> sealed bytes (crypto) ->
``ObjectRef`` (vault). They are frozen dataclasses; none of their reprs shows
pixels, PHI or key material.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from pydicom.dataset import Dataset

__all__ = ["DeidReport", "EncodedImage", "Image", "ObjectRef"]


@dataclass(frozen=True, eq=False)
class DeidReport:
    """What de-identification did to one DICOM header.

    ``removed`` and ``changed`` list tag keywords (or ``(gggg,eeee)`` for
    private/unknown tags), never values. ``pseudonyms`` maps original
    identifiers to their replacements: it *is* PHI, is stored only encrypted in
    the vault, and is hidden from ``repr``.
    """

    profile: str
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    burned_in_annotation: str  # "YES" | "NO" | "UNKNOWN"
    pseudonyms: Mapping[str, str] = field(default_factory=dict, repr=False)
    date_shift_days: int | None = field(default=None, repr=False)

    def manifest(self) -> dict[str, Any]:
        """The PHI-free part, fit for the object's manifest."""
        return {
            "profile": self.profile,
            "removed": list(self.removed),
            "changed": list(self.changed),
            "burned_in_annotation": self.burned_in_annotation,
        }


@dataclass(frozen=True, eq=False)
class Image:
    """A decoded image with the *stored* pixel values (bit-exact to the source).

    ``pixels`` is ``(rows, cols)``, ``(rows, cols, samples)``, ``(frames, rows,
    cols)`` or ``(frames, rows, cols, samples)``; ``frames`` says which.
    Display transforms (modality LUT, VOI LUT, MONOCHROME1 inversion) are not
    applied here; see :func:`medseal.ingest.dicom.to_display`.

    ``header`` is the (de-identified) DICOM header without pixel data, or
    ``None`` for non-DICOM sources. ``meta`` holds PHI-free facts (modality,
    label, rescale slope/intercept, source format ...).
    """

    pixels: np.ndarray = field(repr=False)
    photometric: str = "MONOCHROME2"
    bits_stored: int = 8
    frames: int = 1
    source: str = "array"
    header: Dataset | None = field(default=None, repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict)
    deid: DeidReport | None = None

    def __post_init__(self) -> None:
        # numpy on first use: `vault ls` handles no pixels and need not import it (~90 ms)
        import numpy as np

        if not isinstance(self.pixels, np.ndarray):
            raise TypeError(f"pixels must be a numpy array, got {type(self.pixels).__name__}")
        if self.frames < 1:
            raise ValueError(f"frames must be >= 1, got {self.frames}")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.pixels.shape)

    @property
    def samples_per_pixel(self) -> int:
        base = 3 if self.frames > 1 else 2
        return int(self.pixels.shape[base]) if self.pixels.ndim > base else 1

    @property
    def rows(self) -> int:
        return int(self.pixels.shape[1 if self.frames > 1 else 0])

    @property
    def cols(self) -> int:
        return int(self.pixels.shape[2 if self.frames > 1 else 1])

    def __repr__(self) -> str:
        return (
            f"Image(shape={self.shape}, dtype={self.pixels.dtype}, photometric={self.photometric!r}, "
            f"bits_stored={self.bits_stored}, frames={self.frames}, source={self.source!r})"
        )


@dataclass(frozen=True, eq=False)
class EncodedImage:
    """One image compressed by a codec: one codestream per frame plus what decoding needs."""

    codec: str
    frames: tuple[bytes, ...] = field(repr=False)
    shape: tuple[int, ...]
    dtype: str
    bits_stored: int
    photometric: str
    lossless: bool
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(len(f) for f in self.frames)


@dataclass(frozen=True)
class ObjectRef:
    """A handle to one stored vault object."""

    id: str
    dataset: str
    kind: str = "image"
