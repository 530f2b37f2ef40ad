"""Learned inverse against CKKS ciphertexts: a linear decoder fitted on known pairs must fail.

Where it sits: evaluate stage, beside the learned-inverse and known-plaintext
attacks on masking and MORE. The compute host holds ciphertexts of values
whose means it knows for half of them (known pairs) and fits a ridge
regression from numbers it can read off each ciphertext to the mean; it is
scored (R^2) on the other half.

Features: for each polynomial of the ciphertext (``c0``, ``c1``), its constant
coefficient modulo the first prime, centred and divided by the prime. In an
*unencrypted* CKKS encoding that coefficient is the scale times the mean of
the slots, so the same decoder recovers the means almost exactly: that is the
control (:meth:`~medseal.privacy.ckks.CKKSKey.encoding_view`), which shows
the decoder would see the message if it were linearly present. Under
encryption ``c0 = -a s + e + m`` with ``a`` uniform, so these numbers are
uniform modulo ``q`` and the decoder should be no better than predicting the
mean (R^2 <= 0). This is an empirical check of one natural attack, not a proof;
the security claim rests on RLWE at the stated parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medseal.errors import InputError
from medseal.privacy.ckks import CKKSKey, CKKSServer

__all__ = ["ckks_learned_inverse_attack", "constant_coefficients"]

F64 = NDArray[np.float64]


def constant_coefficients(residues: NDArray[np.uint64], q: int) -> F64:
    """Centred constant coefficient / q of each NTT-form polynomial (rows of ``residues``).

    The inverse negacyclic NTT at index 0 is ``N^-1 * sum_j y_j (mod q)`` in
    any slot order, so no NTT tables are needed.
    """
    n = residues.shape[1]
    inv_n = pow(n, -1, q)
    out = []
    for row in residues:
        c = (inv_n * (int(np.sum(row.astype(object))) % q)) % q
        out.append((c - q if c > q // 2 else c) / q)
    return np.asarray(out, dtype=np.float64)


def _r2(y: F64, pred: F64) -> float:
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def _fit_score(features: F64, target: F64, ridge: float) -> float:
    half = len(target) // 2
    f = np.hstack([features, np.ones((len(features), 1))])
    mu, sd = f[:half, :-1].mean(axis=0), f[:half, :-1].std(axis=0) + 1e-30
    f[:, :-1] = (f[:, :-1] - mu) / sd
    a, b = f[:half], target[:half]
    w = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ b)
    return _r2(target[half:], f[half:] @ w)


def ckks_learned_inverse_attack(
    images: ArrayLike,
    *,
    profile: str = "128",
    n_pairs: int = 64,
    ridge: float = 1e-6,
    seed: int = 0,
    key: CKKSKey | None = None,
) -> dict[str, Any]:
    """Fit the decoder on half of ``n_pairs`` pixel ciphertexts; score it on the rest.

    Parameters
    ----------
    images : array_like, shape (B, H, W)
        ``uint8`` or ``[0, 1]`` images; each pair is one pixel position across
        the ``B`` images (one ciphertext in the throughput layout), its target
        the mean of that pixel over the images.
    n_pairs : int
        Ciphertexts in the experiment (half known, half attacked), >= 8.

    Returns
    -------
    dict
        ``ciphertext_r2`` (attack on ciphertexts), ``encoding_r2`` (same
        decoder on unencrypted encodings: the control), ``attack_fails``
        (``ciphertext_r2 < 0.1``), ``control_succeeds`` (``encoding_r2 > 0.99``).
        Under one key ``attack_fails`` is wrong now and then (a chance fit
        reached R^2 >= 0.1 for 3-4 keys in 100 on the study's data): judge with
        :func:`ckks_learned_inverse_over_keys`, the median over several keys.
    """
    x = np.asarray(images)
    x = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
    if x.ndim != 3 or n_pairs < 8:
        raise InputError("need images (B, H, W) and n_pairs >= 8")
    flat = x.reshape(len(x), -1)
    rng = np.random.default_rng(seed)
    cols = rng.choice(flat.shape[1], size=min(n_pairs, flat.shape[1]), replace=False)
    k = key or CKKSKey.generate(profile)
    values = flat[:, cols]
    target = values.mean(axis=0)
    server = CKKSServer(k.public_context().to_bytes())
    seen = server.residues(k.encrypt(values))
    ct_features = np.stack([constant_coefficients(r, q) for r, q in seen])
    enc_features = np.stack(
        [constant_coefficients(*k.encoding_view(values[:, i])) for i in range(len(cols))]
    )
    ct_r2 = _fit_score(ct_features, target, ridge)
    enc_r2 = _fit_score(enc_features, target, ridge)
    return {
        "attack": "ckks learned inverse (constant coefficients, ridge)",
        "n_pairs": len(cols),
        "known_pairs": len(cols) // 2,
        "images_per_ciphertext": len(x),
        "ciphertext_r2": ct_r2,
        "encoding_r2": enc_r2,
        "attack_fails": bool(ct_r2 < 0.1),
        "control_succeeds": bool(enc_r2 > 0.99),
    }


def ckks_learned_inverse_over_keys(
    images: ArrayLike,
    *,
    keys: int = 5,
    key: CKKSKey | None = None,
    profile: str = "128",
    n_pairs: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`ckks_learned_inverse_attack` under ``keys`` keys (``key`` first, when given, then
    fresh ones), judged on the median R^2: ``ciphertext_r2`` is the median, each key's is in
    ``ciphertext_r2_per_key``, and ``attack_fails`` is ``median < 0.1``. One key's chance fit
    crosses 0.1 now and then; the median of 5 does so only when 3 of 5 keys do."""
    if keys < 1:
        raise InputError("keys must be >= 1")
    first = key or CKKSKey.generate(profile)
    chosen = [first, *(CKKSKey.generate(profile) for _ in range(keys - 1))]
    runs = [
        ckks_learned_inverse_attack(images, profile=profile, n_pairs=n_pairs, seed=seed, key=k)
        for k in chosen
    ]
    r2 = [float(r["ciphertext_r2"]) for r in runs]
    median = float(np.median(r2))
    return {
        **runs[0],
        "keys": len(runs),
        "ciphertext_r2": median,
        "ciphertext_r2_per_key": r2,
        "attack_fails": median < 0.1,
        "control_succeeds": all(bool(r["control_succeeds"]) for r in runs),
    }
