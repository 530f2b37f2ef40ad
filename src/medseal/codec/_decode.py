"""``decode``: an :class:`~medseal.types.EncodedImage` back to its stored pixel values.

Every size is checked first (the recorded shape and each codestream's own
header, with :mod:`medseal.codec._guard`), then each frame is checked to be
complete and decoded by its backend.

Public names are imported from :mod:`medseal.codec.registry` (or the package).
"""

from __future__ import annotations

import math

import numpy as np

from medseal.codec._backends import get_backend
from medseal.codec._guard import SUPPORTED_DTYPES, check_size, frame_info
from medseal.config import max_pixels as default_max_pixels
from medseal.errors import CodecError, ImageTooLargeError
from medseal.types import EncodedImage


def _expected_components(fshape: tuple[int, ...]) -> int:
    return fshape[2] if len(fshape) == 3 else 1


def decode(enc: EncodedImage, *, max_pixels: int | None = None) -> np.ndarray:
    """Decompress an :class:`EncodedImage` to its stored pixel values.

    Parameters
    ----------
    enc
        From :func:`encode` or :func:`medseal.codec.unpack`.
    max_pixels
        Pixel-sample limit (default :func:`medseal.config.max_pixels`). Both the
        recorded shape and every codestream's own SIZ header are checked
        before anything is decoded.

    Returns
    -------
    numpy.ndarray
        ``enc.shape`` and ``enc.dtype``; bit-exact to the input when lossless.

    Raises
    ------
    ImageTooLargeError
        Recorded shape or a codestream header exceeds ``max_pixels``.
    CodecError
        Corrupt, truncated or inconsistent codestream.
    """
    if enc.dtype not in SUPPORTED_DTYPES:
        raise CodecError(f"encoded dtype {enc.dtype!r} is not one medseal writes")
    shape = tuple(enc.shape)
    fshape = check_size(shape, len(enc.frames), max_pixels)
    limit = default_max_pixels() if max_pixels is None else int(max_pixels)
    sizs = [frame_info(enc.codec, cs) for cs in enc.frames]
    claimed = sum(s.samples for s in sizs)
    if claimed > limit:
        raise ImageTooLargeError(
            f"codestream headers claim {claimed} pixel samples, above the limit of {limit}"
        )
    want = (fshape[1], fshape[0], _expected_components(fshape))
    for siz in sizs:
        if (siz.width, siz.height, siz.components) != want:
            raise CodecError(
                f"codestream header says {siz.height} x {siz.width} x {siz.components}, "
                f"the record says {fshape}"
            )
    backend = get_backend(enc.codec)
    dtype = np.dtype(enc.dtype)
    out = np.empty((len(enc.frames), *fshape), dtype=dtype)
    for i, cs in enumerate(enc.frames):
        _check_complete(cs)
        try:
            arr = backend.decode_frame(bytes(cs))
        except CodecError:
            raise
        except Exception as exc:  # the C libraries raise RuntimeError/ValueError/...
            raise CodecError(f"could not decode frame {i}: {type(exc).__name__}") from None
        if arr.size != math.prod(fshape):
            raise CodecError(f"frame {i} decoded to an unexpected size")
        arr = arr.reshape(fshape)
        if arr.dtype.kind in "iu" and arr.dtype.itemsize == dtype.itemsize:
            arr = arr.view(dtype)  # JPEG-LS codes signed data as its unsigned bit pattern
        out[i] = arr.astype(dtype, copy=False)
    return out if len(enc.frames) > 1 else out[0]


def _check_complete(codestream: bytes) -> None:
    # OpenJPEG decodes a truncated codestream "as far as it goes" and returns a
    # partial image without raising; a complete one ends with the EOC marker
    # (JPEG 2000) or EOI marker (JPEG-LS), both FF D9.
    tail = bytes(codestream[-3:])
    if not (tail.endswith(b"\xff\xd9") or tail == b"\xff\xd9\x00"):
        raise CodecError("truncated codestream (no end-of-codestream marker at the end)")
