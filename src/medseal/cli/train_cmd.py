"""`medseal train`: train models on protected images, one subcommand per model.

- ``masked-cnn``: an analyst trains a Masked-CNN on a vault's masked images only
  (:func:`medseal.models.train_masked_cnn`).
- ``conv-bilstm``: the compute host trains a sequence network on MORE
  ciphertexts, fold by fold, decrypting nothing (:func:`medseal.models.train_bundle`;
  the files are described in :mod:`medseal.cli.more_cmd`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medseal.cli._common import AsOpt, KeyringOpt, VaultOpt, console, open_vault, principal
from medseal.cli._keyfiles import read_more_key

__all__ = ["app", "masked_cnn", "train_conv_bilstm"]

app = typer.Typer(help="Train models on protected images.", no_args_is_help=True)


@app.command("masked-cnn")
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


@app.command("conv-bilstm")
def train_conv_bilstm(
    encrypted: Annotated[Path, typer.Option("--encrypted", help="Folder from `more encrypt`.")],
    folds: Annotated[
        int | None, typer.Option(help="Train this many of the prepared folds.")
    ] = None,
    net: Annotated[str, typer.Option(help="conv-bilstm, cnn-lstm or cnn.")] = "conv-bilstm",
    key: Annotated[
        Path | None,
        typer.Option(
            help="Client key for the per-epoch validation-loss "
            "oracle (early stopping). Without it: fixed --epochs."
        ),
    ] = None,
    epochs: Annotated[int, typer.Option(help="Epoch cap (fixed count without --key).")] = 100,
    lr: Annotated[float, typer.Option(help="Adam learning rate (seed: 1e-4).")] = 1e-3,
    batch_size: Annotated[int, typer.Option(help="Minibatch size (seed: 256).")] = 32,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Results folder (default ENCRYPTED/results)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Initial weights and batch order.")] = 0,
    keyring: KeyringOpt = None,
) -> None:
    """Server side: train a sequence network on MORE ciphertexts, fold by fold; nothing is decrypted.

    The initial weights are drawn from ``--seed`` and encrypted before training
    (so a plaintext run with the same seed starts from the same point).
    """
    from medseal.models import MoreClient, train_bundle
    from medseal.privacy.more import EncryptedBundle, FoldResults

    bundle = EncryptedBundle.read(encrypted)
    client = MoreClient(read_more_key(key, keyring)) if key is not None else None
    train_bundle(
        bundle, FoldResults(output or encrypted / "results"), net=net, folds=folds,
        client=client, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
        log=console.print,
    )  # fmt: skip
