"""One table of every privacy mode: accuracy, cost and leakage side by side.

Where it sits: the last step of evaluate, above the three studies. Each study
writes its own JSON (``medseal evaluate seed000`` for keyed masking,
``medseal evaluate seed003`` for MORE, ``medseal evaluate he`` for CKKS); this
module reads one row out of each, so every figure in the table is the one the
study computed, and renders the rows as Markdown, HTML or JSON.

The studies run on different data (masking and CKKS on chest X-rays, MORE on
patient sequences), so each row names its data set and its plaintext
reference: a mode is judged against its own plaintext model, the leakage
column by the strongest attack the study ran against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from medseal.errors import InputError
from medseal.evaluate.report import page, table

__all__ = [
    "Mode",
    "ModeRow",
    "ckks_row",
    "masked_row",
    "mode_row",
    "modes_html",
    "modes_markdown",
    "more_row",
    "write_modes_report",
]


class Mode(StrEnum):
    """The privacy modes of medseal.

    Each is measured by its own study: ``masked`` by ``evaluate seed000``,
    ``more`` by ``evaluate seed003``, ``ckks`` by ``evaluate he``.
    """

    MASKED = "masked"
    MORE = "more"
    CKKS = "ckks"


@dataclass(frozen=True)
class ModeRow:
    """One mode's figures, copied out of its study's result."""

    mode: Mode
    dataset: str
    """The data set of the study's test split."""
    model: str
    auc: float
    """AUC of the model on protected data, on the study's test split."""
    auc_ci: tuple[float, float] | None
    """95% CI of ``auc`` where the study computed one (``None``: a spread over folds instead)."""
    plain_auc: float
    """The study's plaintext model on the same test data (its reference)."""
    ms_per_unit: float
    """Inference time per unit on protected data (amortized over a batch)."""
    plain_ms_per_unit: float
    unit: str
    """What one inference is: an image, or an image sequence (MORE)."""
    bytes_per_unit: float | None
    """Protected input bytes per unit (``None``: not measured by the study)."""
    security: str
    attack: str
    attack_result: str
    broken: bool
    """An attack recovered the protected values (or the key)."""

    @property
    def cost_ratio(self) -> float:
        """Protected over plaintext inference time."""
        return self.ms_per_unit / self.plain_ms_per_unit if self.plain_ms_per_unit else float("nan")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["mode"] = self.mode.value
        out["auc_ci"] = None if self.auc_ci is None else list(self.auc_ci)
        out["cost_ratio"] = self.cost_ratio
        return out


def _need(result: Mapping[str, Any], study: str, *keys: str) -> None:
    missing = [k for k in keys if k not in result]
    if missing:
        raise InputError(f"not a {study} result: missing {', '.join(missing)}")


def masked_row(result: Mapping[str, Any]) -> ModeRow:
    """The keyed-masking row from a ``medseal evaluate seed000`` result."""
    _need(result, "seed000", "results", "latency", "attacks", "scheme", "dataset")
    res, lat = result["results"], result["latency"]
    kpa = result["attacks"]["known_plaintext"]
    broken_at = [r for r in kpa["rows"] if r.get("key_exact") or r["pixel_exact"] >= 0.99]
    first = min(broken_at, key=lambda r: r["n_pairs"]) if broken_at else None
    strongest = first or max(kpa["rows"], key=lambda r: r["pixel_exact"])
    storage = result.get("storage", {})
    return ModeRow(
        mode=Mode.MASKED,
        dataset=str(result["dataset"]["name"]),
        model="Masked-CNN",
        auc=float(res["masked"]["auc"]),
        auc_ci=(float(res["masked"]["auc_ci"][0]), float(res["masked"]["auc_ci"][1])),
        plain_auc=float(res["plain"]["auc"]),
        ms_per_unit=float(lat["masked"]["batched_ms"]) + float(lat["masking_ms_per_image"]),
        plain_ms_per_unit=float(lat["plain"]["batched_ms"]),
        unit="image",
        bytes_per_unit=storage.get("masked_j2k_bytes"),
        security=f"none stated (keyed {result['scheme']['scheme']} masking)",
        attack=f"known plaintext, {strongest['n_pairs']} known image pair(s)",
        attack_result=(
            f"{100 * strongest['pixel_exact']:.0f} % of pixels exact"
            + (", key recovered" if strongest.get("key_exact") else "")
        ),
        broken=first is not None,
    )


def more_row(result: Mapping[str, Any], *, net: str | None = None) -> ModeRow:
    """The MORE row from a ``medseal evaluate seed003`` result (``net``: default the first)."""
    _need(result, "seed003", "nets", "attacks", "data", "config")
    name = net or str(result["config"]["nets"][0])
    if name not in result["nets"]:
        raise InputError(f"seed003 result has no network {name!r}")
    n = result["nets"][name]
    more_auc = n["more"]["metrics"]["auc"]
    attacks = result["attacks"]
    key = "eigenvalue_ciphertext_only"
    attack = attacks.get(key) or attacks["eigenvalue_known_range"]
    rate = float(attack["success_rate"])
    return ModeRow(
        mode=Mode.MORE,
        dataset=str(result["data"]["name"]),
        model=name,
        auc=float(more_auc["mean"]),
        auc_ci=None,
        plain_auc=_plain_on_more_folds(n),
        ms_per_unit=float(n["more"]["inference_ms_per_sequence"]),
        plain_ms_per_unit=float(n["plain"]["inference_ms_per_sequence"]),
        unit="sequence",
        bytes_per_unit=None,
        security="none (MORE: linear algebra over the reals)",
        attack="eigenvalue, ciphertexts only"
        if key in attacks
        else "eigenvalue, known value range",
        attack_result=f"{100 * rate:.0f} % of values read",
        broken=rate >= 0.99,
    )


