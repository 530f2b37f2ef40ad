"""MORE (Matrix Operation for Randomization or Encryption) as a NumPy-like tensor type.

Client side: :class:`MoreKey` (secret) encrypts and decrypts. Server side:
:class:`MorePublicContext` (no secret) and :class:`MoreTensor` compute on
ciphertexts: ``+ - * / @``, sums, reshapes, convolution and matrix functions
(``exp``, ``log``, ``tanh``, ``sigmoid``, ``softplus``, ``relu`` ...).

MORE is fast and exact but gives **no** confidentiality against a host that
computes eigenvalues of ciphertexts; :mod:`medseal.evaluate.attacks.more_eigenvalue`
demonstrates it. Use the CKKS mode (:mod:`medseal.privacy.ckks`, ``docs/he.md``)
when protection is needed. See ``docs/more.md``; the byte format (and its
``FORMAT_VERSION``) is in :mod:`medseal.privacy.more.serialize`, the files
between client and compute host (:class:`EncryptedBundle`, :class:`FoldResults`)
in :mod:`medseal.privacy.more.bundle`.

Example
-------
>>> import numpy as np
>>> from medseal.privacy.more import MoreKey
>>> key = MoreKey.generate(n=2, seed=0)
>>> ctx = key.public_context()              # send this to the server
>>> c = key.encrypt(np.array([0.25, 2.0]))  # and this (c.to_bytes())
>>> np.allclose(key.decrypt((c * c + 1.0).log()), np.log([0.25**2 + 1, 5.0]))
True
"""

from __future__ import annotations

from medseal.privacy.more.algebra import AlgebraProjector
from medseal.privacy.more.bundle import EncryptedBundle, FoldResults
from medseal.privacy.more.context import MorePublicContext
from medseal.privacy.more.errors import (
    MoreContextMismatchError,
    MoreFormatError,
    MoreIndexError,
    MoreKeyPickleError,
    MoreShapeError,
)
from medseal.privacy.more.functions import (
    avg_pool2d,
    concatenate,
    conv2d,
    conv2d_input_grad,
    conv2d_weight_grad,
    stack,
)
from medseal.privacy.more.key import DEFAULT_NOISE_RANGE, MoreKey, is_clear_key
from medseal.privacy.more.tensor import MoreTensor

__all__ = [
    "AlgebraProjector",
    "DEFAULT_NOISE_RANGE",
    "EncryptedBundle",
    "FoldResults",
    "MoreContextMismatchError",
    "MoreFormatError",
    "MoreIndexError",
    "MoreKey",
    "MoreKeyPickleError",
    "MorePublicContext",
    "MoreShapeError",
    "MoreTensor",
    "avg_pool2d",
    "concatenate",
    "conv2d",
    "conv2d_input_grad",
    "conv2d_weight_grad",
    "is_clear_key",
    "stack",
]
