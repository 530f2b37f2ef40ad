"""The leakage and attack steps of the masking study, under the first seed's key.

Where it sits: evaluate stage, after training. Leakage compares each scheme's
images (and AES ciphertext) with the plaintext by SSIM and perceptual hash;
the attacks (views, jigsaw, known plaintext, learned inverse, key mismatch)
each try to undo the masking, and the plaintext model scores what they rebuild.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from medseal.evaluate import leakage
from medseal.evaluate.attacks.jigsaw import jigsaw_attack
from medseal.evaluate.attacks.key_mismatch import key_mismatch_attack
from medseal.evaluate.attacks.learned_inverse import learned_inverse_sweep
from medseal.evaluate.attacks.mask_known_plaintext import mask_known_plaintext_attack
from medseal.evaluate.metrics import summarize
from medseal.evaluate.studies.masking.config import (
    LEAKAGE_SCHEMES,
    MaskedAugment,
    MaskingStudyConfig,
)
from medseal.evaluate.studies.masking.prepare import SeedRun
from medseal.models.data import SplitData
from medseal.models.inference import predict_proba
from medseal.privacy.masking import make_scheme

__all__ = ["measure_attacks", "measure_leakage"]


def _ssim_mean(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([leakage.ssim(x, y) for x, y in zip(a, b, strict=True)]))


def measure_leakage(
    data: SplitData, first: SeedRun, cfg: MaskingStudyConfig, *, block: int, seed: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """SSIM and pHash of AES, every leakage scheme and unrelated images vs the plaintext.

    Returns the measures and each scheme's masked attack images.
    """
    test = data.test
    na = min(cfg.attack_images, len(test))
    xa = test.x[:na]
    leak: dict[str, Any] = {"aes": leakage.compare(xa, first.inputs["aes"]["test"].x[:na])}
    scheme_imgs: dict[str, np.ndarray] = {}
    for spec in LEAKAGE_SCHEMES:
        sch = make_scheme(spec, key=first.mask_key, block=block, bit_depth=8)
        scheme_imgs[spec] = sch.mask(xa)
        leak[spec] = leakage.compare(xa, scheme_imgs[spec])
    rng = np.random.default_rng(seed)
    other = test.x[rng.permutation(len(test))[:na]]
    leak["unrelated_plain"] = leakage.compare(xa, other)
    return leak, scheme_imgs


def measure_attacks(
    data: SplitData,
    runs: Sequence[SeedRun],
    cfg: MaskingStudyConfig,
    leak: dict[str, Any],
    scheme_imgs: dict[str, np.ndarray],
    *,
    block: int,
    say: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Every attack on the first seed's masking; returns the measures and a gallery of rebuilds."""
    first, seed = runs[0], runs[0].seed
    test, y = data.test, data.test.y
    size = int(data.train.x.shape[1])
    masked, aes, scheme = first.masked, first.inputs["aes"], first.scheme
    plain_model = first.models["plain"]

    def plain_auc(x: np.ndarray, yy: np.ndarray) -> float:
        return float(
            summarize(yy, predict_proba(plain_model, x, threads=cfg.threads), n_boot=200)["auc"]
        )

    na = min(cfg.attack_images, len(test))
    xa, ya = test.x[:na], y[:na]
    attacks: dict[str, Any] = {"reference_plain_auc_on_attack_images": plain_auc(xa, ya)}
    attacks["views"] = {
        "held": "owner-made masked copies under known shifts"
        if cfg.masked_augment == MaskedAugment.OWNER and cfg.augment
        else "one masked copy per image (key-free augmentation adds no copy)",
        "per_seed": [run.views_attack for run in runs],
        **first.views_attack,
    }
    va = first.views_attack
    say(
        f"views attack on what the analyst holds ({va['n_views']} view(s) per image): key exact "
        f"{va.get('key_exact')}, {va.get('perm_fraction', float('nan')):.0%} of slots placed "
        f"(chance {va.get('perm_chance', float('nan')):.0%}), test pixels exact "
        f"{va.get('pixel_exact', float('nan')):.1%} (random keys: mean "
        f"{va.get('pixel_exact_chance', float('nan')):.1%}, 95th percentile "
        f"{va.get('pixel_exact_chance_p95', float('nan')):.1%})"
    )
    gallery: dict[str, np.ndarray] = {}
    blk_scheme = make_scheme("block", key=first.mask_key, block=block, bit_depth=8)
    order = blk_scheme.block_order((size // block) ** 2)
    t = time.perf_counter()
    jg = jigsaw_attack(scheme_imgs["block"], block, order=order, truth=xa)
    attacks["jigsaw"] = {
        "target": "block",
        "direct": jg["direct"],
        "neighbour": jg["neighbour"],
        "pixel_exact": jg["pixel_exact"],
        "ssim": _ssim_mean(jg["reconstruction"], xa),
        "ssim_scrambled": leak["block"]["ssim"],
        "plain_model_auc": plain_auc(jg["reconstruction"], ya),
        "plain_model_auc_scrambled": plain_auc(scheme_imgs["block"], ya),
        "seconds": time.perf_counter() - t,
    }
    gallery["jigsaw"] = jg["reconstruction"][: cfg.gallery]
    say(
        f"jigsaw vs block scrambling: {attacks['jigsaw']['direct']:.0%} blocks placed right, "
        f"SSIM {attacks['jigsaw']['ssim']:.3f}"
    )
    bt = scheme.block_transform(1)
    kpa_rows = []
    for n in cfg.kpa_pairs:
        r = mask_known_plaintext_attack(
            data.train.x[:n],
            masked["train"].x[:n],
            masked["test"].x[:na],
            block=block,
            scrambled="block" in scheme.steps,
            truth=xa,
            true_perm=bt.perm,
            true_flip=bt.flip,
        )
        rec = r.pop("reconstruction")
        r["ssim"] = _ssim_mean(rec, xa)
        r["plain_model_auc"] = plain_auc(rec, ya)
        kpa_rows.append(r)
        if n == cfg.kpa_pairs[0]:
            gallery["known_plaintext"] = rec[: cfg.gallery]
    attacks["known_plaintext"] = {"target": cfg.scheme, "rows": kpa_rows}
    say(
        f"known-plaintext, {kpa_rows[0]['n_pairs']} pair(s): key recovered "
        f"{kpa_rows[0].get('key_exact')}, {kpa_rows[0]['pixel_exact']:.1%} of pixels exact"
    )
    mean_img = np.clip(np.rint(data.train.x.mean(axis=0)), 0, 255).astype(np.uint8)
    attacks["mean_image_ssim"] = _ssim_mean(np.broadcast_to(mean_img, xa.shape).copy(), xa)
    inv: dict[str, Any] = {}
    for rep, tr_x, te_x in (
        ("masked", masked["train"].x, masked["test"].x[:na]),
        ("aes", aes["train"].x, aes["test"].x[:na]),
    ):
        rows = learned_inverse_sweep(
            data.train.x, tr_x, xa, te_x, block=block, n_pairs=cfg.inverse_pairs
        )
        for row in rows:
            rec = row.pop("reconstruction")
            row["ssim"] = _ssim_mean(rec, xa)
            row["plain_model_auc"] = plain_auc(rec, ya)
            gallery[f"inverse_{rep}"] = rec[: cfg.gallery]
        inv[rep] = rows
    attacks["learned_inverse"] = inv
    if inv["masked"] and inv["aes"]:
        say(
            f"learned inverse with {inv['masked'][-1]['n_pairs']} pairs: SSIM masked "
            f"{inv['masked'][-1]['ssim']:.3f}, AES {inv['aes'][-1]['ssim']:.3f} "
            f"(mean image alone {attacks['mean_image_ssim']:.3f})"
        )
    masked_model = first.models["masked"]
    km = key_mismatch_attack(
        lambda x: predict_proba(masked_model, x, threads=cfg.threads),
        test.x,
        y,
        spec=cfg.scheme,
        block=block,
        right_key=first.mask_key,
        wrong_keys=[first.ring.derive(f"mask/other-{i}") for i in range(cfg.wrong_keys)],
        n_boot=cfg.n_boot,
        seed=seed,
    )
    attacks["key_mismatch"] = km
    wk = km["wrong_key"]
    say(
        f"key mismatch: AUC right key {km['right_key']['auc']:.3f}, other keys (mean of "
        f"{wk['n_keys']}) {wk['auc']:.3f} [{wk['ci'][0]:.3f}, {wk['ci'][1]:.3f}], information "
        f"max(AUC, 1-AUC) {wk['information']:.3f} [{wk['information_ci'][0]:.3f}, "
        f"{wk['information_ci'][1]:.3f}], plaintext {km['plaintext']['auc']:.3f}"
    )
    return attacks, gallery
