"""Keep pydicom quiet while PHI is parsed: its warnings and log records quote values.

pydicom reports an invalid value (an over-long UID, a malformed date ...) with
``warnings.warn`` *and* a record on the ``"pydicom"`` logger, both quoting the
value, and it parses elements lazily (nested ones when first touched), so such a
report can come from any line that reads a header. :func:`quiet_pydicom` drops
both in the current thread; ingest wraps reading, header extraction and
de-identification in it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator

__all__ = ["quiet_pydicom"]

_state = threading.local()


class _DropWhileQuiet(logging.Filter):
    """Drops the ``"pydicom"`` logger's records while this thread is inside quiet_pydicom()."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_state, "depth", 0)


_FILTER = _DropWhileQuiet()
if not any(isinstance(f, _DropWhileQuiet) for f in logging.getLogger("pydicom").filters):
    logging.getLogger("pydicom").addFilter(_FILTER)


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's warnings and log records in this thread (they can quote PHI)."""
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        _state.depth -= 1
