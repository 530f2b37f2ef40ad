"""medseal: privacy-preserving AI on medical images.

Store images encrypted, compute only on masked or encrypted representations,
and measure honestly how much each privacy mode leaks.

The names a user types first are available here and imported on first use::

    import medseal
    ring = medseal.KeyRing.create("ring.json", passphrase="...")
    vault = medseal.Vault.init("myvault", keyring=ring, owner="olivia")
    img = medseal.read_dicom("CT_small.dcm", deidentifier=vault.deidentifier)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medseal._lazy import lazy_exports

if TYPE_CHECKING:  # what mypy and IDEs see; at run time each name is imported on first use
    from medseal.crypto import KeyRing, seal, unseal
    from medseal.ingest import read_dicom, read_image, to_display
    from medseal.types import Image
    from medseal.vault import Role, Vault

__version__ = "0.1.0"

_EXPORTS = {
    "Vault": "medseal.vault",
    "Role": "medseal.vault",
    "KeyRing": "medseal.crypto",
    "seal": "medseal.crypto",
    "unseal": "medseal.crypto",
    "read_dicom": "medseal.ingest",
    "read_image": "medseal.ingest",
    "to_display": "medseal.ingest",
    "Image": "medseal.types",
}

__all__ = [
    "Image",
    "KeyRing",
    "Role",
    "Vault",
    "__version__",
    "read_dicom",
    "read_image",
    "seal",
    "to_display",
    "unseal",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted(__all__)
