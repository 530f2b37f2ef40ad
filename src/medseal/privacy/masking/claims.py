"""What each masking step hides and what it does not: the honest claims, as sentences.

Where it sits: privacy stage; :meth:`MaskingScheme.describe` carries these
lists, the tests check them (``tests/privacy/test_masking_claims.py``) and
``evaluate/attacks`` measures the known attacks they name.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = ["DEFAULT_SCHEME", "MaskKind", "claims"]


class MaskKind(StrEnum):
    """The elementary schemes, by the names :func:`make_scheme` accepts."""

    BLOCK = "block"
    SHUFFLE = "shuffle"
    NEGPOS = "negpos"


DEFAULT_SCHEME = "shuffle+negpos"


def claims(
    steps: Iterable[str], negpos_fraction: float | None = None
) -> tuple[list[str], list[str]]:
    """What a chain of steps hides and what it does not, as two lists of sentences.

    Each sentence is a claim the tests check (``tests/privacy/test_masking_claims.py``)
    or a known attack that ``evaluate/attacks`` measures.
    """
    present = {MaskKind(s) for s in steps}
    block = MaskKind.BLOCK in present
    shuffle = MaskKind.SHUFFLE in present
    negpos = MaskKind.NEGPOS in present
    hides: list[str] = []
    reveals: list[str] = ["the image size and block grid; this is NOT semantically secure"]
    if block:
        hides.append("the position of each block (the global layout of the image)")
    if shuffle:
        hides.append("the arrangement of values inside each block (edges, fine texture)")
    if negpos:
        hides.append("the sign of (x - mid) at the keyed flipped positions")
    if not negpos:
        reveals.append("the global histogram (values are only moved, never changed)")
        reveals.append(
            "the content of every block, unchanged (the multiset of blocks is preserved)"
            if not shuffle
            else "each block's histogram, mean and variance (a 1/M-resolution thumbnail)"
        )
    else:
        reveals.append(
            "|x - mid| at every value, so each block's multiset of |x - mid| "
            "(a 1/M-resolution contrast thumbnail)"
        )
        if not shuffle:
            reveals.append("the values at the unflipped positions (a regular subsampled image)")
        if negpos_fraction in (0.0, 1.0):
            reveals.append(
                f"negpos_fraction={negpos_fraction}: flips none or all values "
                "(identity or plain inversion)"
            )
    if block:
        reveals.append("edge continuity between blocks: jigsaw solvers re-assemble the image")
    else:
        reveals.append("block positions: the image layout at block resolution")
    if shuffle or negpos:
        reveals.append(
            "one in-block transform for every block and every image under the key: "
            "a single known plain/masked pair reveals it; learned inverses approximate it"
        )
    if block:
        reveals.append("one block order for every image of the same size under the key")
    return hides, reveals
