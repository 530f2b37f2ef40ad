"""``medseal more ...``: MORE matrix encryption of sequence data sets, client and server apart.

Where it sits: cli. The ``more`` group: ``keygen`` and ``seal-key`` (the
client's secret key), ``encrypt`` (client: sequences, folds, ciphertexts) and
``decrypt-results`` (client: scores the server's encrypted outputs). The server
trains with ``medseal train conv-bilstm``; the compute host's attack is
``medseal attack more``; the study is ``medseal evaluate seed003``.

The files between the client (data owner) and the server (compute host)::

    more.key                 client only: the SECRET MORE key, sealed under the key ring
                             (AES-256-GCM; ``keys rotate --rewrap more.key`` re-wraps it)
    enc/context.more         public context (n, key id)
    enc/x.more, enc/y.more   encrypted sequences and labels
    enc/folds.json           patient-grouped fold indices chosen by the client (no labels)
    enc/results/             written by `train`: encrypted weights and test logits per fold

The format is :mod:`medseal.privacy.more.bundle`, the client and server
workflows :mod:`medseal.models.more_server`, the study
:mod:`medseal.evaluate.seed003`: the commands here only read options and print.

Early stopping needs one decryption per epoch (the validation loss): ``train``
does it in-process when given ``--key`` (acting as the client's oracle) and
otherwise trains for a fixed ``--epochs`` (the seed's fallback).

Every command that reads ``--key`` opens the key ring (``--keyring``,
``$MEDSEAL_KEYRING``; passphrase from ``$MEDSEAL_PASSPHRASE`` or a prompt). A key
file in clear, written before keys were sealed, is refused with one line;
``more seal-key`` seals it in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from medseal.cli._common import KeyringOpt, console, open_keyring, open_vault, principal
from medseal.cli._keyfiles import read_more_key, write_secret_file
from medseal.errors import ConfigError, InputError

__all__ = ["app", "decrypt_results", "encrypt", "keygen", "register", "seal_key"]

app = typer.Typer(
    help="MORE matrix encryption: keys, encrypted sequence data sets, results. "
    "MORE is NOT secure against the compute host (see `medseal attack more`).",
    no_args_is_help=True,
)


@app.command("keygen")
def keygen(
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the sealed SECRET key.")
    ],
    n: Annotated[int, typer.Option(help="Matrix size (2: each value becomes 4 float64).")] = 2,
    seed: Annotated[
        int | None, typer.Option(help="Seed (tests only; omit for OS entropy).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    keyring: KeyringOpt = None,
) -> None:
    """Generate a MORE key, sealed under the key ring (never written in clear)."""
    from medseal.privacy.more import MoreKey

    if output.exists() and not force:
        raise InputError(f"{output} exists; pass --force to overwrite")
    ring = open_keyring(keyring)
    key = MoreKey.generate(n=n, seed=seed)
    write_secret_file(output, key.seal(ring))
    console.print(
        f"MORE key n={key.n} id {key.key_id[:8]}… sealed under key ring {ring.id[:8]}… "
        f"(KEK {ring.current_kek_id}) in {output}"
    )


@app.command("seal-key")
def seal_key(
    path: Annotated[
        Path, typer.Argument(help="A MORE key file written in clear by an older medseal.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write the sealed key (default: in place)."),
    ] = None,
    keyring: KeyringOpt = None,
) -> None:
    """Seal a MORE key that an older medseal wrote in clear (in place by default)."""
    from medseal.privacy.more import MoreKey, is_clear_key

    if not path.is_file():
        raise ConfigError(f"no MORE key file at {path}")
    blob = path.read_bytes()
    if not is_clear_key(blob):
        raise InputError(f"{path} is not a MORE key in clear (already sealed?)")
    key = MoreKey.from_bytes(blob)
    target = output or path
    if output is not None and output.exists():
        raise InputError(f"{output} exists; choose another --output")
    ring = open_keyring(keyring)
    write_secret_file(target, key.seal(ring))
    console.print(f"MORE key id {key.key_id[:8]}… sealed under key ring {ring.id[:8]}… in {target}")
    if output is not None:
        console.print(f"[yellow]{path} still holds the key in clear: delete it[/]")


def _vault_sequences(
    vault_dir: Path, dataset: str, as_: str | None, keyring: Path | None, length: int, size: int
) -> Any:
    from medseal.models import vault_sequences

    with open_vault(vault_dir, keyring) as vault:
        return vault_sequences(vault, dataset, principal(as_), length=length, size=size)


@app.command("encrypt")
def encrypt(
    dataset: Annotated[
        str,
        typer.Option(
            help="Sequence data set: nih, breakhis, chexpert, "
            "covid19-ny-sbu, synthetic (or a vault data set with --vault)."
        ),
    ],
    key: Annotated[Path, typer.Option(help="Sealed MORE key from `medseal more keygen`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the server.")],
    vault: Annotated[Path | None, typer.Option(help="Read the images from this vault.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data sets folder.")] = None,
    as_: Annotated[str | None, typer.Option("--as", help="Acting principal (vault).")] = None,
    keyring: KeyringOpt = None,
    folds: Annotated[int, typer.Option(help="Patient-grouped folds to prepare.")] = 4,
    size: Annotated[int, typer.Option(help="Frame side in pixels.")] = 16,
    length: Annotated[int, typer.Option(help="Frames per sequence.")] = 3,
    seed: Annotated[int, typer.Option(help="Fold assignment seed.")] = 0,
) -> None:
    """Client side: build sequences, choose folds, encrypt sequences and labels for the server."""
    from medseal.models import encrypt_bundle, load_sequences

    k = read_more_key(key, keyring)
    if vault is not None:
        data = _vault_sequences(vault, dataset, as_, keyring, length, size)
    else:
        data = load_sequences(dataset, data_dir, size=size, length=length)
    bundle = encrypt_bundle(data, k, folds=folds, seed=seed)
    bundle.write(output)
    console.print(
        f"encrypted {len(data)} sequences {data.x.shape[1:]} of {data.name} "
        f"({bundle.x.nbytes / 1e6:.1f} MB of ciphertext, {folds} folds) into {output}"
    )


@app.command("decrypt-results")
def decrypt_results(
    results: Annotated[Path, typer.Argument(help="Results folder written by `train`.")],
    key: Annotated[Path, typer.Option(help="The sealed MORE key.")],
    encrypted: Annotated[
        Path | None,
        typer.Option(help="The encrypted data set folder (default: RESULTS/..), for its labels."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write metrics JSON here.")
    ] = None,
    weights: Annotated[
        bool, typer.Option(help="Also write decrypted weights (.npz) per fold.")
    ] = False,
    keyring: KeyringOpt = None,
) -> None:
    """Client side: decrypt test logits (and weights), score them with scikit-learn."""
    from medseal.evaluate import binary_metrics
    from medseal.models import decrypt_results as decrypt_folds
    from medseal.privacy.more import EncryptedBundle, FoldResults

    k = read_more_key(key, keyring)
    y = np.rint(k.decrypt(EncryptedBundle.read(encrypted or results.parent).y)).astype(int)
    store = FoldResults(results)
    net, folds = decrypt_folds(store, k, weights=weights)
    out: dict[str, Any] = {"net": net, "folds": []}
    for f in folds:
        metrics = binary_metrics(y[f.test], f.logits)
        out["folds"].append({"fold": f.fold, "metrics": metrics, "epochs": f.epochs})
        console.print(f"fold {f.fold}: " + ", ".join(f"{m} {v:.3f}" for m, v in metrics.items()))
        if f.weights is not None:
            arrays: dict[str, Any] = f.weights
            np.savez(store.fold_dir(f.fold) / "weights_decrypted.npz", **arrays)
    if output is not None:
        output.write_text(json.dumps(out, indent=2), encoding="utf-8")
        console.print(f"metrics written to {output}")


# For callers that mount the MORE commands on an app of their own (``medseal``
# itself mounts each noun from its module): ``more``, ``attack`` and the server's
# training command, importable from here as before.
def register(root: typer.Typer) -> None:
    """Add ``more`` and ``attack`` to ``root``."""
    from medseal.cli.attack_cmd import app as attack_app

    root.add_typer(app, name="more")
    root.add_typer(attack_app, name="attack")


def __getattr__(name: str) -> Any:
    if name == "train_conv_bilstm":
        from medseal.cli.train_cmd import train_conv_bilstm

        return train_conv_bilstm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
