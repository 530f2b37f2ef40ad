"""`medseal mask`: the data owner stores keyed masked copies of a dataset's images.

The first step of the masked-inference workflow: an analyst then trains on
the masked copies only (``medseal train masked-cnn``) and gets predictions,
never pixels (``medseal predict``). The workflow is
:func:`medseal.privacy.masking.mask_dataset`; this module reads options and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medseal.cli._common import (
    AsOpt,
    KeyringOpt,
    VaultOpt,
    advance_to,
    console,
    open_vault,
    principal,
    progress_bar,
)

__all__ = ["mask"]


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
        rep = mask_dataset(
            v,
            dataset,
            scheme,
            block,
            as_=who,
            key_id=key_id,
            shifts=shifts,
            allow_key_leaking_shifts=allow_key_leaking_shifts,
            progress=advance_to(bar, task),
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
