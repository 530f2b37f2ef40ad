"""The claims step of the masking study: its goals judged on their CIs, and seed 000's claims.

Where it sits: evaluate stage, last step before the report. Each goal's
verdict (met / missed / inconclusive, or void when the views attack gives the
key) follows from the CI of its statistic (:mod:`medseal.evaluate.verdict`);
each claim of seed 000 is set beside what was measured.
"""

from __future__ import annotations

from typing import Any

from medseal.evaluate.studies.masking.config import SEED_CLAIMS, MaskingStudyConfig
from medseal.evaluate.verdict import (
    MEDMNIST_RESNET18_28_AUC,
    NONINFERIORITY_MARGIN,
    Goal,
    check_claim,
    judge,
)

__all__ = ["judge_goals", "seed_claims"]


def judge_goals(
    name: str, results: dict[str, Any], views: dict[str, Any], cfg: MaskingStudyConfig
) -> list[dict[str, Any]]:
    """The goals of the honest Masked-CNN study for this data set, each judged on the CI of its statistic."""
    comp = results["mean_over_seeds"]
    n = comp["n_seeds"]
    goals = []
    ref = MEDMNIST_RESNET18_28_AUC.get(name)
    if ref is not None:
        value, checked = ref
        g = judge(
            Goal(
                "plaintext_vs_medmnist_resnet18",
                f"plaintext AUC (mean of {n} seeds) >= MedMNIST v2 ResNet-18 (28) {value:.3f}"
                + ("" if checked else " (reference value not re-checked)"),
                value,
            ),
            comp["b"]["mean"],
            comp["b"]["ci"],
        )
        goals.append(g)
    g = judge(
        Goal(
            "masked_within_margin",
            f"masked AUC within {NONINFERIORITY_MARGIN} of plaintext (mean gap of {n} seeds >= "
            f"-{NONINFERIORITY_MARGIN})",
            -NONINFERIORITY_MARGIN,
        ),
        comp["gap"]["mean"],
        comp["gap"]["ci"],
    )
    leaked = bool(views.get("above_chance"))
    if leaked:
        g["verdict"] = "void"
        g["reading"] += (
            " -- VOID: the analyst's views give the key (views attack above chance), "
            "so this is plaintext in disguise"
        )
    goals.append(g)
    if name.startswith("nih"):
        for key, claimed, stat in (
            ("plaintext AUC (seed 000: 0.921)", float(SEED_CLAIMS["auc_plain"]), comp["b"]),
            ("masked AUC (seed 000: 0.894)", float(SEED_CLAIMS["auc_masked"]), comp["a"]),
            (
                "masked - plaintext (seed 000: -0.027)",
                float(SEED_CLAIMS["auc_masked"]) - float(SEED_CLAIMS["auc_plain"]),
                comp["gap"],
            ),
        ):
            goals.append(check_claim(key, claimed, stat["mean"], stat["ci"]))
    return goals


