"""``medseal evaluate he`` (the CKKS study) and ``medseal evaluate modes`` (every mode in one table).

Where it sits: cli. Thin shells over :mod:`medseal.evaluate.he` and
:mod:`medseal.evaluate.report_modes`; registered by :mod:`medseal.cli.he_cmd`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from medseal.cli._common import console
from medseal.cli.he_cmd import DataOpt, choice
from medseal.errors import InputError

if TYPE_CHECKING:
    from medseal.evaluate import HEStudyConfig

__all__ = ["evaluate_he", "evaluate_modes", "study_config"]


def study_config(
    *, data: str, profile: str = "128", conv2: str | None = None, **fields: Any
) -> HEStudyConfig:
    """The study's settings from command-line values (enums checked, ``--conv2`` parsed)."""
    from medseal.evaluate import HEData, HEStudyConfig
    from medseal.privacy.ckks import ProfileName

    second: tuple[int, int, int] | None = None
    if conv2:
        try:
            c, k, st = (int(v) for v in conv2.split(","))
        except ValueError:
            raise InputError("--conv2 is 'channels,kernel,stride', e.g. 8,3,2") from None
        second = (c, k, st)
    return HEStudyConfig(
        data=choice(HEData, data, "--data"),
        profile=choice(ProfileName, profile, "--profile"),
        conv2=second,
        **fields,
    )


def evaluate_he(
    data: DataOpt = "pneumoniamnist",
    data_dir: Annotated[
        str | None, typer.Option("--data-dir", help="Folder holding the data set folders.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Report directory.")] = Path("reports"),
    image_size: Annotated[
        int | None,
        typer.Option("--image-size", help="Resize images first (NIH: 64 -> 28, the default)."),
    ] = None,
    channels: Annotated[int, typer.Option(help="Convolution filters of the HE-CNN.")] = 8,
    pool: Annotated[int, typer.Option(help="Average-pooling window.")] = 6,
    conv2: Annotated[
        str | None,
        typer.Option(
            help="Second convolution 'channels,kernel,stride' (needs --profile 128-deep)."
        ),
    ] = None,
    profile: Annotated[str, typer.Option(help="CKKS profile: 128 or 128-deep.")] = "128",
    shift: Annotated[int, typer.Option(help="Random training shifts of up to N pixels.")] = 0,
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 60,
    patience: Annotated[int, typer.Option(help="Early-stopping patience (epochs).")] = 15,
    seed: Annotated[int, typer.Option(help="Seed of splits and weights.")] = 0,
    limit: Annotated[
        int | None, typer.Option(help="At most N images per split (quick run).")
    ] = None,
    threads: Annotated[int, typer.Option(help="Torch threads.")] = 2,
    workers: Annotated[int, typer.Option(help="Server processes (throughput packing).")] = 2,
    singles: Annotated[
        int, typer.Option(help="Test images also run one by one in the single-image packing.")
    ] = 10,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for CIs.")] = 2000,
) -> None:
    """CKKS study: plaintext vs simulated vs encrypted AUC, agreement, latency, bytes, goals."""
    options = dict(locals())  # the options, named as HEStudyConfig's fields (out aside)
    from medseal.evaluate import run_he_study

    if image_size is None and data.strip().lower().startswith(("nih", "chestx")):
        options["image_size"] = 28
    cfg = study_config(**{k: v for k, v in options.items() if k != "out"})
    r = run_he_study(cfg, say=console.print)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"he-{r['dataset']['name']}.json"
    path.write_text(json.dumps(r, indent=2, default=str) + "\n")
    table = Table("mode", "AUC [95% CI]", title=f"CKKS study on {r['dataset']['name']}")
    for mode, a in r["auc"].items():
        table.add_row(mode, f"{a['auc']:.4f} [{a['lo']:.4f}, {a['hi']:.4f}]")
    console.print(table)
    goals = Table("goal", "measured", "met")
    for g in r["goals"]:
        goals.add_row(g["goal"], g["measured"], "yes" if g["met"] else "NO")
    console.print(goals)
    console.print(f"json: {path} ({r['seconds']:.0f} s)")


def evaluate_modes(
    seed000: Annotated[
        Path | None, typer.Option("--seed000", help="Result of `evaluate seed000` (masking).")
    ] = None,
    seed003: Annotated[
        Path | None, typer.Option("--seed003", help="Result of `evaluate seed003` (MORE).")
    ] = None,
    he: Annotated[Path | None, typer.Option("--he", help="Result of `evaluate he` (CKKS).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Report directory.")] = Path("reports"),
) -> None:
    """Every privacy mode's accuracy, cost and leakage in one table (from the studies' JSON)."""
    from medseal.evaluate import Mode, modes_markdown, write_modes_report

    given = {Mode.MASKED: seed000, Mode.MORE: seed003, Mode.CKKS: he}
    rows, paths = write_modes_report({m: p for m, p in given.items() if p is not None}, out)
    console.print(modes_markdown(rows), markup=False, highlight=False)
    console.print(f"written: {', '.join(str(p) for p in paths)}")