def _plain_on_more_folds(net: Mapping[str, Any]) -> float:
    """Plaintext AUC over the folds MORE ran on (the plaintext run may cover more folds)."""
    paired = [f["plain"]["metrics"]["auc"] for f in net.get("folds", []) if f.get("more")]
    return (
        float(sum(paired) / len(paired))
        if paired
        else float(net["plain"]["metrics"]["auc"]["mean"])
    )


def ckks_row(result: Mapping[str, Any]) -> ModeRow:
    """The CKKS row from a ``medseal evaluate he`` result."""
    _need(result, "he", "auc", "latency", "sizes", "attacks", "profile", "plaintext_cost")
    enc = result["auc"]["encrypted"]
    attack = result["attacks"][0]
    return ModeRow(
        mode=Mode.CKKS,
        dataset=str(result["dataset"]["name"]),
        model="HE-CNN",
        auc=float(enc["auc"]),
        auc_ci=(float(enc["lo"]), float(enc["hi"])),
        plain_auc=float(result["auc"]["plain"]["auc"]),
        ms_per_unit=1e3 * float(result["latency"]["per_image_full_batch_s"]),
        plain_ms_per_unit=1e3 * float(result["plaintext_cost"]["he_cnn_plain"]["amortized_s"]),
        unit="image",
        bytes_per_unit=float(result["sizes"]["input_bytes_per_image_full_batch"]),
        security=(
            f"{result['profile']['security_bits']}-bit (CKKS, N = "
            f"{result['profile']['poly_modulus_degree']})"
        ),
        attack=f"learned inverse, {attack['known_pairs']} known ciphertext means",
        attack_result=(
            f"R^2 {attack['ciphertext_r2']:.2f}"
            + (f" (median of {attack['keys']} keys)" if attack.get("keys", 1) > 1 else "")
            + f", control on encodings {attack['encoding_r2']:.2f}"
        ),
        broken=not attack["attack_fails"],
    )


_ROWS = {Mode.MASKED: masked_row, Mode.MORE: more_row, Mode.CKKS: ckks_row}


def mode_row(mode: Mode | str, result: Mapping[str, Any]) -> ModeRow:
    """The row of ``mode`` read from its study's result."""
    return _ROWS[Mode(mode)](result)


_COLUMNS = (
    "mode",
    "data",
    "model",
    "AUC [95% CI]",
    "plaintext AUC",
    "ms per unit",
    "x plaintext",
    "bytes per unit",
    "security",
    "strongest attack",
    "result",
    "broken",
)


def _cells(r: ModeRow) -> list[str]:
    ci = f" [{r.auc_ci[0]:.3f}, {r.auc_ci[1]:.3f}]" if r.auc_ci else " (mean over folds)"
    return [
        r.mode.value,
        r.dataset,
        r.model,
        f"{r.auc:.3f}{ci}",
        f"{r.plain_auc:.3f}",
        f"{r.ms_per_unit:.3g} ({r.unit})",
        f"{r.cost_ratio:.3g}",
        "-" if r.bytes_per_unit is None else f"{r.bytes_per_unit:,.0f}",
        r.security,
        r.attack,
        r.attack_result,
        "yes" if r.broken else "no",
    ]


def modes_markdown(rows: Iterable[ModeRow]) -> str:
    """The table as GitHub Markdown."""
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def modes_html(rows: Iterable[ModeRow]) -> str:
    """The table as one self-contained HTML page (the studies' page shell)."""
    return page(
        "medseal: privacy modes",
        [
            "<h1>Privacy modes side by side</h1>",
            table([dict(zip(_COLUMNS, _cells(r), strict=True)) for r in rows], list(_COLUMNS)),
            "<p>Each row is read from its study's JSON result. Cost: inference on protected "
            "data per unit, amortized over a batch (masking: masking plus the Masked-CNN), and "
            "its ratio to the study's plaintext model. Broken: the strongest attack the study "
            "ran recovered the protected values.</p>",
        ],
    )


def write_modes_report(
    results: Mapping[Mode | str, str | Path], out_dir: str | Path, *, stem: str = "modes"
) -> tuple[list[ModeRow], list[Path]]:
    """Read each study's JSON, write ``<stem>.md``, ``.html`` and ``.json``; rows and paths."""
    if not results:
        raise InputError("no study result given (seed000, seed003 or he JSON)")
    rows = []
    for mode, path in results.items():
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the {Mode(mode).value} result {path}: {exc}") from None
        rows.append(mode_row(mode, doc))
    rows.sort(key=lambda r: list(Mode).index(r.mode))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.md", out / f"{stem}.html", out / f"{stem}.json"]
    paths[0].write_text(modes_markdown(rows), encoding="utf-8")
    paths[1].write_text(modes_html(rows), encoding="utf-8")
    doc_out = {
        "modes": [r.to_json() for r in rows],
        "sources": {str(Mode(m)): str(p) for m, p in results.items()},
    }
    paths[2].write_text(json.dumps(doc_out, indent=2) + "\n", encoding="utf-8")
    return rows, paths
