"""`medseal evaluate`: reproduce and measure the published claims, one study per privacy mode.

- ``seed000``: keyed masking (Masked-CNN vs plaintext vs AES control, attacks);
- ``seed003``: MORE matrix encryption (sequence networks, folds, attacks);
- ``he``: CKKS (plaintext vs simulated vs encrypted AUC, agreement, latency);
- ``modes``: every mode's accuracy, cost and leakage in one table, from the studies' JSON.

Each study is a function of :mod:`medseal.evaluate`; the commands read options and print.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medseal.cli._common import console
from medseal.cli._he_options import DataOpt, study_config
from medseal.errors import InputError

__all__ = ["app", "evaluate_he", "evaluate_modes", "evaluate_seed003", "seed000"]

app = typer.Typer(help="Reproduce and measure published claims.", no_args_is_help=True)


@app.command("seed000")
def seed000(
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="Any MedMNIST 2D set by name (pneumoniamnist, retinamnist, bloodmnist, ...), "
            "nih-chestxray14, nih-chestxray14-more, nih-chestxray14-pneumonia, breakhis, embedded.",
        ),
    ] = "pneumoniamnist",
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Folder holding the data set folder.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Report directory.")] = Path("reports"),
    scheme: Annotated[
        str, typer.Option(help="Masking scheme of the Masked-CNN.")
    ] = "shuffle+negpos",
    block: Annotated[
        int | None, typer.Option(help="Block side (default 4 for 28 px, 8 for 64-128 px).")
    ] = None,
    seeds: Annotated[
        str, typer.Option(help="Seeds of keys, weights and batch order, comma-separated.")
    ] = "0,1,2",
    split_seed: Annotated[
        int, typer.Option(help="Seed of the patient-disjoint split (sets without official splits).")
    ] = 0,
    limit: Annotated[
        int | None, typer.Option(help="At most N images per split (quick run).")
    ] = None,
    epochs: Annotated[
        int, typer.Option(help="Epochs per model (the schedule is sized to them).")
    ] = 10,
    width: Annotated[int, typer.Option(help="ResNet-18 width of both models.")] = 16,
    budget: Annotated[
        float,
        typer.Option(help="Guard: a model training longer than this many seconds FAILS the run."),
    ] = 3600.0,
    threads: Annotated[int, typer.Option(help="Torch threads per training job.")] = 1,
    jobs: Annotated[
        int,
        typer.Option(
            help="Models trained at once, each in its own process (figures do not depend on it)."
        ),
    ] = 2,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for CIs.")] = 2000,
    masked_augment: Annotated[
        str,
        typer.Option(
            help="keyfree: maps that commute with the masking, same for plaintext (default); "
            "block: whole-block shifts only; none; owner: the key holder masks 1-2 px shifted "
            "copies, which GIVE THE ANALYST THE KEY (needs --allow-key-leak)."
        ),
    ] = "keyfree",
    allow_key_leak: Annotated[
        bool,
        typer.Option(
            "--allow-key-leak",
            help="Allow --masked-augment owner (the report then shows the views attack's result).",
        ),
    ] = False,
) -> None:
    """Train plain / masked / AES-control models over seeds, attack, measure; write HTML + JSON."""
    from medseal.evaluate import Seed000Config, run_seed000, write_report

    try:
        seed_list = tuple(int(x) for x in seeds.split(",") if x.strip())
    except ValueError:
        raise InputError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    if not seed_list:
        raise InputError("--seeds needs at least one seed")
    cfg = Seed000Config(
        data=data,
        data_dir=str(data_dir) if data_dir else None,
        scheme=scheme,
        block=block,
        seeds=seed_list,
        split_seed=split_seed,
        limit=limit,
        epochs=epochs,
        baseline_width=width,
        masked_width=width,
        budget_s=budget,
        threads=threads,
        jobs=jobs,
        n_boot=n_boot,
        masked_augment=masked_augment,
        allow_key_leak=allow_key_leak,
    )
    result = run_seed000(cfg, progress=os.environ.get("MEDSEAL_PROGRESS") != "0", say=console.print)
    stem = f"seed000-{result['dataset']['name']}"
    html_path, json_path = write_report(result, out, stem=stem)
    table = Table(
        "goal", "estimate [95% CI]", "verdict", title=f"seed 000 on {result['dataset']['name']}"
    )
    for g in result["goals"]:
        table.add_row(
            g.get("statement") or g["name"],
            f"{g['estimate']:+.3f} [{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}]",
            g["verdict"],
        )
    console.print(table)
    claims = Table("seed 000 claim", "measured")
    for c in result["claims"]:
        claims.add_row(c["claim"], c["measured"])
    console.print(claims)
    console.print(f"report: {html_path}  json: {json_path}  ({result['seconds']:.0f} s)")


@app.command("seed003")
def evaluate_seed003(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data sets folder.")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Report folder.")] = Path(
        "seed003-report"
    ),
    dataset: Annotated[
        str,
        typer.Option(
            "--data", "--dataset", help="Sequence data set (nih, breakhis, chexpert, synthetic)."
        ),
    ] = "nih",
    folds: Annotated[int, typer.Option(help="Cross-validation folds (seed: 4).")] = 4,
    lr: Annotated[float, typer.Option(help="Adam learning rate (seed: 1e-4).")] = 1e-3,
    batch_size: Annotated[int, typer.Option(help="Minibatch (seed: 256).")] = 32,
    max_epochs: Annotated[
        int | None, typer.Option(help="Epoch cap (default 100; 60 for breakhis).")
    ] = None,
    encrypted: Annotated[bool, typer.Option(help="Also train on MORE ciphertexts.")] = True,
    encrypted_folds: Annotated[
        int | None,
        typer.Option(help="Ciphertext runs on the first N folds only (default all)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for folds, weights and keys.")] = 0,
    seeds: Annotated[
        str | None,
        typer.Option(help="Comma-separated CV seeds (default: --seed only; breakhis: 0,1,2)."),
    ] = None,
    more_seeds: Annotated[
        int, typer.Option(help="Train on MORE for the first N seeds (plaintext for all).")
    ] = 1,
    size: Annotated[int, typer.Option(help="Frame side in pixels.")] = 16,
    colour: Annotated[
        bool | None, typer.Option(help="RGB frames (default: breakhis RGB, others grey).")
    ] = None,
    frame_sizes: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated frame sizes to time plain vs MORE (default breakhis: 16,32,48)."
        ),
    ] = None,
) -> None:
    """Reproduce seed paper 003 (Table 1 equivalent, folds, curves, MORE attacks); HTML + JSON."""
    import time

    from medseal.config import shared_data_dir
    from medseal.evaluate import (
        Seed003Config,
        run_seed003,
        seed003_summary_lines,
        write_seed003_report,
    )

    root = data_dir
    if root is None and not os.environ.get("MEDSEAL_DATA_DIR"):
        root = shared_data_dir()

    def _ints(text: str | None) -> tuple[int, ...] | None:
        if text is None:
            return None
        try:
            return tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise InputError("expected comma-separated integers") from None

    cfg = Seed003Config.for_dataset(
        dataset, data_dir=str(root) if root else None, folds=folds, lr=lr,
        batch_size=batch_size, max_epochs=max_epochs, encrypted=encrypted, seed=seed,
        encrypted_folds=encrypted_folds, seeds=_ints(seeds), more_seeds=more_seeds, size=size,
        colour=colour, frame_sizes=_ints(frame_sizes),
    )  # fmt: skip
    t0 = time.perf_counter()
    result = run_seed003(
        cfg, log=lambda m: console.print(f"[{time.perf_counter() - t0:6.0f}s] {m}")
    )
    paths = write_seed003_report(result, output)
    for line in seed003_summary_lines(result):
        console.print(line)
    console.print(f"total {result['seconds']:.0f}s  report: {paths['html']}  data: {paths['json']}")


@app.command("he")
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


@app.command("modes")
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
