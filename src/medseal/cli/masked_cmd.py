"""`medseal mask`, `medseal train masked-cnn`, `medseal predict`, `medseal evaluate seed000`.

The masked-inference workflow of seed 000, done honestly: the data owner masks
images with a key from the key ring and stores the masked copies in the vault;
an analyst trains a Masked-CNN on masked images only and gets predictions,
never pixels; ``evaluate seed000`` measures every claim of the seed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medseal.cli._common import (
    AsOpt,
    KeyringOpt,
    VaultOpt,
    console,
    open_vault,
    principal,
    progress_bar,
)
from medseal.errors import InputError

__all__ = ["evaluate_app", "mask", "masked_cnn", "predict", "register", "seed000", "train_app"]

train_app = typer.Typer(help="Train models on protected images.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Reproduce and measure published claims.", no_args_is_help=True)


def mask(
    vault_dir: Annotated[
        Path | None, typer.Argument(help="Vault directory (or use --vault).")
    ] = None,
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset whose images to mask.")
    ] = "chest",
    scheme: Annotated[
        str, typer.Option(help="Masking steps joined by '+': block, shuffle, negpos.")
    ] = "shuffle+negpos",
    block: Annotated[int, typer.Option(help="Block side in pixels.")] = 8,
    key_id: Annotated[
        str | None, typer.Option("--key-id", help="Key ring purpose (default mask/<dataset>).")
    ] = None,
    shifts: Annotated[
        int,
        typer.Option(
            help="Also store masked copies of each image cyclically shifted by up to this "
            "many pixels ((2S+1)^2 - 1 extra copies). THESE GIVE THE ANALYST THE KEY (the "
            "views attack recovers it from the copies alone): needs --allow-key-leaking-shifts."
        ),
    ] = 0,
    allow_key_leaking_shifts: Annotated[
        bool,
        typer.Option(
            "--allow-key-leaking-shifts",
            help="Store the --shifts copies although anyone who reads them can recover the "
            "masking key (evaluate/attacks/views.py; docs/seed000.md).",
        ),
    ] = False,
    vault: VaultOpt = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
) -> None:
    """Store a keyed masked copy of every image of a dataset (owner or clinician)."""
    from medseal.privacy.masking import mask_dataset

    who = principal(as_)
    with open_vault(vault_dir or vault, keyring) as v, progress_bar() as bar:
        task = bar.add_task(f"mask {dataset}", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        rep = mask_dataset(
            v,
            dataset,
            scheme,
            block,
            as_=who,
            key_id=key_id,
            shifts=shifts,
            allow_key_leaking_shifts=allow_key_leaking_shifts,
            progress=advance,
        )
    d = rep.descriptor
    console.print(
        f"masked {rep.masked} image(s) of {dataset} with {d.scheme} (block {d.block}, key id "
        f"{d.key_id}); {rep.skipped} already had their masked copies"
        + (f"; {rep.copies} copies stored, shifts up to {shifts} px" if shifts else "")
    )
    if shifts:
        console.print(
            "[red]warning:[/] the shifted copies give whoever reads them the masking key "
            "(up to one global bit): treat this dataset's masked images as plaintext"
        )


def masked_cnn(
    dataset: Annotated[str, typer.Option("--dataset", "-d")] = "chest",
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory.")] = Path("runs/mcnn"),
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 30,
    patience: Annotated[int, typer.Option(help="Early-stopping patience (epochs).")] = 6,
    width: Annotated[int, typer.Option(help="Channels of the network body.")] = 16,
    body: Annotated[
        str,
        typer.Option(
            help="resnet18: block-wise adaptation layer + ResNet-18 (default); "
            "grid: small residual body on the block grid."
        ),
    ] = "resnet18",
    seed: Annotated[int, typer.Option(help="Seed of weights and batch order.")] = 0,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: all).")] = None,
    augment: Annotated[
        bool,
        typer.Option(
            help="Key-free augmentation that commutes with the masking: whole-block cyclic "
            "shifts (not with block scrambling) and mid-grey-symmetric intensity maps."
        ),
    ] = True,
    vault: VaultOpt = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
) -> None:
    """Train a Masked-CNN on the dataset's masked images only (analysts included)."""
    from medseal.evaluate import summarize
    from medseal.evaluate.attacks import views_attack
    from medseal.models import load_masked_training, predict_proba, save_model, train_masked_cnn

    who = principal(as_)
    with open_vault(vault, keyring) as v:
        masked = load_masked_training(v, as_=who, dataset=dataset, seed=seed, views=augment)
    desc = masked.descriptor
    if not desc.learnable_blockwise:
        console.print(
            "[yellow]warning:[/] per-image keys: a block-wise layer cannot learn one transform"
        )
    if masked.views is not None and masked.offsets is not None:
        va = views_attack(
            masked.views[:, :200], masked.offsets, block=masked.block, steps=desc.steps
        )
        console.print(
            f"augmentation: {masked.views.shape[0]} owner-made shifted masked copies per image. "
            f"[red]Views attack:[/] these copies pin {va.get('determined', 0):.0%} of the "
            "in-block key (no plaintext needed); whoever reads them can unmask every image"
        )
    model, res = train_masked_cnn(
        masked,
        epochs=epochs,
        patience=patience,
        width=width,
        body=body,
        seed=seed,
        threads=threads,
        augment=augment,
        progress=True,
    )
    test = masked.data.test
    metrics = None
    if len(test) and len(set(test.y.tolist())) == 2:
        metrics = summarize(test.y, predict_proba(model, test.x))
        metrics.pop("roc")
        ci = metrics["auc_ci"]
        console.print(
            f"test AUC {metrics['auc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}], ACC {metrics['acc']:.3f} "
            f"on {metrics['n']} masked images"
        )
    info = {"dataset": dataset, "scheme": desc.to_dict(), "training": res.to_json()}
    save_model(model, out, {**info, "test": metrics, "trained_by": who})
    console.print(
        f"trained on {len(masked.train)} masked images (best epoch {res.best_epoch}/"
        f"{res.epochs_run}); model in {out}"
    )


def predict(
    ids: Annotated[
        list[str] | None, typer.Option("--ids", help="Masked object ids (or their originals' ids).")
    ] = None,
    model_dir: Annotated[Path, typer.Option("--model", "-m", help="Model directory.")] = Path(
        "runs/mcnn"
    ),
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Predict every masked image of a dataset.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    vault: VaultOpt = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
) -> None:
    """Predictions for masked images; reads masked pixels only, prints probabilities only."""
    from medseal.models import load_model, predict_masked
    from medseal.privacy.masking import MaskDescriptor

    who = principal(as_)
    model, doc = load_model(model_dir)
    key_id = MaskDescriptor.from_dict(doc.get("scheme") or {}).key_id
    with open_vault(vault, keyring) as v:
        rows = predict_masked(v, model, as_=who, key_id=key_id, ids=ids, dataset=dataset)
    if as_json:
        console.print_json(json.dumps([r.to_json() for r in rows]))
        return
    table = Table("masked object", "original", "P(positive)", "prediction", "label")
    for r in rows:
        table.add_row(
            r.id, str(r.parent_id), f"{r.probability:.3f}", str(r.prediction), str(r.label)
        )
    console.print(table)


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


train_app.command("masked-cnn")(masked_cnn)
evaluate_app.command("seed000")(seed000)


def register(app: typer.Typer) -> None:
    """Add ``mask``, ``train``, ``predict`` and ``evaluate`` to the ``medseal`` app."""
    app.command("mask")(mask)
    app.add_typer(train_app, name="train")
    app.command("predict")(predict)
    app.add_typer(evaluate_app, name="evaluate")
