"""Crash-injection points for the durability tests of :meth:`Vault.put` and of batches
(:meth:`Vault.put_many`, :meth:`Vault.ingest`: the same points, once per group commit).

Setting ``MEDSEAL_CRASH_AT=<name>`` makes the process kill itself with SIGKILL
when it reaches that point, as a power cut or OOM kill would. Tests run a
``put`` in a subprocess with each point set and then check that the vault is
consistent and lost nothing. Without the variable this is one comparison.
"""

from __future__ import annotations

import os
import signal

__all__ = ["PUT_CRASHPOINTS", "crashpoint"]

PUT_CRASHPOINTS = (
    "put:encoded",
    "put:sealed",
    "put:blob-partial",
    "put:blob-written",
    "put:blob-renamed",
    "put:row-inserted",
    "put:committed",
)


# Read once: the tests set it in the environment of the subprocess they start.
_CRASH_AT = os.environ.get("MEDSEAL_CRASH_AT")


def crashpoint(name: str) -> None:
    if _CRASH_AT is not None and name == _CRASH_AT:  # pragma: no cover - in subprocesses
        os.kill(os.getpid(), signal.SIGKILL)
