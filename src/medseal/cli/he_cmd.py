"""``medseal he ...``: CKKS inference, owner and compute host apart.

Where it sits: cli. Thin shells over :mod:`medseal.privacy.ckks`,
:mod:`medseal.models.nets` (the HE-CNN) and :mod:`medseal.evaluate` (its
training); the study is ``medseal evaluate he``.

Files between the data owner and the compute host::

    he-key.sealed   owner only: the CKKS secret key sealed under the key ring (AES-256-GCM)
    he.ctx          public context: parameters (+ evaluation keys), no secret
    model.he        compiled program (affine layers and squares), no key material
    batch.ct        encrypted inputs (one ciphertext per pixel, one slot per image)
    out.ct          encrypted logits, written by the compute host

Typical flow::

    medseal he train -o runs/he-cnn                           # owner, plaintext training
    medseal he keygen --profile 128                           # owner
    medseal he compile runs/he-cnn -o model.he                # depth/scale checked here
    medseal he encrypt --model model.he -o batch.ct --context-out he.ctx
    medseal he predict model.he batch.ct --context he.ctx -o out.ct   # compute host
    medseal he decrypt out.ct --model model.he                # owner
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from medseal.cli._common import (
    AsOpt,
    KeyringOpt,
    VaultOpt,
    choice,
    console,
    open_keyring,
    principal,
    vault_path,
)
from medseal.cli._he_options import DataOpt, study_config
from medseal.cli._keyfiles import write_secret_file
from medseal.errors import InputError

__all__ = ["app"]

app = typer.Typer(help="CKKS homomorphic inference (128-bit): owner and compute host apart.")

KeyOpt = Annotated[Path, typer.Option("--key", help="Sealed CKKS secret key (owner only).")]


def _write(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None


@app.command("train")
def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory.")] = Path(
        "runs/he-cnn"
    ),
    data: DataOpt = "pneumoniamnist",
    channels: Annotated[int, typer.Option(help="Convolution filters.")] = 8,
    pool: Annotated[int, typer.Option(help="Average-pooling window.")] = 6,
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 60,
    patience: Annotated[int, typer.Option(help="Early-stopping patience (epochs).")] = 15,
    seed: Annotated[int, typer.Option(help="Seed of weights and batch order.")] = 0,
    threads: Annotated[int, typer.Option(help="Torch threads.")] = 2,
) -> None:
    """Train the HE-friendly CNN in plaintext (owner side) and save it."""
    options = dict(locals())  # the options, named as HEStudyConfig's fields (out aside)
    from medseal.evaluate import train_he_cnn
    from medseal.models import load_dataset
    from medseal.models.nets import save_he_cnn

    cfg = study_config(**{k: v for k, v in options.items() if k != "out"})
    d = load_dataset(cfg.data, seed=seed)
    net, res = train_he_cnn(cfg, d)
    save_he_cnn(net, out, {"data": d.name, "training": res.to_json()})
    console.print(f"saved {out} ({res.epochs_run} epochs, best val loss {res.best_val_loss:.3f})")


@app.command("keygen")
def keygen(
    profile: Annotated[str, typer.Option(help="CKKS profile (128, 128-deep).")] = "128",
    key: Annotated[
        Path, typer.Option("--key", help="Where to write the sealed secret key.")
    ] = Path("he-key.sealed"),
    context: Annotated[
        Path, typer.Option("--context", help="Where to write the public context.")
    ] = Path("he.ctx"),
    keyring: KeyringOpt = None,
) -> None:
    """Make a CKKS key; seal the secret under the key ring; export the public context."""
    from medseal.privacy.ckks import CKKSKey

    ring = open_keyring(keyring)
    k = CKKSKey.generate(profile)
    write_secret_file(key, k.seal(ring))
    _write(context, k.public_context().to_bytes())
    p = k.profile
    console.print(
        f"CKKS key {k.key_id[:8]}…: N={p.poly_modulus_degree}, {p.total_bits}/{p.max_bits} "
        f"modulus bits (128-bit security), depth {p.depth}; sealed key {key}, context {context}"
    )


@app.command("compile")
def compile_(
    model_dir: Annotated[Path, typer.Argument(help="Directory written by `medseal he train`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Compiled program file.")] = Path(
        "model.he"
    ),
    profile: Annotated[str, typer.Option(help="CKKS profile the program must fit.")] = "128",
    data: Annotated[
        str | None, typer.Option("--data", help="Calibrate the scale budget on this training set.")
    ] = "pneumoniamnist",
) -> None:
    """Compile an HE-CNN: packing plan, depth and scale check (refused if it does not fit)."""
    from medseal.models.nets import compile_he, load_he_cnn

    net, _ = load_he_cnn(model_dir)
    calib = None
    if data:
        from medseal.models import load_dataset

        calib = load_dataset(data).train.x
    prog = compile_he(net, profile=profile, calibration=calib)
    _write(out, prog.to_bytes())
    plan = prog.plan()
    console.print(
        f"compiled {prog!r}: depth {plan['depth']}/{plan['depth_available']}, "
        f"{plan['plain_mults']} plaintext products, {plan['squares']} squares, "
        f"{plan['rotations']} rotations per batch of {plan['images_per_batch']} images -> {out}"
    )


@app.command("encrypt")
def encrypt(
    model: Annotated[Path, typer.Option("--model", help="Compiled program (model.he).")] = Path(
        "model.he"
    ),
    out: Annotated[Path, typer.Option("--out", "-o", help="Encrypted batch file.")] = Path(
        "batch.ct"
    ),
    data: DataOpt = "pneumoniamnist",
    split: Annotated[
        str | None, typer.Option(help="train, val or test (vault: objects of that split).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most N images.")] = None,
    key: KeyOpt = Path("he-key.sealed"),
    context_out: Annotated[
        Path | None,
        typer.Option("--context-out", help="Also write the public context this model needs."),
    ] = None,
    vault: VaultOpt = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Vault data set to encrypt (with --vault).")
    ] = None,
    as_: AsOpt = None,
    packing: Annotated[
        str, typer.Option(help="throughput (many images) or single (one image, low latency).")
    ] = "throughput",
    keyring: KeyringOpt = None,
) -> None:
    """Owner: encrypt a data set split, or a vault data set's images, for a compiled model.

    Labels stay with the owner. With ``--vault``, the images are read as the
    acting principal (audited by the vault), the batch is stored in the vault
    as one ``ckks`` object (analysts may fetch it: ``he predict --vault``), and
    the object ids, in slot order, are written beside the batch
    (``<out>.ids.json``) so decrypted diagnoses can be matched to objects.
    """
    from medseal.privacy.ckks import CKKSKey, HEProgram, Packing

    pk = choice(Packing, packing, "--packing")
    prog = HEProgram.from_bytes(_read(model))
    ring = open_keyring(keyring)
    k = CKKSKey.unseal(_read(key), ring)
    stored = ""
    if vault is not None or dataset is not None:
        if vault is None or dataset is None:
            raise InputError("--vault and --dataset go together")
        from medseal.privacy.ckks import encrypt_vault_dataset
        from medseal.vault import Vault

        with Vault.open(vault_path(vault), keyring=ring) as v:
            got = encrypt_vault_dataset(
                v, k, prog, dataset=dataset, as_=principal(as_), split=split, limit=limit,
                packing=pk,
            )  # fmt: skip
        batch = got.batch
        doc = {"dataset": dataset, "objects": list(got.object_ids), "slot_order": True}
        if got.ref is not None:
            doc["batch_object"] = got.ref.id
            stored = f" (stored in the vault as {got.ref.id})"
        _write(out.with_name(out.name + ".ids.json"), json.dumps(doc, indent=1).encode())
    else:
        from medseal.models import load_dataset

        part = load_dataset(data).splits().get(split or "test")
        if part is None:
            raise InputError(f"unknown split {split!r} (train, val, test)")
        x = part.x[:limit] if limit else part.x
        if tuple(x.shape[1:]) != prog.input_shape:
            raise InputError(
                f"images of shape {tuple(x.shape[1:])} do not match the model's {prog.input_shape}"
            )
        cap = 1 if pk is Packing.SINGLE else prog.profile.slots
        if len(x) > cap:
            raise InputError(
                f"{len(x)} images exceed one {pk.value} batch of {cap}; pass --limit {cap}"
            )
        batch = k.encrypt(x.astype(np.float64) / 255.0, program=prog, packing=pk)
    _write(out, batch.to_bytes())
    if context_out is not None:
        _write(context_out, k.public_context(prog, packing=pk).to_bytes())
    console.print(f"encrypted {batch!r} -> {out}{stored}")


@app.command("predict")
def predict(
    model: Annotated[Path, typer.Argument(help="Compiled program (model.he).")],
    batch: Annotated[
        str,
        typer.Argument(help="Encrypted batch: a file (batch.ct), or with --vault an object id."),
    ],
    context: Annotated[Path, typer.Option("--context", help="Public context.")] = Path("he.ctx"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Encrypted outputs.")] = Path("out.ct"),
    workers: Annotated[int, typer.Option(help="Server processes for the first layers.")] = 2,
    vault: VaultOpt = None,
    as_: AsOpt = None,
    keyring: KeyringOpt = None,
) -> None:
    """Compute host: evaluate on ciphertexts with the public context only.

    With ``--vault``, ``BATCH`` is the id of a batch the owner stored there
    (``he encrypt --vault``), read as the acting principal (an analyst may).
    """
    from medseal.privacy.ckks import CKKSServer, EncryptedBatch, HEProgram

    if vault is not None:
        from medseal.privacy.ckks import load_vault_batch
        from medseal.vault import Vault

        with Vault.open(vault_path(vault), keyring=open_keyring(keyring)) as v:
            encrypted = load_vault_batch(v, batch, as_=principal(as_)).batch
    else:
        encrypted = EncryptedBatch.from_bytes(_read(Path(batch)))
    server = CKKSServer(_read(context), workers=workers)
    result = server.predict(HEProgram.from_bytes(_read(model)), encrypted)
    _write(out, result.to_bytes())
    console.print(f"evaluated in {server.last_stats.total_s:.1f} s -> {out}")


@app.command("decrypt")
def decrypt(
    outputs: Annotated[Path, typer.Argument(help="Encrypted outputs (out.ct).")],
    model: Annotated[Path, typer.Option("--model", help="Compiled program (model.he).")] = Path(
        "model.he"
    ),
    key: KeyOpt = Path("he-key.sealed"),
    threshold: Annotated[float, typer.Option(help="Label 1 at or above this probability.")] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    keyring: KeyringOpt = None,
) -> None:
    """Owner: decrypt the diagnoses (probabilities and labels)."""
    from medseal.privacy.ckks import CKKSKey, EncryptedBatch, HEProgram

    prog = HEProgram.from_bytes(_read(model))
    k = CKKSKey.unseal(_read(key), open_keyring(keyring))
    z = k.decrypt(EncryptedBatch.from_bytes(_read(outputs)), program=prog)[:, 0]
    prob = 0.5 * (1.0 + np.tanh(0.5 * z))
    labels = (prob >= threshold).astype(int)
    if as_json:
        typer.echo(json.dumps({"probability": prob.tolist(), "label": labels.tolist()}))
        return
    table = Table("image", "probability", "label")
    for i, (p, lab) in enumerate(zip(prob, labels, strict=True)):
        table.add_row(str(i), f"{p:.4f}", str(lab))
    console.print(table)
