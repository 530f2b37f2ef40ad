"""`medseal keys …`: create, inspect and rotate the key store."""

from __future__ import annotations

from typing import Annotated

import typer

from medseal.cli._common import (
    AsOpt,
    KeyringOpt,
    VaultOpt,
    console,
    keyring_path,
    open_keyring,
    passphrase,
    principal,
    vault_path,
)
from medseal.crypto import KeyRing
from medseal.vault import Vault

app = typer.Typer(
    help="The key store: master key from a passphrase (scrypt), key-encryption keys, rotation.",
    no_args_is_help=True,
)


@app.command("init")
def init(
    keyring: KeyringOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing key store.")
    ] = False,
) -> None:
    """Create a key store; the passphrase comes from a prompt or MEDSEAL_PASSPHRASE."""
    path = keyring_path(keyring)
    ring = KeyRing.create(path, passphrase(confirm=True), overwrite=force)
    console.print(f"key store created at {path} (key ring {ring.id}, KEK {ring.current_kek_id})")
    console.print("keep the passphrase safe: without it nothing in your vaults can be opened")


@app.command("show")
def show(keyring: KeyringOpt = None) -> None:
    """Print the key ring's id and key ids (never key bytes)."""
    ring = open_keyring(keyring)
    console.print(f"key ring {ring.id}")
    for kid in ring.kek_ids:
        mark = " (current)" if kid == ring.current_kek_id else ""
        console.print(f"  KEK {kid}{mark}")


@app.command("rotate")
def rotate(
    keyring: KeyringOpt = None,
    vault: VaultOpt = None,
    as_: AsOpt = None,
) -> None:
    """New KEK becomes current; the vault's data keys are re-wrapped. Pixel ciphertexts are untouched."""
    ring = open_keyring(keyring)
    try:
        path = vault_path(vault)
    except Exception:
        path = None
    if path is None:
        new = ring.rotate()
        console.print(
            f"new KEK {new} is current; old KEKs still decrypt. No vault given: no data keys re-wrapped."
        )
        return
    with Vault.open(path, keyring=ring) as v:
        report = v.rotate_keys(as_=principal(as_))
    console.print(
        f"KEK {report.old_kek_id} -> {report.new_kek_id}; re-wrapped {report.rewrapped} data keys; "
        "sealed blobs unchanged"
    )
