"""``AlgebraProjector``: pull rounding drift back onto the ciphertext algebra, for any ``n``.

Every valid ciphertext under a key is ``S diag(d) S^-1``: an ``n``-dimensional
commutative algebra inside the ``n x n`` matrices. A single public ciphertext
``K`` whose ``n`` slots are distinct generates it: ``{I, K, K^2, ..., K^(n-1)}``
is a basis (the Vandermonde matrix of distinct slots is invertible). Rounding
adds components outside the algebra; they do not decrypt, but over many
training steps, products with ciphertexts whose hidden slots are tiny (Adam's
division by ``sqrt(v) + eps``) amplify them until they reach the plaintext
slot. :meth:`AlgebraProjector.project` removes them with the orthogonal
(Frobenius) projection onto that span, from an orthonormal basis computed once
(QR of the ``n^2 x n`` Krylov matrix of ``K``).

It uses only public data (one ciphertext and the identity): no key, no
eigenvectors. For ``n = 2`` it is the projection ``tr(M)/2 I + <M, K'> K'``
(``K'`` the normalised traceless part of ``K``) that
``medseal.models.backend.MoreBackend.refresh`` applies.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from medseal.errors import InputError
from medseal.privacy.more.context import MorePublicContext
from medseal.privacy.more.tensor import MoreTensor, flat_matrices

__all__ = ["AlgebraProjector"]

F64 = NDArray[np.float64]

# Smallest singular value of the Krylov matrix (relative to the largest) accepted:
# below it the reference's slots are too close to span the algebra reliably.
_MIN_RCOND = 1e-8


class AlgebraProjector:
    """Orthogonal projection onto ``span{I, K, ..., K^(n-1)}`` for one public ciphertext ``K``.

    Parameters
    ----------
    reference : MoreTensor
        One ciphertext (``size == 1``) whose slots are distinct and well
        separated, e.g. :meth:`MoreKey.encrypt_reference
        <medseal.privacy.more.MoreKey.encrypt_reference>`.

    Raises
    ------
    InputError
        When ``reference`` is not one value, or its slots are (nearly) repeated so
        its powers do not span the algebra.
    """

    __slots__ = ("_basis", "_ctx")

    def __init__(self, reference: MoreTensor) -> None:
        if not isinstance(reference, MoreTensor) or reference.size != 1:
            raise InputError("the algebra reference must be one MoreTensor value")
        n = reference.n
        # Centre and scale K (same span) so its powers stay well conditioned.
        raw = reference.data.reshape(n, n)
        k = raw - np.trace(raw) / n * np.eye(n)
        scale = float(np.max(np.abs(k)))
        if not (np.isfinite(scale) and scale > _MIN_RCOND * float(np.max(np.abs(raw)))):
            raise InputError("the algebra reference ciphertext is a multiple of I or not finite")
        k = k / scale
        cols = [np.eye(n).ravel()]
        power = np.eye(n)
        for _ in range(n - 1):
            power = power @ k
            cols.append(power.ravel())
        krylov = np.stack(cols, axis=1)  # (n*n, n)
        sv = np.linalg.svd(krylov, compute_uv=False)
        if not sv[-1] > _MIN_RCOND * sv[0]:
            raise InputError(
                "the algebra reference has (nearly) repeated slots; use MoreKey.encrypt_reference()"
            )
        q, _ = np.linalg.qr(krylov)
        self._basis: F64 = np.ascontiguousarray(q)
        self._ctx: MorePublicContext = reference.context

    @property
    def context(self) -> MorePublicContext:
        """The public context of the reference ciphertext."""
        return self._ctx

    def project(self, x: MoreTensor) -> MoreTensor:
        """``x`` with every matrix replaced by its nearest (Frobenius) member of the algebra."""
        flat = flat_matrices(x, self._ctx, "project", "the projector and the tensor")
        out = (flat @ self._basis) @ self._basis.T
        return MoreTensor._wrap(out.reshape(x.data.shape), self._ctx)
