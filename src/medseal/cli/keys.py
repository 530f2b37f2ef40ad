"""`medseal keys …`: create, inspect and rotate the key store.

Secret keys kept outside the vault (MORE keys from ``more keygen``, CKKS keys
from ``he keygen``) are sealed under the ring; ``keys rotate --rewrap FILE``
moves their data keys to the new KEK with the vault's.
"""

from __future__ import annotations

import json
from pathlib import Path
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
from medseal.cli._keyfiles import sealed_key_bytes, write_secret_file
from medseal.crypto import KeyRing
from medseal.errors import InputError
from medseal.vault import Vault

__all__ = ["app", "init", "rotate", "show"]

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


_SEALED_KINDS = {"medseal-more-sealed-key": "MORE", "medseal-ckks-sealed-key": "CKKS"}


def _sealed_kind(path: Path) -> str:
    """``"MORE"`` or ``"CKKS"`` for a sealed key file; one clear error otherwise."""
    blob = sealed_key_bytes(path, error=InputError)
    try:
        fmt = json.loads(blob.decode("utf-8")).get("format")
    except (UnicodeDecodeError, ValueError, AttributeError):
        fmt = None
    if fmt not in _SEALED_KINDS:
        raise InputError(f"{path} is not a sealed MORE or CKKS key")
    return _SEALED_KINDS[fmt]


def _rewrap(path: Path, kind: str, ring: KeyRing) -> None:
    from medseal.privacy.ckks import CKKSKey
    from medseal.privacy.more import MoreKey

    rewrap = MoreKey.rewrap_sealed if kind == "MORE" else CKKSKey.rewrap_sealed
    write_secret_file(path, rewrap(path.read_bytes(), ring))


@app.command("rotate")
def rotate(
    keyring: KeyringOpt = None,
    vault: VaultOpt = None,
    as_: AsOpt = None,
    rewrap: Annotated[
        list[Path] | None,
        typer.Option(
            "--rewrap",
            help="A sealed key file (MORE or CKKS) to re-wrap under the new KEK; repeatable.",
        ),
    ] = None,
) -> None:
    """New KEK becomes current; the vault's data keys (and --rewrap key files) are re-wrapped."""
    files = [(p, _sealed_kind(p)) for p in rewrap or []]  # refuse before rotating anything
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
    else:
        with Vault.open(path, keyring=ring) as v:
            report = v.rotate_keys(as_=principal(as_))
        console.print(
            f"KEK {report.old_kek_id} -> {report.new_kek_id}; re-wrapped {report.rewrapped} "
            "data keys; sealed blobs unchanged"
        )
    for file, kind in files:
        _rewrap(file, kind, ring)
        console.print(f"{kind} key in {file} re-wrapped under KEK {ring.current_kek_id}")