def seed_claims(
    results: dict[str, Any],
    leak: dict[str, Any],
    attacks: dict[str, Any],
    storage: dict[str, Any],
    latency: dict[str, Any],
    goals: list[dict[str, Any]],
    cfg: MaskingStudyConfig,
) -> list[dict[str, str]]:
    def auc(name: str) -> str:
        r = results[name]
        return f"{r['auc']:.3f} [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}]"

    comp = results["mean_over_seeds"]
    kpa = attacks["known_plaintext"]["rows"][0]
    inv_m = attacks["learned_inverse"]["masked"][-1] if attacks["learned_inverse"]["masked"] else {}
    inv_a = attacks["learned_inverse"]["aes"][-1] if attacks["learned_inverse"]["aes"] else {}
    aes = results["aes"]
    aes_ci = aes["auc_ci"]
    margin = next(g for g in goals if g["name"] == "masked_within_margin")
    views = attacks["views"]
    aes_majority = abs(aes["acc"] - aes["majority_rate"]) <= 1.0 / max(aes["n"], 1)
    return [
        {
            "claim": "Masked-CNN on encrypted/masked images: AUC 0.894 vs 0.921 plaintext (NIH)",
            "measured": f"mean of {comp['n_seeds']} seeds: masked ({cfg.scheme}) {comp['a']['mean']:.3f} "
            f"[{comp['a']['ci'][0]:.3f}, {comp['a']['ci'][1]:.3f}] vs plaintext {comp['b']['mean']:.3f} "
            f"[{comp['b']['ci'][0]:.3f}, {comp['b']['ci'][1]:.3f}]; gap {comp['gap']['mean']:+.3f} "
            f"[{comp['gap']['ci'][0]:+.3f}, {comp['gap']['ci'][1]:+.3f}]; views attack: key exact "
            f"{views.get('key_exact')}",
            "reading": f"within {NONINFERIORITY_MARGIN} AUC: {margin['verdict'].upper()} (from the CI "
            "of the mean gap); keyed block-wise MASKING, which is not encryption",
        },
        {
            "claim": "Diagnosis directly on AES-encrypted images",
            "measured": f"same network on AES-GCM ciphertext bytes: {auc('aes')}"
            + (" (CI covers 0.5: chance)" if aes_ci[0] <= 0.5 <= aes_ci[1] else " (CI misses 0.5)")
            + f"; ACC {aes['acc']:.3f} vs majority class {aes['majority_rate']:.3f}"
            + (" (= always the majority class)" if aes_majority else ""),
            "reading": "a secure cipher leaves nothing to learn; accuracy on real ciphertext is chance",
        },
        {
            "claim": "SSIM(plaintext, ciphertext) < 0.01",
            "measured": f"AES {leak['aes']['ssim']:.4f}; masked {leak[cfg.scheme]['ssim']:.4f}"
            if cfg.scheme in leak
            else f"AES {leak['aes']['ssim']:.4f}",
            "reading": "true for AES and for masking alike, so SSIM cannot tell secure from breakable",
        },
        {
            "claim": "Perceptual hashes show no structural resemblance",
            "measured": f"pHash Hamming distance AES {leak['aes']['phash']:.1f}, masked "
            f"{leak['shuffle+negpos']['phash']:.1f}, unrelated images {leak['unrelated_plain']['phash']:.1f}",
            "reading": "distances near those of unrelated images: no resemblance by this measure",
        },
        {
            "claim": "Reconstruction attacks fail",
            "measured": f"known-plaintext with {kpa['n_pairs']} pair(s): {kpa['pixel_exact']:.1%} pixels exact "
            f"(SSIM {kpa['ssim']:.3f}); learned inverse ({inv_m.get('n_pairs', 0)} pairs) SSIM "
            f"{inv_m.get('ssim', float('nan')):.3f} on masked vs {inv_a.get('ssim', float('nan')):.3f} on AES "
            f"(mean image {attacks['mean_image_ssim']:.3f}); jigsaw on block scrambling SSIM {attacks['jigsaw']['ssim']:.3f}",
            "reading": "they fail against AES, and SUCCEED against masking",
        },
        {
            "claim": "AES-encrypted JPEG 2000 costs 18-25% more storage",
            "measured": f"sealed J2K vs J2K {storage['sealed_over_j2k']:+.1%}, vs raw {storage['sealed_over_raw']:+.1%}; "
            f"masked images compress {storage['masked_j2k_over_j2k']:+.1%} worse",
            "reading": "AES-GCM adds a fixed ~61-byte header+tag per object, not a percentage",
        },
        {
            "claim": "Marginal latency trade-off",
            "measured": f"plain {latency['plain']['single_ms']:.1f} ms, masked {latency['masked']['single_ms']:.1f} ms per image "
            f"(batch: {latency['plain']['batched_ms']:.2f} vs {latency['masked']['batched_ms']:.2f}); masking "
            f"{latency['masking_ms_per_image']:.3f} ms/image",
            "reading": "masking is nearly free; cost depends on the network, not the privacy mode",
        },
    ]
