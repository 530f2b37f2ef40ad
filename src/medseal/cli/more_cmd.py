"""``medseal more ...``, ``medseal attack more``, ``train conv-bilstm`` and ``evaluate seed003``.

Where it sits: cli. :func:`register` adds the ``more`` group (``keygen``,
``encrypt``, ``decrypt-results``) and ``attack more`` to the app;
``medseal.cli`` mounts :func:`train_conv_bilstm` under ``train`` and
:func:`evaluate_seed003` under ``evaluate``.

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
import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from medseal.cli._common import KeyringOpt, console
from medseal.errors import ConfigError, InputError

__all__ = [
    "app",
    "attack_more",
    "decrypt_results",
    "encrypt",
    "evaluate_seed003",
    "keygen",
    "register",
    "seal_key",
    "train_conv_bilstm",
]

app = typer.Typer(
    help="MORE matrix encryption: keys, encrypted sequence data sets, results. "
    "MORE is NOT secure against the compute host (see `medseal attack more`).",
    no_args_is_help=True,
)


def _read_key(path: Path, keyring: Path | None) -> Any:
    """The MORE key sealed in ``path``, opened with the key ring."""
    from medseal.cli._common import open_keyring
    from medseal.privacy.more import MoreKey, is_clear_key

    if not path.is_file():
        raise ConfigError(f"no MORE key file at {path}")
    blob = path.read_bytes()
    if is_clear_key(blob):
        raise ConfigError(
            f"{path} holds a MORE key in clear (written before keys were sealed); "
            f"run `medseal more seal-key {path}` to seal it under the key ring"
        )
    return MoreKey.unseal(blob, open_keyring(keyring))


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
    from medseal.cli._common import open_keyring
    from medseal.cli.keys import write_secret_file
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
    from medseal.cli._common import open_keyring
    from medseal.cli.keys import write_secret_file
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
    from medseal.cli._common import open_vault, principal
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

    k = _read_key(key, keyring)
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
    client = MoreClient(_read_key(key, keyring)) if key is not None else None
    train_bundle(
        bundle, FoldResults(output or encrypted / "results"), net=net, folds=folds,
        client=client, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
        log=console.print,
    )  # fmt: skip


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

    k = _read_key(key, keyring)
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


def attack_more(
    ciphertexts: Annotated[
        Path,
        typer.Option(
            "--ciphertexts", help="An encrypted data set folder (or one .more tensor file)."
        ),
    ],
    key: Annotated[
        Path | None, typer.Option(help="Score the attack against the truth (needs the key).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Attack at most this many sequences.")] = 16,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Save recovered values (.npy).")
    ] = None,
    keyring: KeyringOpt = None,
) -> None:
    """Compute-host attack: recover MORE plaintexts from ciphertexts alone (eigenvalues)."""
    from medseal.evaluate.attacks import eigenvalue_attack
    from medseal.privacy.more import MoreTensor

    path = ciphertexts / "x.more" if ciphertexts.is_dir() else ciphertexts
    if not path.is_file():
        raise ConfigError(f"no ciphertext tensor at {path}")
    ct = MoreTensor.from_bytes(path.read_bytes())
    if ct.ndim >= 1 and ct.shape[0] > limit:
        ct = ct[:limit]
    truth = _read_key(key, keyring).decrypt(ct) if key is not None else None
    res = eigenvalue_attack(ct, truth=truth, known_range=(0.0, 1.0))
    console.print(f"[red]eigenvalue attack[/] on {ct.size} ciphertexts {ct.shape}: {res.method}")
    console.print(
        f"diagonalisation residual {res.details['residual']:.1e}; data slot {res.details['data_slot']}"
    )
    if res.success_rate is not None:
        console.print(f"recovered exactly (rtol 1e-6): {res.success_rate:.1%} of the values")
    if output is not None:
        np.save(output, res.values)
        console.print(f"recovered plaintext written to {output}")


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


def register(root: typer.Typer) -> None:
    """Add ``more`` (keygen, encrypt, decrypt-results) and ``attack more`` to ``root``."""
    root.add_typer(app, name="more")
    attack_group = None
    for info in getattr(root, "registered_groups", []):
        if info.name == "attack" and info.typer_instance is not None:
            attack_group = info.typer_instance
    if attack_group is None:
        attack_group = typer.Typer(help="Attacks on medseal's privacy modes.", no_args_is_help=True)
        root.add_typer(attack_group, name="attack")
    attack_group.command("more")(attack_more)
