"""Known-plaintext attack: ``n`` (plaintext, ciphertext) pairs give away a MORE key.

Decryption ``x = (S^-1 C S)[0, 0] = <W, C>`` is a *linear* functional of the
ciphertext matrix. All ciphertexts under one key live in the ``n``-dimensional
commutative algebra ``{S D S^-1 : D diagonal}``, so ``n`` linearly independent
known pairs pin that functional down on every ciphertext the key can produce:
solve ``A w = x`` (``A`` = flattened known ciphertexts, minimum-norm least
squares) and decrypt anything with ``C.ravel() @ w``. No eigenvalues needed:
plain linear algebra, exact in float64.

The attack also returns ``S`` itself (up to the column scaling that does not
matter): the eigenvectors of a generic combination of the known ciphertexts,
ordered so that the column whose eigenvalue matches the known plaintexts comes
first.

MORE offers NO security against an adversary who knows a handful of
plaintexts (for an image: ``n`` pixels, e.g. black background corners).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medseal.errors import InputError
from medseal.evaluate.attacks.more_eigenvalue import (
    DEFAULT_RTOL,
    MoreAttackResult,
    recover_eigenvectors,
    recovery_rate,
    slot_values,
)
from medseal.privacy.more import MoreTensor

__all__ = ["known_plaintext_attack"]


def known_plaintext_attack(
    known_plain: ArrayLike,
    known_cipher: MoreTensor,
    target: MoreTensor,
    *,
    truth: ArrayLike | None = None,
    rtol: float = DEFAULT_RTOL,
) -> MoreAttackResult:
    """Recover the key from known pairs and decrypt ``target``.

    Parameters
    ----------
    known_plain : array_like
        Known plaintext values, same shape as ``known_cipher``.
    known_cipher : MoreTensor
        Their ciphertexts; at least ``n`` of them, linearly independent (true
        with probability 1 for fresh encryptions of any values).
    target : MoreTensor
        Ciphertexts to decrypt (same key).
    truth : array_like, optional
        The real plaintext of ``target``, only to score the attack.
    rtol : float
        Tolerance of the success rate.

    Returns
    -------
    MoreAttackResult
        ``functional`` holds the recovered decryption vector ``w``.
    """
    if not isinstance(known_cipher, MoreTensor) or not isinstance(target, MoreTensor):
        raise InputError("known_plaintext_attack expects MoreTensor ciphertexts")
    known_cipher.context.check_same(target.context, "known and target ciphertexts")
    n = known_cipher.n
    x = np.asarray(known_plain, dtype=np.float64)
    if x.shape != known_cipher.shape:
        raise InputError(
            f"known plaintext shape {x.shape} and ciphertext shape {known_cipher.shape} differ"
        )
    a = known_cipher.data.reshape(-1, n * n)
    y = x.reshape(-1)
    sol, _, rank, _ = np.linalg.lstsq(a, y, rcond=None)
    w = np.asarray(sol, dtype=np.float64)
    if rank < n:
        raise InputError(
            f"need {n} linearly independent known pairs for n={n}, got rank {int(rank)}"
        )
    values = (target.data.reshape(-1, n * n) @ w).reshape(target.shape)

    # S up to column scaling: eigenvectors shared by all ciphertexts, data column first.
    v = recover_eigenvectors(known_cipher)
    slots, residual = slot_values(known_cipher, v)
    mismatch = np.mean(np.abs(slots.reshape(-1, n) - y[:, None]), axis=0)
    slot = int(np.argmin(mismatch))
    order = [slot] + [i for i in range(n) if i != slot]
    details: dict[str, Any] = {
        "n": n,
        "known_pairs": int(y.size),
        "rank": int(rank),
        "data_slot": slot,
        "residual": residual,
    }
    rate = None if truth is None else recovery_rate(values, truth, rtol=rtol)
    method = (
        f"Known-plaintext attack on MORE: {y.size} known (x, C) pairs; decryption is the "
        "linear functional x = <W, C> on the n-dimensional algebra of ciphertexts, solved by "
        "least squares and applied to every target ciphertext; S recovered up to column "
        "scaling as the shared eigenvectors, data column matched to the known plaintexts."
    )
    return MoreAttackResult(
        values=values,
        success_rate=rate,
        method=method,
        key_estimate=v[:, order],
        details=details,
        functional=w,
    )
