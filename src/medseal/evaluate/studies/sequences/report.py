"""The report sections of the sequence study: Table 1 equivalent, folds, curves, attacks.

Where it sits: the report step of :mod:`medseal.evaluate.studies.sequences`;
:mod:`medseal.evaluate.report` wraps these sections (inline SVG curves, no
JavaScript) into the one page and writes the JSON. :func:`summary_lines` is
the console summary.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "NIH_FOLLOWUP_REFERENCE",
    "level_rows",
    "sections",
    "summary_lines",
    "table1_rows",
]

#: the NIH follow-up run recorded in docs/seed003.md (4 folds, one seed, 16 px grey,
#: sequence level): plaintext AUC mean and sd over folds, for the side-by-side table
NIH_FOLLOWUP_REFERENCE: dict[str, tuple[float, float]] = {
    "conv-bilstm": (0.600, 0.037),
    "cnn": (0.615, 0.044),
    "cnn-lstm": (0.604, 0.042),
}

_METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "auc")
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        return f"{v:.{digits}g}" if abs(v) < 1e-3 and v != 0 else f"{v:.{digits}f}"
    return html.escape(str(v))


def table1_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per (network, mode): parameters, mean/std metrics, train and inference time."""
    rows = []
    for name, entry in result.get("nets", {}).items():
        for mode in ("plain", "more"):
            if mode not in entry:
                continue
            m = entry[mode]
            row: dict[str, Any] = {
                "network": name,
                "mode": "plaintext" if mode == "plain" else "MORE ciphertext",
                "params": entry["params"],
                "folds": m["folds"],
                "train_s": m["train_seconds"],
                "infer_ms_per_seq": m["inference_ms_per_sequence"],
            }
            for k in _METRICS:
                row[k] = (m["metrics"][k]["mean"], m["metrics"][k]["std"])
            rows.append(row)
    return rows


def level_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per (network, mode, level) for the image- and patient-level metrics."""
    rows = []
    for name, entry in result.get("nets", {}).items():
        for mode in ("plain", "more"):
            m = entry.get(mode)
            if not m:
                continue
            for level in ("image", "patient"):
                block = m.get(f"{level}_metrics")
                if not block:
                    continue
                row: dict[str, Any] = {
                    "network": name,
                    "mode": "plaintext" if mode == "plain" else "MORE ciphertext",
                    "level": level,
                    "folds": m["folds"],
                    "seeds": m.get("seeds", []),
                }
                for k in _METRICS:
                    row[k] = (block[k]["mean"], block[k]["std"])
                rows.append(row)
    return rows


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """The console summary: each network's mean +- sd metrics per mode (and patient level), goals."""
    lines = []
    for name, entry in result["nets"].items():
        for mode in ("plain", "more"):
            if mode not in entry:
                continue
            m = entry[mode]["metrics"]
            lines.append(
                f"{name:12s} {mode:5s} params {entry['params']:6d}  "
                + "  ".join(f"{k} {m[k]['mean']:.3f}±{m[k]['std']:.3f}" for k in m)
                + f"  train {entry[mode]['train_seconds']:.0f}s"
            )
            pm = entry[mode].get("patient_metrics")
            if pm:
                lines.append(
                    f"{'':12s} {mode:5s} patient-level  "
                    + "  ".join(f"{k} {pm[k]['mean']:.3f}±{pm[k]['std']:.3f}" for k in pm)
                )
    lines.extend(goal["reading"] for goal in result.get("goals", []))
    return lines


