"""Ciphertext-only eigenvalue attack: MORE has NO security against a server that computes eigenvalues.

A MORE ciphertext is ``C = S diag(x, r_1, ..., r_{n-1}) S^-1``. Its
eigenvalues are the plaintext ``x`` and the hidden random values ``r_i``, and
its eigenvectors are the columns of the secret ``S``. Worse, every ciphertext
made under one key (and everything computed from them) shares those
eigenvectors. The attack therefore needs nothing but the ciphertexts the
compute host already holds:

1. Form a random linear combination ``G`` of ciphertexts (still of the form
   ``S D S^-1``, with well-separated eigenvalues) and take its eigenvectors
   ``V``: the columns of ``S`` up to order and scale, which do not matter.
2. Diagonalise every ciphertext with ``V``: ``V^-1 C V = diag(slots)``. Each
   row of ``slots`` holds the plaintext and the noise, in the *same* slot
   order for every value.
3. Decide which slot is the data (one decision for the whole tensor), see
   :func:`eigenvalue_attack`. Every value is then read off exactly.

With ``V`` and the data slot the host also holds an equivalent secret key: it
can decrypt future ciphertexts and forge new ones. This module exists so that
medseal's reports state this plainly; use CKKS for real protection.

References
----------
Kipnis, A., Hibshoosh, E. "Efficient methods for practical fully homomorphic
symmetric-key encryption, randomization and verification", IACR ePrint 2012/637.
Vizitiu, A. et al. "Applying deep neural networks over homomorphic encrypted
medical data", Comput. Math. Methods Med. 2020.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medseal.errors import InputError
from medseal.privacy.more import DEFAULT_NOISE_RANGE, MoreTensor

__all__ = [
    "MoreAttackResult",
    "ciphertext_eigenvalues",
    "eigenvalue_attack",
    "recover_eigenvectors",
    "recovery_rate",
    "slot_values",
]

F64 = NDArray[np.float64]

DEFAULT_RTOL = 1e-6


@dataclass(frozen=True, eq=False)
class MoreAttackResult:
    """Outcome of an attack on MORE ciphertexts.

    Attributes
    ----------
    values : ndarray
        Recovered plaintext, shape of the attacked tensor (hidden from ``repr``:
        it *is* the patient data).
    success_rate : float or None
        Fraction of values within ``rtol`` relative error of the truth
        (:func:`recovery_rate`); ``None`` when no truth was given.
    method : str
        One-paragraph description of what the attacker did, for reports.
    key_estimate : ndarray, shape (n, n)
        Equivalent secret key: ``S`` up to column scaling, data column first.
        ``(inv(key_estimate) @ C @ key_estimate)[0, 0]`` decrypts any ``C``.
    details : dict
        Diagnostics (data slot, heuristic scores, diagonalisation residual ...).
    functional : ndarray or None
        Known-plaintext attack only: the recovered decryption vector ``w``
        (``x = C.ravel() @ w``); hidden from ``repr`` like the key estimate.
    """

    values: F64 = field(repr=False)
    success_rate: float | None
    method: str
    key_estimate: F64 = field(repr=False)
    details: dict[str, Any] = field(default_factory=dict)
    functional: F64 | None = field(default=None, repr=False)


def recovery_rate(recovered: ArrayLike, truth: ArrayLike, *, rtol: float = DEFAULT_RTOL) -> float:
    """Fraction of values with ``|recovered - truth| <= rtol * max(|truth|, 1)``.

    The denominator is floored at 1 so that zeros (common in images) count as
    recovered when the absolute error is below ``rtol``.
    """
    rec = np.asarray(recovered, dtype=np.float64)
    tru = np.asarray(truth, dtype=np.float64)
    if rec.shape != tru.shape:
        raise InputError(f"recovered shape {rec.shape} and truth shape {tru.shape} differ")
    if rec.size == 0:
        return 1.0
    ok = np.abs(rec - tru) <= rtol * np.maximum(np.abs(tru), 1.0)
    return float(np.mean(ok))


def ciphertext_eigenvalues(c: MoreTensor) -> F64:
    """The naive view: each ciphertext's eigenvalues, shape ``c.shape + (n,)``, ascending.

    One of them is the plaintext; the others are the hidden noise. This alone
    narrows every value to ``n`` candidates.
    """
    w = np.linalg.eigvals(c.data)
    return np.sort(w.real, axis=-1)


def recover_eigenvectors(
    c: MoreTensor, *, rng: np.random.Generator | None = None, tries: int = 8
) -> F64:
    """Columns of the secret ``S`` (up to order and scale) from ciphertexts alone.

    A random combination ``G = sum_i w_i C_i`` of (at most 4096 sampled)
    ciphertexts is again ``S diag(.) S^-1``; among ``tries`` draws the one with
    the largest relative eigenvalue gap is diagonalised. Columns are returned
    normalised to unit length.
    """
    gen = rng if rng is not None else np.random.default_rng(0)
    n = c.n
    flat = c.data.reshape(-1, n, n)
    if flat.shape[0] == 0:
        raise InputError("the eigenvalue attack needs at least one ciphertext")
    pick = flat if flat.shape[0] <= 4096 else flat[gen.choice(flat.shape[0], 4096, replace=False)]
    best: F64 | None = None
    best_gap = -1.0
    for _ in range(max(1, tries)):
        g = np.tensordot(gen.standard_normal(pick.shape[0]), pick, axes=1)
        w, v = np.linalg.eig(g)
        w = np.sort(w.real)
        gap = float(np.min(np.diff(w)) / (np.max(np.abs(w)) + 1e-300))
        if gap > best_gap:
            best_gap, best = gap, v.real
    assert best is not None
    return np.asarray(best / np.linalg.norm(best, axis=0, keepdims=True), dtype=np.float64)


def slot_values(c: MoreTensor, v: F64) -> tuple[F64, float]:
    """Diagonalise every ciphertext with ``v``: slots ``c.shape + (n,)`` and max off-diagonal residual.

    The residual (relative to the largest diagonal entry) is ~1e-15 when ``v``
    really are the key's eigenvectors: a direct check of the shared-eigenvector
    structure.
    """
    v_inv = np.linalg.inv(v)
    d = np.einsum("ij,...jk,kl->...il", v_inv, c.data, v)
    slots = np.diagonal(d, axis1=-2, axis2=-1).copy()
    off = d - slots[..., :, None] * np.eye(c.n)
    scale = float(np.max(np.abs(slots))) if slots.size else 1.0
    residual = float(np.max(np.abs(off)) / (scale or 1.0)) if slots.size else 0.0
    return slots, residual


def _structure_scores(slots: F64, noise_range: tuple[float, float]) -> F64:
    """Per-slot 'looks like data, not i.i.d. noise' score (higher = more data-like)."""
    flat = slots.reshape(-1, slots.shape[-1])
    scores = np.zeros(flat.shape[1])
    lo, hi = noise_range
    for s in range(flat.shape[1]):
        col = flat[:, s]
        # i.i.d. continuous noise never repeats; images are quantised and flat in places.
        dup = 1.0 - np.unique(np.round(col, 9)).size / col.size
        # i.i.d. noise has no lag-1 correlation; neighbouring pixels do.
        if col.size > 2 and np.std(col) > 0:
            acf = abs(float(np.corrcoef(col[:-1], col[1:])[0, 1]))
        else:
            acf = 0.0
        # The noise interval is public (Kerckhoffs): values outside it are data.
        outside = float(np.mean((col < lo) | (col > hi)))
        scores[s] = dup + acf + outside
    return scores


def eigenvalue_attack(
    c: MoreTensor,
    *,
    truth: ArrayLike | None = None,
    known_range: tuple[float, float] | None = None,
    hint: tuple[int, float] | None = None,
    noise_range: tuple[float, float] = DEFAULT_NOISE_RANGE,
    rtol: float = DEFAULT_RTOL,
    rng: np.random.Generator | None = None,
) -> MoreAttackResult:
    """Decrypt a whole MORE tensor from its ciphertexts alone.

    Parameters
    ----------
    c : MoreTensor
        Everything the compute host holds (fresh ciphertexts or any results
        computed from them under one key).
    truth : array_like, optional
        The real plaintext, only to score the attack (never used by it).
    known_range : (float, float), optional
        Side information "the data lie in [lo, hi]" (e.g. pixels in [0, 1]):
        the data slot is the one with most values inside it.
    hint : (int, float), optional
        One known plaintext ``(flat index, value)``: the data slot is the one
        that holds it. The strongest identification; one value suffices.
    noise_range : (float, float)
        The (public) interval of the hidden slots, used by the default heuristic.
    rtol : float
        Tolerance of the success rate.

    Returns
    -------
    MoreAttackResult

    Notes
    -----
    Slot identification, in order of preference: ``hint``; ``known_range``
    (ties, e.g. when the noise interval lies inside the data range, broken as
    below); otherwise a structure heuristic: the data slot is the one least like
    i.i.d. uniform noise, scored by the fraction of repeated values, the
    absolute lag-1 autocorrelation of the flattened tensor and the fraction
    of values outside the public noise interval. The heuristic needs data with
    some structure (images have plenty); for i.i.d. data inside the noise range
    it is a coin toss among ``n`` slots, but the attacker still has every
    value narrowed to ``n`` candidates and ``S`` up to a column choice.
    """
    if not isinstance(c, MoreTensor):
        raise InputError("eigenvalue_attack expects a MoreTensor")
    v = recover_eigenvectors(c, rng=rng)
    slots, residual = slot_values(c, v)
    flat = slots.reshape(-1, c.n)
    details: dict[str, Any] = {"n": c.n, "values": int(flat.shape[0]), "residual": residual}
    if hint is not None:
        idx, value = int(hint[0]), float(hint[1])
        err = np.abs(flat[idx] - value)
        slot = int(np.argmin(err))
        how = "one known plaintext value picks the data slot"
        details["hint_error"] = float(err[slot])
    elif known_range is not None:
        lo, hi = float(known_range[0]), float(known_range[1])
        tol = 1e-9 * max(1.0, abs(lo), abs(hi))  # recovered values carry rounding
        inside = np.mean((flat >= lo - tol) & (flat <= hi + tol), axis=0)
        # Ties (noise range inside the data range) fall back to the structure score.
        tied = np.flatnonzero(inside >= inside.max() - 1e-12)
        scores = _structure_scores(flat, noise_range)
        slot = int(tied[np.argmax(scores[tied])])
        how = (
            f"the slot with most values inside the known data range [{lo:g}, {hi:g}] "
            "(ties broken by the structure score)"
        )
        details["inside_fraction"] = inside.tolist()
        details["structure_scores"] = scores.tolist()
    else:
        scores = _structure_scores(flat, noise_range)
        slot = int(np.argmax(scores))
        how = "the slot least like i.i.d. uniform noise (repeats, autocorrelation, range)"
        details["structure_scores"] = scores.tolist()
    details["data_slot"] = slot
    values = flat[:, slot].reshape(c.shape)
    order = [slot] + [i for i in range(c.n) if i != slot]
    key_estimate = v[:, order]
    rate = None if truth is None else recovery_rate(values, truth, rtol=rtol)
    method = (
        "Ciphertext-only eigenvalue attack on MORE: eigenvectors of a random combination "
        "of ciphertexts give the secret S up to column scaling (all ciphertexts under one "
        "key share them); diagonalising every ciphertext with them exposes plaintext and "
        f"noise slots; data slot chosen as {how}."
    )
    return MoreAttackResult(
        values=values,
        success_rate=rate,
        method=method,
        key_estimate=key_estimate,
        details=details,
    )
