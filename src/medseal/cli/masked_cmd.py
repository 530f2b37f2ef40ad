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
    import numpy as np

    from medseal.models.data import masked_shift, to_grey_uint8
    from medseal.privacy.masking import make_scheme

    if shifts < 0:
        raise InputError("--shifts must be >= 0")
    if shifts and not allow_key_leaking_shifts:
        raise InputError(
            "--shifts stores masked copies under known pixel shifts, from which the masking key "
            "follows (views attack); pass --allow-key-leaking-shifts to store them anyway"
        )
    who = principal(as_)
    offsets = [(dy, dx) for dy in range(-shifts, shifts + 1) for dx in range(-shifts, shifts + 1)]
    with open_vault(vault_dir or vault, keyring) as v:
        key = v.keyring.derive(key_id or f"mask/{dataset}")
        sch = make_scheme(scheme, key=key, block=block, bit_depth=8)
        desc = sch.describe()
        infos = v.ls(as_=who, dataset=dataset)
        done = {
            (i.parent_id, masked_shift(i.manifest))
            for i in infos
            if i.kind == "masked"
            and (i.manifest.get("meta") or {}).get("scheme", {}).get("key_id") == desc["key_id"]
            and (i.manifest.get("meta") or {}).get("scheme", {}).get("scheme") == desc["scheme"]
        }
        images = [i for i in infos if i.kind == "image"]
        todo = [i for i in images if any((i.id, o) not in done for o in offsets)]
        n_copies = 0
        with progress_bar() as bar:
            task = bar.add_task(f"mask {dataset}", total=len(todo))
            for info in todo:
                pixels = to_grey_uint8(v.get(info.id, as_=who).pixels)
                for o in offsets:
                    if (info.id, o) in done:
                        continue
                    moved = np.roll(pixels, o, axis=(0, 1)) if o != (0, 0) else pixels
                    d = desc if o == (0, 0) else {**desc, "shift": list(o)}
                    v.put_masked(info.id, sch.mask(moved, pad="edge"), scheme=d, as_=who)
                    n_copies += 1
                bar.advance(task)
    console.print(
        f"masked {len(todo)} image(s) of {dataset} with {desc['scheme']} (block {block}, key id "
        f"{desc['key_id']}); {len(images) - len(todo)} already had their masked copies"
        + (f"; {n_copies} copies stored, shifts up to {shifts} px" if shifts else "")
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
    from medseal.evaluate.attacks.views import views_attack
    from medseal.evaluate.metrics import summarize
    from medseal.models import MaskedCNN, TrainConfig, fit, predict_proba
    from medseal.models.data import (
        load_masked_from_vault,
        load_masked_views_with_offsets,
        split_validation,
    )
    from medseal.models.train import save_model
    from medseal.privacy.masking.augment import KeyFreeAugment

    who = principal(as_)
    with open_vault(vault, keyring) as v:
        data, scheme = load_masked_from_vault(v, as_=who, dataset=dataset)
        train, val = data.train, data.val
        if len(val) == 0:
            train, val = split_validation(train, seed=seed)
        got = (
            load_masked_views_with_offsets(v, as_=who, dataset=dataset, ids=train.ids)
            if augment
            else None
        )
        views, offsets = got if got is not None else (None, None)
    if scheme.get("learnable_blockwise") is False:
        console.print(
            "[yellow]warning:[/] per-image keys: a block-wise layer cannot learn one transform"
        )
    block = int(scheme.get("block") or 8)
    model = MaskedCNN(block, width=width, body=body, image_size=int(train.x.shape[-1]))
    # Key-free maps that commute with an in-block transform shared by every block
    # (whole-block shifts, mid-grey-symmetric intensity maps): augmentation without the key.
    steps = tuple(str(scheme.get("scheme", "")).split("+"))
    aug = (
        KeyFreeAugment(shift=2 * block, shift_step=block, contrast=0.2, gamma=0.2).for_steps(steps)
        if augment
        else None
    )
    if views is not None and offsets is not None:
        aug = None
        va = views_attack(views[:, :200], offsets, block=block, steps=steps)
        console.print(
            f"augmentation: {views.shape[0]} owner-made shifted masked copies per image. "
            f"[red]Views attack:[/] these copies pin {va.get('determined', 0):.0%} of the "
            "in-block key (no plaintext needed); whoever reads them can unmask every image"
        )
    res = fit(
        model,
        train,
        val,
        TrainConfig(
            epochs=epochs,
            patience=patience,
            seed=seed,
            threads=threads,
            augment=aug,
        ),
        progress=True,
        description="masked-cnn",
        train_views=views,
    )
    metrics = None
    if len(data.test) and len(set(data.test.y.tolist())) == 2:
        metrics = summarize(data.test.y, predict_proba(model, data.test.x))
        metrics.pop("roc")
        console.print(
            f"test AUC {metrics['auc']:.3f} [{metrics['auc_ci'][0]:.3f}, {metrics['auc_ci'][1]:.3f}], ACC {metrics['acc']:.3f} on {metrics['n']} masked images"
        )
    save_model(
        model,
        out,
        {
            "dataset": dataset,
            "scheme": scheme,
            "training": res.to_json(),
            "test": metrics,
            "trained_by": who,
        },
    )
    console.print(
        f"trained on {len(train)} masked images (best epoch {res.best_epoch}/{res.epochs_run}); model in {out}"
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
    from medseal.models.data import masked_shift, to_grey_uint8
    from medseal.models.train import load_model, predict_proba

    who = principal(as_)
    model, doc = load_model(model_dir)
    key_id = (doc.get("scheme") or {}).get("key_id")
    with open_vault(vault, keyring) as v:
        wanted = list(ids or [])
        infos = v.ls(as_=who, dataset=dataset) if dataset or wanted else []
        # the shifted copies made for training are not images to diagnose
        masked = {
            i.id: i for i in infos if i.kind == "masked" and masked_shift(i.manifest) == (0, 0)
        }
        by_parent = {i.parent_id: i for i in masked.values()}
        targets = (
            [masked.get(i) or by_parent.get(i) for i in wanted] if wanted else list(masked.values())
        )
        if any(t is None for t in targets):
            missing = [i for i, t in zip(wanted, targets, strict=True) if t is None]
            raise InputError(f"no masked copy for {len(missing)} id(s), e.g. {missing[0]}")
        rows = []
        for info in targets:
            assert info is not None
            scheme = (info.manifest.get("meta") or {}).get("scheme") or {}
            if key_id and scheme.get("key_id") != key_id:
                raise InputError(
                    f"object {info.id} was masked with another key than the model's ({key_id})"
                )
            x = to_grey_uint8(v.get_masked(info.id, as_=who))[None]
            p = float(predict_proba(model, x)[0])
            rows.append(
                {
                    "id": info.id,
                    "parent_id": info.parent_id,
                    "probability": p,
                    "prediction": int(p >= 0.5),
                    "label": info.label,
                }
            )
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table("masked object", "original", "P(positive)", "prediction", "label")
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["parent_id"]),
            f"{r['probability']:.3f}",
            str(r["prediction"]),
            str(r["label"]),
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
    from medseal.evaluate.report import write_report
    from medseal.evaluate.seed000 import Seed000Config, run_seed000

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