def _svg_curves(series: list[tuple[str, list[float]]], *, title: str, ylabel: str) -> str:
    w, h, pad = 420, 220, 36
    values = [v for _, vs in series for v in vs if v is not None and math.isfinite(v)]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        hi = lo + 1.0
    longest = max(len(vs) for _, vs in series)
    parts = [
        f'<svg width="{w}" height="{h}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{w / 2}" y="14" text-anchor="middle" font-size="12">{html.escape(title)}</text>',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - 8}" y2="{h - pad}" stroke="#888"/>',
        f'<line x1="{pad}" y1="20" x2="{pad}" y2="{h - pad}" stroke="#888"/>',
        f'<text x="4" y="26" font-size="10">{hi:.3f}</text>',
        f'<text x="4" y="{h - pad}" font-size="10">{lo:.3f}</text>',
        f'<text x="{w / 2}" y="{h - 6}" text-anchor="middle" font-size="10">epoch</text>',
        f'<text x="4" y="{h / 2}" font-size="10">{html.escape(ylabel)}</text>',
    ]
    for i, (label, vs) in enumerate(series):
        pts = []
        for j, v in enumerate(vs):
            if v is None or not math.isfinite(v):
                continue
            px = pad + (w - pad - 10) * (j / max(1, longest - 1))
            py = (h - pad) - (h - pad - 22) * ((v - lo) / (hi - lo))
            pts.append(f"{px:.1f},{py:.1f}")
        colour = _COLOURS[i % len(_COLOURS)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(pts)}"/>'
        )
        parts.append(
            f'<text x="{w - 110}" y="{32 + 12 * i}" font-size="10" fill="{colour}">'
            f"{html.escape(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def sections(result: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The page title and the HTML sections of a sequence study's result."""
    e = html.escape
    out = [
        f"<h1>Seed 003 reproduction: {e(result.get('title', ''))}</h1>",
        f"<p class='warn'><b>Security:</b> {e(result.get('security_note', ''))}</p>",
    ]
    data = result.get("data", {})
    out.append(
        "<h2>Data</h2><p>"
        + e(
            f"{data.get('name')}: {data.get('sequences')} sequences of shape {data.get('shape')} "
            f"from {data.get('patients')} patients, {data.get('positives')} positive."
        )
        + "</p>"
    )
    if data.get("magnifications"):
        per = data.get("patients_per_magnification", {})
        out.append(
            "<p>"
            + e(
                f"Patients: {data.get('patients')} ({data.get('patients_positive')} malignant); "
                f"magnifications {data.get('magnifications')}, patients per magnification "
                f"{per}; {data.get('patients_multi_magnification')} patients with two or more. "
                f"Images used: {data.get('images')} (pixel-identical duplicates dropped: "
                f"{len(data.get('dropped_duplicates', []))}; {data.get('duplicate_rule')})."
            )
            + "</p>"
        )
    goals = result.get("goals", [])
    if goals:
        out.append(
            "<h2>Goals (judged from the numbers)</h2><table><tr><th class='l'>goal</th>"
            "<th>estimate</th><th>95% CI</th><th>threshold</th><th>verdict</th></tr>"
        )
        for g in goals:
            out.append(
                f"<tr><td class='l'>{e(g['statement'])}</td><td>{g['estimate']:.4g}</td>"
                f"<td>[{g['ci'][0]:.4g}, {g['ci'][1]:.4g}]</td><td>{g['threshold']:g}</td>"
                f"<td><b>{e(g['verdict'])}</b></td></tr>"
            )
        out.append("</table>")
    pooled = result.get("pooled")
    if pooled:
        out.append(
            f"<h2>Patient-level AUC, pooled out-of-fold ({e(pooled.get('level', ''))})</h2>"
            "<table><tr><th class='l'>network</th><th>AUC</th><th>95% bootstrap CI</th>"
            "<th>NIH follow-up AUC (docs/seed003.md, sequence level)</th></tr>"
        )
        for name, a in pooled["auc"].items():
            ref = NIH_FOLLOWUP_REFERENCE.get(name)
            ref_s = f"{ref[0]:.3f} ± {ref[1]:.3f}" if ref else "-"
            out.append(
                f"<tr><td class='l'>{e(name)}</td><td>{a['estimate']:.3f}</td>"
                f"<td>[{a['ci'][0]:.3f}, {a['ci'][1]:.3f}]</td><td>{ref_s}</td></tr>"
            )
        out.append(
            f"</table><p>{pooled['patients']} patients, {pooled['resamples']} stratified "
            f"bootstrap resamples. Ranking: {e(' > '.join(pooled['ranking']))}.</p>"
        )
    lrows = level_rows(result)
    if lrows:
        out.append(
            "<h2>Image level (unit vote) and patient level (sequence vote), mean ± sd over "
            "folds and seeds</h2><table><tr><th class='l'>network</th><th class='l'>mode</th>"
            "<th class='l'>level</th><th>folds</th>"
        )
        out.extend(f"<th>{m}</th>" for m in _METRICS)
        out.append("</tr>")
        for row in lrows:
            cells = [
                f"<td class='l'>{e(row['network'])}</td><td class='l'>{e(row['mode'])}</td>",
                f"<td class='l'>{row['level']}</td><td>{row['folds']}</td>",
            ]
            cells.extend(f"<td>{_fmt(row[m][0])} ± {_fmt(row[m][1])}</td>" for m in _METRICS)
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</table>")
    sizes = result.get("frame_sizes", [])
    if sizes:
        out.append(
            "<h2>Frame size: one training step, plain vs MORE (interleaved pairs)</h2><table>"
            "<tr><th>size</th><th class='l'>net</th><th>input</th><th>plain ms/seq</th>"
            "<th>MORE ms/seq</th><th>ratio (median)</th><th>pair range</th></tr>"
        )
        for r in sizes:
            out.append(
                f"<tr><td>{r['size']}</td><td class='l'>{e(r['net'])}</td>"
                f"<td>{e(str(r['shape']))}</td><td>{r['plain_ms_per_seq']:.2f}</td>"
                f"<td>{r['more_ms_per_seq']:.2f}</td><td>{r['ratio']:.1f}x</td>"
                f"<td>{r['ratio_range'][0]:.1f}-{r['ratio_range'][1]:.1f}x</td></tr>"
            )
        out.append("</table>")
    out.append(
        "<h2>Table 1 equivalent (sequence level)</h2><table><tr><th class='l'>network</th>"
        "<th class='l'>mode</th><th>params</th><th>folds</th>"
    )
    out.extend(f"<th>{m}</th>" for m in _METRICS)
    out.append("<th>train time (s, all folds)</th><th>inference (ms / sequence)</th></tr>")
    for row in table1_rows(result):
        cells = [
            f"<td class='l'>{e(row['network'])}</td><td class='l'>{e(row['mode'])}</td>",
            f"<td>{row['params']}</td><td>{row['folds']}</td>",
        ]
        cells.extend(f"<td>{_fmt(row[m][0])} ± {_fmt(row[m][1])}</td>" for m in _METRICS)
        cells.append(
            f"<td>{_fmt(row['train_s'], 1)}</td><td>{_fmt(row['infer_ms_per_seq'], 2)}</td>"
        )
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    out.append(
        "<h2>Ciphertext training equals plaintext training</h2><table><tr>"
        "<th class='l'>network</th><th>max |Δ weight|</th><th>max |Δ logit|</th>"
        "<th>same epochs</th><th>tolerance</th><th>passed</th></tr>"
    )
    for name, entry in result.get("nets", {}).items():
        eq = entry.get("equality")
        if eq:
            out.append(
                f"<tr><td class='l'>{e(name)}</td><td>{eq['max_abs_weight_diff']:.2e}</td>"
                f"<td>{eq['max_abs_logit_diff']:.2e}</td><td>{eq['all_same_epochs']}</td>"
                f"<td>{eq['tolerance']:g}</td><td>{eq['passed']}</td></tr>"
            )
    out.append("</table>")
    out.append(
        "<h2>Folds</h2><table><tr><th class='l'>network</th><th>fold</th>"
        "<th class='l'>mode</th><th>fit/val/test</th><th>epochs (best)</th>"
    )
    out.extend(f"<th>{m}</th>" for m in _METRICS)
    out.append("<th>train s</th></tr>")
    for name, entry in result.get("nets", {}).items():
        for row in entry["folds"]:
            for mode in ("plain", "more"):
                if mode not in row:
                    continue
                r = row[mode]
                cells = [
                    f"<td class='l'>{e(name)}</td><td>{row['fold']}</td><td class='l'>{mode}</td>",
                    f"<td>{row['n_fit']}/{row['n_val']}/{row['n_test']}</td>",
                    f"<td>{r['epochs']} ({r['best_epoch']})</td>",
                ]
                cells.extend(f"<td>{_fmt(r['metrics'][m])}</td>" for m in _METRICS)
                cells.append(f"<td>{_fmt(r['train_seconds'], 1)}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table><h2>Loss and accuracy curves (fold 0)</h2><div>")
    for name, entry in result.get("nets", {}).items():
        row = entry["folds"][0] if entry["folds"] else {}
        series_loss, series_acc = [], []
        for mode in ("plain", "more"):
            hist = row.get(mode, {}).get("history", {})
            if hist.get("train_loss"):
                series_loss.append((f"{mode} train", hist["train_loss"]))
            if hist.get("val_loss"):
                series_loss.append((f"{mode} val", hist["val_loss"]))
            if hist.get("val_acc"):
                series_acc.append((f"{mode} val", hist["val_acc"]))
        out.append(_svg_curves(series_loss, title=f"{name}: loss", ylabel="BCE"))
        out.append(_svg_curves(series_acc, title=f"{name}: validation accuracy", ylabel="acc"))
    out.append(
        "</div><h2>Attacks on the ciphertexts the server held</h2><table>"
        "<tr><th class='l'>attack</th><th class='l'>target</th><th>success rate</th></tr>"
    )
    for name, a in result.get("attacks", {}).items():
        out.append(
            f"<tr><td class='l'>{e(name)}</td><td class='l'>{e(a.get('target', ''))}</td>"
            f"<td>{_fmt(a.get('success_rate'))}</td></tr>"
        )
    out.append("</table>")
    proto = result.get("protocol", {})
    out.append("<h2>Protocol</h2><ul>")
    for k, v in proto.items():
        if isinstance(v, list):
            out.append(
                f"<li>{e(k)}:<ul>" + "".join(f"<li>{e(str(x))}</li>" for x in v) + "</ul></li>"
            )
        else:
            out.append(f"<li>{e(k)}: {e(str(v))}</li>")
    out.append("</ul>")
    out.append(f"<p>Total run time {result.get('seconds', 0):.0f} s.</p>")
    return f"medseal seed 003: {result.get('title', '')}", ["".join(out)]
