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

Early stopping needs one decryption per epoch (the validation loss): ``train``
does it in-process when given ``--key`` (acting as the client's oracle) and
otherwise trains for a fixed ``--epochs`` (the seed's fallback).

Every command that reads ``--key`` opens the key ring (``--keyring``,
``$MEDSEAL_KEYRING``; passphrase from ``$MEDSEAL_PASSPHRASE`` or a prompt). A key
file in clear, written before keys were sealed, is refused with one line;
``more seal-key`` seals it in place.
"""

from __future__ import annotations

import functools
import hashlib
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


def _load_encrypted(enc_dir: Path) -> tuple[Any, Any, Any, dict[str, Any]]:
    from medseal.privacy.more import MorePublicContext, MoreTensor

    for name in ("context.more", "x.more", "y.more", "folds.json"):
        if not (enc_dir / name).is_file():
            raise ConfigError(f"{enc_dir} is not an encrypted data set folder (missing {name})")
    ctx = MorePublicContext.from_bytes((enc_dir / "context.more").read_bytes())
    x = MoreTensor.from_bytes((enc_dir / "x.more").read_bytes(), context=ctx)
    y = MoreTensor.from_bytes((enc_dir / "y.more").read_bytes(), context=ctx)
    index = json.loads((enc_dir / "folds.json").read_text(encoding="utf-8"))
    return ctx, x, y, index


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
    from medseal.ingest.records import Record
    from medseal.models.sequences import nih_followup_sequences

    who = principal(as_)
    with open_vault(vault_dir, keyring) as vault:
        infos = vault.ls(as_=who, dataset=dataset)
        by_patient: dict[str, list[Any]] = {}
        for info in infos:
            if info.patient is not None and info.label is not None:
                by_patient.setdefault(info.patient, []).append(info)
        records = []
        for patient, items in by_patient.items():
            for order, info in enumerate(sorted(items, key=lambda i: (i.name or "", i.id))):
                records.append(
                    Record(
                        key=info.id,
                        label=info.label,
                        patient_id=patient,
                        split=None,
                        meta={"follow_up": order},
                        loader=functools.partial(vault.get, info.id, as_=who),
                    )
                )
        if not records:
            raise InputError(f"vault data set {dataset!r} has no labelled objects with a patient")
        return nih_followup_sequences(records, length=length, size=size)


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
    from medseal.models.more_train import grouped_folds, inner_validation_split
    from medseal.models.sequences import load_sequences

    k = _read_key(key, keyring)
    if vault is not None:
        data = _vault_sequences(vault, dataset, as_, keyring, length, size)
    else:
        data = load_sequences(dataset, data_dir, size=size, length=length)
    if not data.labelled:
        raise InputError(f"{data.name} has no labels; it cannot be used for training")
    fold_list = []
    for i, (tr, te) in enumerate(grouped_folds(data.y, data.groups, n_splits=folds, seed=seed)):
        fit_i, val_i = inner_validation_split(tr, data.y, data.groups, seed=seed + i)
        fold_list.append({"fit": fit_i.tolist(), "val": val_i.tolist(), "test": te.tolist()})
    output.mkdir(parents=True, exist_ok=True)
    ctx = k.public_context()
    (output / "context.more").write_bytes(ctx.to_bytes())
    x_ct = k.encrypt(data.x)
    (output / "x.more").write_bytes(x_ct.to_bytes())
    (output / "y.more").write_bytes(k.encrypt(data.y.astype(np.float64)).to_bytes())
    groups = [hashlib.sha256(g.encode()).hexdigest()[:12] for g in data.groups]
    index = {
        "dataset": data.name,
        "shape": list(data.x.shape),
        "folds": fold_list,
        "groups": groups,
        "seed": seed,
    }
    (output / "folds.json").write_text(json.dumps(index), encoding="utf-8")
    console.print(
        f"encrypted {len(data)} sequences {data.x.shape[1:]} of {data.name} "
        f"({x_ct.nbytes / 1e6:.1f} MB of ciphertext, {folds} folds) into {output}"
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
    import time

    from medseal.evaluate.seed003 import build_net
    from medseal.models.backend import MoreBackend
    from medseal.models.more_train import (
        EarlyStopping,
        Monitor,
        MoreClient,
        TrainConfig,
        fit,
        predict,
        take,
    )

    ctx, x, y, index = _load_encrypted(encrypted)
    shape = index["shape"]
    model = build_net(net, frames=shape[1], size=shape[3])
    out = output or encrypted / "results"
    out.mkdir(parents=True, exist_ok=True)
    client = MoreClient(_read_key(key, keyring)) if key is not None else None
    if client is not None and client.context != ctx:
        raise InputError("the key does not belong to these ciphertexts")
    fold_list = index["folds"][: folds or len(index["folds"])]
    summary: dict[str, Any] = {"net": net, "params": None, "folds": []}
    for k, f in enumerate(fold_list):
        fit_i, val_i, test_i = (np.asarray(f[s], dtype=np.intp) for s in ("fit", "val", "test"))
        init = model.init_params(seed * 1000 + k)
        summary["params"] = model.n_params(init)
        if client is not None:
            be = client.backend()
            params = client.encrypt_params(init)
            monitor = client.monitor(np.zeros(len(val_i)), curves=False)
            cfg = TrainConfig(lr=lr, batch_size=batch_size, max_epochs=epochs, seed=seed + k)
        else:
            # No client online: encrypting the initial weights needs the key, so they
            # stay trivial encodings (public); data and labels are encrypted. Every epoch
            # counts as "improved", so the last epoch's weights are kept.
            be = MoreBackend(ctx, reference=_reference(x))
            params = {n: ctx.encode(v) for n, v in init.items()}
            monitor = Monitor(
                decrypt=lambda _c: np.asarray(0.0),
                y_val=np.zeros(len(val_i)),
                stopping=EarlyStopping(patience=10**9, min_delta=float("-inf")),
                curves=False,
            )
            cfg = TrainConfig(lr=lr, batch_size=batch_size, max_epochs=epochs, seed=seed + k)
        res = fit(
            model, be, params, take(x, fit_i), take(y, fit_i), take(x, val_i), take(y, val_i),
            monitor, cfg,
        )  # fmt: skip
        final = res.params
        t0 = time.perf_counter()
        logits = predict(model, be, final, take(x, test_i), batch_size=batch_size)
        t_inf = time.perf_counter() - t0
        fold_dir = out / f"fold{k}"
        fold_dir.mkdir(exist_ok=True)
        for name, tensor in final.items():
            (fold_dir / f"{name}.more").write_bytes(tensor.to_bytes())
        (fold_dir / "test_logits.more").write_bytes(logits.to_bytes())
        summary["folds"].append(
            {"fold": k, "epochs": res.epochs, "best_epoch": res.best_epoch,
             "train_seconds": res.seconds, "inference_seconds": t_inf, "test": f["test"]}
        )  # fmt: skip
        console.print(
            f"fold {k}: {res.epochs} epochs on ciphertexts in {res.seconds:.1f}s "
            f"(best epoch {res.best_epoch}); test logits encrypted in {fold_dir}"
        )
    (out / "run.json").write_text(json.dumps(summary), encoding="utf-8")


def _reference(x: Any) -> Any:
    """A public ciphertext with well-separated slots (for ``MoreBackend.refresh``)."""
    flat = x.reshape(-1)[: min(256, x.size)]
    d = flat.data
    n = d.shape[-1]
    # The Frobenius norm of each matrix's traceless part, for any key size n: the
    # largest is the one farthest from a multiple of I (best spread of slots).
    traceless = d - (np.trace(d, axis1=-2, axis2=-1) / n)[..., None, None] * np.eye(n)
    spread = np.sqrt(np.sum(traceless * traceless, axis=(-2, -1)))
    return flat[int(np.argmax(spread))]


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
    from medseal.evaluate.seed003 import binary_metrics
    from medseal.privacy.more import MoreTensor

    k = _read_key(key, keyring)
    enc_dir = encrypted or results.parent
    _, _, y_ct, _ = _load_encrypted(enc_dir)
    y = np.rint(k.decrypt(y_ct)).astype(int)
    run = json.loads((results / "run.json").read_text(encoding="utf-8"))
    out: dict[str, Any] = {"net": run["net"], "folds": []}
    for f in run["folds"]:
        fold_dir = results / f"fold{f['fold']}"
        logits = k.decrypt(MoreTensor.from_bytes((fold_dir / "test_logits.more").read_bytes()))
        metrics = binary_metrics(y[np.asarray(f["test"], dtype=np.intp)], logits)
        out["folds"].append({"fold": f["fold"], "metrics": metrics, "epochs": f["epochs"]})
        console.print(f"fold {f['fold']}: " + ", ".join(f"{m} {v:.3f}" for m, v in metrics.items()))
        if weights:
            arrays = {
                p.stem: k.decrypt(MoreTensor.from_bytes(p.read_bytes()))
                for p in sorted(fold_dir.glob("*.more"))
                if p.stem != "test_logits"
            }
            np.savez(fold_dir / "weights_decrypted.npz", **arrays)
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
    from medseal.evaluate.attacks.more_eigenvalue import eigenvalue_attack
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
        typer.Option(help="Ciphertext runs on the first N folds only (default all; breakhis 2)."),
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
    from medseal.evaluate.seed003 import Seed003Config, run_seed003, write_outputs

    root = data_dir
    if root is None and not os.environ.get("MEDSEAL_DATA_DIR"):
        root = shared_data_dir()
    is_breakhis = dataset.strip().lower() in ("breakhis", "breakhis-patients")

    def _ints(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
        if text is None:
            return default
        try:
            return tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise InputError("expected comma-separated integers") from None

    cfg = Seed003Config(
        dataset=dataset, data_dir=str(root) if root else None, folds=folds, lr=lr,
        batch_size=batch_size,
        max_epochs=max_epochs if max_epochs is not None else (60 if is_breakhis else 100),
        encrypted=encrypted, seed=seed,
        encrypted_folds=2 if encrypted_folds is None and is_breakhis else encrypted_folds,
        seeds=_ints(seeds, (0, 1, 2) if is_breakhis else ()), more_seeds=more_seeds, size=size,
        colour=is_breakhis if colour is None else colour, frame_sizes=_ints(frame_sizes, (16, 32, 48) if is_breakhis else ()),
    )  # fmt: skip
    t0 = time.perf_counter()
    result = run_seed003(
        cfg, log=lambda m: console.print(f"[{time.perf_counter() - t0:6.0f}s] {m}")
    )
    paths = write_outputs(result, output)
    for name, entry in result["nets"].items():
        for mode in ("plain", "more"):
            if mode in entry:
                m = entry[mode]["metrics"]
                console.print(
                    f"{name:12s} {mode:5s} params {entry['params']:6d}  "
                    + "  ".join(f"{k} {m[k]['mean']:.3f}±{m[k]['std']:.3f}" for k in m)
                    + f"  train {entry[mode]['train_seconds']:.0f}s"
                )
                pm = entry[mode].get("patient_metrics")
                if pm:
                    console.print(
                        f"{'':12s} {mode:5s} patient-level  "
                        + "  ".join(f"{k} {pm[k]['mean']:.3f}±{pm[k]['std']:.3f}" for k in pm)
                    )
    for goal in result.get("goals", []):
        console.print(goal["reading"])
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
