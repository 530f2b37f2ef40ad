"""MONAI-style transforms wrapping a masking scheme: an array form and a dictionary form.

Sits in the ``privacy`` stage; these drop into MONAI ``Compose`` or torchvision
pipelines (they need neither library) so a data loader can hand a model masked
images. Both are invertible by the key holder through ``.inverse``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from types import EllipsisType
from typing import Any

from medseal.errors import InputError
from medseal.privacy.masking.schemes import MaskingScheme

__all__ = ["MaskImage", "MaskImaged"]


class MaskImage:
    """Mask one array or tensor with ``scheme`` (``MaskImage(scheme)(img)``).

    Parameters
    ----------
    scheme : MaskingScheme
        The keyed scheme (holds the key; the transform's repr shows only its fingerprint).
    channel_axis : int or None, keyword-only
        Channel axis of the inputs; default: the scheme's. MONAI arrays are
        channel-first, i.e. ``channel_axis=0``; for one grey channel this gives
        the same result as ``None``.
    inverse : bool, keyword-only
        Build the unmasking transform instead.

    Examples
    --------
    >>> import numpy as np
    >>> from medseal.privacy.masking import make_scheme
    >>> t = MaskImage(make_scheme(key=bytes(32), block=4), channel_axis=0)
    >>> img = np.zeros((1, 8, 8), dtype=np.uint8)
    >>> t(img).shape
    (1, 8, 8)
    """

    def __init__(
        self,
        scheme: MaskingScheme,
        *,
        channel_axis: int | None | EllipsisType = ...,
        inverse: bool = False,
    ) -> None:
        if not isinstance(scheme, MaskingScheme):
            raise TypeError(f"scheme must be a MaskingScheme, got {type(scheme).__name__}")
        self.scheme = scheme
        self.channel_axis = channel_axis
        self.invert = inverse

    def __call__(self, img: Any, image_id: str | bytes | None = None) -> Any:
        scheme = self.scheme if image_id is None else self.scheme.for_image(image_id)
        if self.invert:
            return scheme.unmask(img, channel_axis=self.channel_axis)
        return scheme.mask(img, channel_axis=self.channel_axis)

    def inverse(self, img: Any, image_id: str | bytes | None = None) -> Any:
        """Undo :meth:`__call__`."""
        scheme = self.scheme if image_id is None else self.scheme.for_image(image_id)
        if self.invert:
            return scheme.mask(img, channel_axis=self.channel_axis)
        return scheme.unmask(img, channel_axis=self.channel_axis)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.scheme!r}, inverse={self.invert})"


class MaskImaged:
    """Dictionary form of :class:`MaskImage`: masks ``data[key]`` for each of ``keys``.

    Returns a new dict; every other entry is passed through as the same object.

    Parameters
    ----------
    keys : str or iterable of str
        Entries to mask (e.g. ``("image",)``); labels are usually left alone.
    scheme : MaskingScheme, keyword-only
    channel_axis, inverse : keyword-only
        As for :class:`MaskImage`.
    image_id_key : str, keyword-only
        If set, ``data[image_id_key]`` names the image and it is masked under
        its per-image key (:meth:`MaskingScheme.for_image`).
    allow_missing_keys : bool, keyword-only
        Skip absent keys instead of raising :class:`InputError` (as in MONAI).
    """

    def __init__(
        self,
        keys: Hashable | Iterable[Hashable],
        *,
        scheme: MaskingScheme,
        channel_axis: int | None | EllipsisType = ...,
        inverse: bool = False,
        image_id_key: Hashable | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):
            self.keys: tuple[Hashable, ...] = (keys,)
        else:
            self.keys = tuple(keys)
        if not self.keys:
            raise InputError("MaskImaged needs at least one key")
        self.transform = MaskImage(scheme, channel_axis=channel_axis, inverse=inverse)
        self.image_id_key = image_id_key
        self.allow_missing_keys = allow_missing_keys

    def _apply(self, data: Mapping[Hashable, Any], forward: bool) -> dict[Hashable, Any]:
        out = dict(data)
        image_id = None
        if self.image_id_key is not None:
            if self.image_id_key not in data:
                raise InputError(f"image id entry {self.image_id_key!r} is missing")
            raw = data[self.image_id_key]
            # ids such as ints or numpy scalars are keyed by their text form
            image_id = raw if isinstance(raw, str | bytes) else str(raw)
        for key in self.keys:
            if key not in data:
                if self.allow_missing_keys:
                    continue
                raise InputError(f"key {key!r} is missing (pass allow_missing_keys=True to skip)")
            fn = self.transform if forward else self.transform.inverse
            out[key] = fn(data[key], image_id)
        return out

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        return self._apply(data, forward=True)

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Undo :meth:`__call__` on the same keys."""
        return self._apply(data, forward=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keys={self.keys!r}, scheme={self.transform.scheme!r})"
