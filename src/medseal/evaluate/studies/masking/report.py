"""The report sections of the masking study (``medseal evaluate seed000``).

Where it sits: the report step of :mod:`medseal.evaluate.studies.masking`;
:mod:`medseal.evaluate.report` wraps these sections into the one page and
writes the JSON. Figures are drawn with matplotlib (Agg backend) and embedded
as base64 PNGs, so the page opens anywhere without its neighbours.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from medseal.evaluate.report import table as _table
from medseal.evaluate.report_figures import gallery_figure, inverse_figure, roc_figure

__all__ = ["sections"]


def _goals_html(result: Mapping[str, Any]) -> str:
    goals = result.get("goals") or []
    if not goals:
        return ""
    rows = [
        {
            "goal": g.get("statement") or g.get("name"),
            "target": g.get("threshold", g.get("claimed")),
            "estimate": g["estimate"],
            "95% CI": g["ci"],
            "verdict": g["verdict"].upper(),
        }
        for g in goals
    ]
    return (
        "<h2>Goals and verdicts</h2><p>Each verdict is computed from the CI: <b>met</b> when the whole "
        "95% CI is on the goal's side of the target, <b>missed</b> when it is wholly on the other side, "
        "<b>inconclusive</b> when it straddles the target; for the seed's own numbers, whether the "
        "claimed value lies in the CI. A figure trained on views from which the key follows is "
        "<b>void</b>.</p>" + _table(rows, ["goal", "target", "estimate", "95% CI", "verdict"])
    )


def _seeds_html(result: Mapping[str, Any]) -> str:
    res = result["results"]
    comp = res.get("mean_over_seeds")
    if not comp:
        return ""
    rows = [
        {
            "seed": r["seed"],
            "plaintext AUC": r["plain"]["auc"],
            "masked AUC": r["masked"]["auc"],
            "gap": r["masked"]["auc"] - r["plain"]["auc"],
            "plaintext ACC / majority": f"{r['plain']['acc']:.3f} / {r['plain']['majority_rate']:.3f}",
            "masked ACC / majority": f"{r['masked']['acc']:.3f} / {r['masked']['majority_rate']:.3f}",
        }
        for r in res["per_seed"]
    ]
    rows.append(
        {
            "seed": "mean",
            "plaintext AUC": f"{comp['b']['mean']:.3f} [{comp['b']['ci'][0]:.3f}, {comp['b']['ci'][1]:.3f}]",
            "masked AUC": f"{comp['a']['mean']:.3f} [{comp['a']['ci'][0]:.3f}, {comp['a']['ci'][1]:.3f}]",
            "gap": f"{comp['gap']['mean']:+.3f} [{comp['gap']['ci'][0]:+.3f}, {comp['gap']['ci'][1]:+.3f}]",
        }
    )
    cols = ["seed", "plaintext AUC", "masked AUC", "gap"]
    cols += ["plaintext ACC / majority", "masked ACC / majority"]
    t = comp["gap"]["t_ci"]
    return (
        "<h2>Mean over seeds</h2>"
        + _table(rows, cols)
        + f"<p>CIs: {html.escape(comp['gap']['method'])}. t-interval of the mean gap over seeds: "
        f"[{t[0]:+.3f}, {t[1]:+.3f}]. The verdicts use the bootstrap CI.</p>"
    )


def _views_html(result: Mapping[str, Any]) -> str:
    v = result.get("attacks", {}).get("views")
    if not v:
        return ""
    cols = [
        "n_views",
        "edges",
        "determined",
        "key_exact",
        "perm_fraction",
        "perm_chance",
        "flip_fraction",
        "key_fraction",
        "key_fraction_chance",
        "pixel_exact",
        "pixel_exact_chance",
        "pixel_exact_chance_p95",
        "pixel_exact_above_chance",
        "above_chance",
    ]
    rows = [{"seed": i, **r} for i, r in enumerate(v.get("per_seed", [v]))]
    warn = (
        "<p><b>The analyst holds masked copies from which the key follows: every masked figure "
        "above is plaintext in disguise for privacy.</b></p>"
        if v.get("above_chance")
        else ""
    )
    return (
        "<h3>Views attack (key from every masked copy the analyst holds, no plaintext)</h3>"
        f"<p>The analyst holds: {html.escape(str(v.get('held', '')))}.</p>"
        + warn
        + _table(rows, ["seed", *cols])
    )


def sections(result: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The page title and the HTML sections of a masking study's result."""
    ds = result["dataset"]
    res = result["results"]
    proto = result.get("protocol", {})
    views = result.get("attacks", {}).get("views", {})
    parts = [
        f"<h1>Seed 000, measured on {html.escape(ds['name'])}</h1>",
        f"<p>Data: <b>{html.escape(ds['name'])}</b> ({html.escape(str(ds.get('task', '')))}), "
        f"{html.escape(ds['split_rule'])}; sizes {html.escape(str(ds['sizes']))}, "
        f"{ds.get('n_classes', 2)} classes. "
        + (f"{html.escape(str(ds['colour']))}. " if ds.get("colour") else "")
        + (f"<b>Caution:</b> {html.escape(str(ds['caution']))}. " if ds.get("caution") else "")
        + f"Masking scheme <b>{html.escape(result['scheme']['scheme'])}</b>, "
        f"block {result['scheme']['block']}, key id {html.escape(str(result['scheme']['key_id']))}. "
        f"Run time {result['seconds']:.0f} s on {result['environment']['threads']} torch threads.</p>",
        "<p>Protocol: "
        + "; ".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in proto.items())
        + ".</p>",
        "<p>Augmentation: "
        + "; ".join(
            f"{html.escape(k)}: {html.escape(str(v))}"
            for k, v in result.get("augmentation", {}).items()
        )
        + ". Views attack on what the analyst holds: key exact "
        + html.escape(str(views.get("key_exact")))
        + f", {views.get('perm_fraction', float('nan')):.0%} of slots placed (chance "
        f"{views.get('perm_chance', float('nan')):.0%}).</p>",
        _goals_html(result),
        _seeds_html(result),
        "<h2>Seed 000's claims beside measured values</h2>",
        _table(result["claims"], ["claim", "measured", "reading"]),
        "<h2>Diagnostic accuracy (first seed)</h2>",
        _table(
            [
                {
                    "model": k,
                    "AUC": v["auc"],
                    "95% CI": v["auc_ci"],
                    "ACC": v["acc"],
                    "majority-class rate": v.get("majority_rate"),
                    "flag": "ACC = majority rate"
                    if v.get("majority_rate") is not None
                    and abs(v["acc"] - v["majority_rate"]) <= 1.0 / max(v["n"], 1)
                    else "",
                    "sensitivity": v["sensitivity"],
                    "specificity": v["specificity"],
                    "n": v["n"],
                }
                for k, v in res.items()
                if isinstance(v, dict) and "auc" in v
            ],
            [
                "model",
                "AUC",
                "95% CI",
                "ACC",
                "majority-class rate",
                "flag",
                "sensitivity",
                "specificity",
                "n",
            ],
        ),
        f"<p>Masked minus plaintext AUC, mean over seeds (paired bootstrap): {res['masked_minus_plain']['diff']:+.3f} "
        f"[{res['masked_minus_plain']['lo']:+.3f}, {res['masked_minus_plain']['hi']:+.3f}]. "
        "The AES control trains the Masked-CNN on AES-256-GCM ciphertext bytes of the same images: a secure "
        "cipher's output is independent of the image, so its AUC can only differ from 0.5 by chance, and "
        "an accuracy equal to the majority-class rate means it predicts one class.</p>",
    ]
    for fig in (roc_figure(result),):
        if fig:
            parts.append(f"<img src='{fig}' alt='ROC curves'>")
    parts.append("<h2>Leakage metrics (plaintext vs representation, test images)</h2>")
    parts.append(
        _table(
            [{"representation": k, **v} for k, v in result["leakage"].items()],
            [
                "representation",
                "ssim",
                "ssim_max",
                "psnr",
                "npcr",
                "uaci",
                "phash",
                "phash_min",
                "entropy_plain",
                "entropy_other",
                "n",
            ],
        )
    )
    parts.append(
        "<p>NPCR/UACI of two independent random 8-bit images: 99.61 % / 33.46 %. pHash distance of unrelated "
        "images is about 32. Low SSIM does not mean the representation resists inversion: see the attacks.</p>"
    )
    a = result["attacks"]
    parts.append("<h2>Attacks</h2>")
    parts.append(_views_html(result))
    parts.append(
        f"<h3>Jigsaw solver vs block scrambling (ciphertext only)</h3>{_table([a['jigsaw']], list(a['jigsaw']))}"
    )
    parts.append(
        "<h3>Known-plaintext key recovery</h3>"
        + _table(
            a["known_plaintext"]["rows"],
            [
                "n_pairs",
                "key_exact",
                "pixel_exact",
                "image_exact",
                "ambiguous_positions",
                "ambiguous_blocks",
                "ssim",
                "plain_model_auc",
            ],
        )
    )
    inv_rows = [
        {"representation": rep, **r} for rep, rows in a["learned_inverse"].items() for r in rows
    ]
    parts.append(
        "<h3>Learned inverse (block-wise ridge decoder)</h3>"
        + _table(
            inv_rows, ["representation", "n_pairs", "ssim", "mae", "pixel_exact", "plain_model_auc"]
        )
        + f"<p>SSIM of the mean training image vs each test image: {a['mean_image_ssim']:.3f} (what an attacker gets for free). "
        f"Plaintext model AUC on the untouched attack images: {a['reference_plain_auc_on_attack_images']:.3f}.</p>"
    )
    fig = inverse_figure(result)
    if fig:
        parts.append(f"<img src='{fig}' alt='learned inverse sweep'>")
    km = a["key_mismatch"]
    parts.append(
        "<h3>Key mismatch</h3>"
        + _table(
            [
                {
                    "input": k,
                    "auc": v["auc"],
                    "ci": v["ci"],
                    "information max(AUC, 1-AUC)": v.get("information"),
                    "information ci": v.get("information_ci", ""),
                    "keys": v.get("n_keys", ""),
                }
                for k, v in km.items()
                if isinstance(v, dict)
            ],
            ["input", "auc", "ci", "information max(AUC, 1-AUC)", "information ci", "keys"],
        )
        + "<p>Other keys: mean AUC over the keys, CI of that mean (test images resampled once per "
        "draw for all keys). An AUC below 0.5 is information too (flip the scores): "
        "max(AUC, 1-AUC) near 0.5 means nothing the model learnt survives another key.</p>"
    )
    fig = gallery_figure(result)
    if fig:
        parts.append(f"<h2>Gallery</h2><img src='{fig}' alt='gallery'>")
    lat, st = result["latency"], result["storage"]
    parts.append("<h2>Cost</h2>")
    parts.append(
        _table(
            [{"model": k, **v} for k, v in lat.items() if isinstance(v, dict)],
            ["model", "single_ms", "batched_ms"],
        )
        + f"<p>Masking: {lat['masking_ms_per_image']:.4f} ms per image.</p>"
    )
    parts.append(_table([st], list(st)))
    parts.append("<h2>Training</h2>")
    cols = ["best_epoch", "epochs_run", "best_val_loss", "best_val_auc", "seconds", "stopped_early"]
    rows = [{"model": k, **{c: v.get(c) for c in cols}} for k, v in result["training"].items()]
    parts.append(_table(rows, ["model", *cols]))
    parts.append(
        "<p>Generated by <code>medseal evaluate seed000</code>. See docs/seed000.md for how to read each number.</p>"
    )
    return "medseal: seed 000 measured", parts
