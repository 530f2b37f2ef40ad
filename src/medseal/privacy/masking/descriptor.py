"""What a stored masked image was masked with: the typed descriptor and its manifest form.

Where it sits: privacy stage, beside the schemes. The data owner stores a
masked copy in the vault together with :meth:`MaskDescriptor.to_manifest`
(``manifest["meta"]["scheme"]``); whoever reads the copy later (an analyst
loading training arrays, the prediction workflow, the mask workflow skipping
copies it already made) parses it back with :meth:`MaskDescriptor.from_manifest`,
the one place that knows the manifest layout. The descriptor is PHI-free and
key-free: a scheme name, its geometry, the key fingerprint and the honest claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from medseal.privacy.masking.schemes import MaskingScheme

__all__ = ["MaskDescriptor"]

#: the offset of a masked copy of the image itself (not of a shifted plaintext)
NO_SHIFT = (0, 0)


@dataclass(frozen=True)
class MaskDescriptor:
    """A scheme's public description (:meth:`MaskingScheme.describe`) plus the copy's shift.

    ``shift`` is the cyclic ``(dy, dx)`` shift of the plaintext behind a copy
    made for owner-side augmentation; ``(0, 0)`` for the masked image itself.
    ``fields`` is the scheme's full description as stored (claims included),
    kept verbatim so the manifest form round-trips exactly.
    """

    fields: Mapping[str, Any] = field(repr=False)
    shift: tuple[int, int] = NO_SHIFT

    @classmethod
    def of(cls, scheme: MaskingScheme, *, shift: tuple[int, int] = NO_SHIFT) -> MaskDescriptor:
        """The descriptor of copies masked by ``scheme`` (shifted by ``shift``)."""
        return cls(scheme.describe(), (int(shift[0]), int(shift[1])))

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> MaskDescriptor:
        """Parse :meth:`to_dict`'s form (e.g. the ``scheme`` of a saved model)."""
        s = doc.get("shift") or NO_SHIFT
        fields = {k: v for k, v in doc.items() if k != "shift"}
        return cls(fields, (int(s[0]), int(s[1])))

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> MaskDescriptor:
        """The descriptor stored in a vault object's manifest (empty for an unmasked object)."""
        meta = manifest.get("meta") or {}
        return cls.from_dict(meta.get("scheme") or {})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored as ``manifest["meta"]["scheme"]`` (``shift`` only when set)."""
        out = dict(self.fields)
        if self.shift != NO_SHIFT:
            out["shift"] = list(self.shift)
        return out

    def shifted(self, shift: tuple[int, int]) -> MaskDescriptor:
        """The same masking, for a copy of the plaintext shifted by ``shift``."""
        return MaskDescriptor(self.fields, (int(shift[0]), int(shift[1])))

    @property
    def scheme(self) -> str:
        """Steps joined by ``+`` (e.g. ``"shuffle+negpos"``)."""
        return str(self.fields.get("scheme", ""))

    @property
    def steps(self) -> tuple[str, ...]:
        """The elementary steps, in order (empty for an unmasked object)."""
        return tuple(s for s in self.scheme.split("+") if s)

    @property
    def block(self) -> int | None:
        """Block side ``M`` in pixels."""
        b = self.fields.get("block")
        return None if b is None else int(b)

    @property
    def key_id(self) -> str | None:
        """Public fingerprint of the key (never the key)."""
        k = self.fields.get("key_id")
        return None if k is None else str(k)

    @property
    def learnable_blockwise(self) -> bool:
        """Whether one block-wise layer can learn the transform (``False`` for per-image keys)."""
        return self.fields.get("learnable_blockwise") is not False

    @property
    def masking(self) -> tuple[str, str | None, int | None]:
        """``(scheme, key_id, block)``: copies with equal values were masked the same way."""
        return self.scheme, self.key_id, self.block

    def same_masking(self, other: MaskDescriptor) -> bool:
        """Whether ``other`` describes copies masked by the same scheme, key and block."""
        return self.masking == other.masking
