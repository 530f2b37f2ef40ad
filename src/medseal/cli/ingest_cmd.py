"""`medseal ingest PATH`: de-identify, encode, seal and store files or folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from medseal.cli._common import (
    AsOpt,
    KeyringOpt,
    VaultOpt,
    advance_to,
    console,
    err_console,
    open_vault,
    principal,
    progress_bar,
)
from medseal.crypto import Algorithm


def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="DICOM files/folders, PNG/JPEG, MedMNIST .npz.")
    ],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name inside the vault.")],
    vault: VaultOpt = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
    algorithm: Annotated[
        Algorithm, typer.Option(help="Cipher for the sealed objects.")
    ] = Algorithm.AES_256_GCM,
    lossy_ratio: Annotated[
        float | None,
        typer.Option(help="Lossy (htj2k or j2k) at this compression ratio (default: lossless)."),
    ] = None,
    no_deid: Annotated[
        bool, typer.Option("--no-deidentify", help="Store headers as they are (not recommended).")
    ] = False,
    allow_burned_in: Annotated[
        bool, typer.Option(help="Accept images flagged BurnedInAnnotation=YES (warns).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Store images again even if this dataset already has them."),
    ] = False,
    codec: Annotated[
        str | None,
        typer.Option(
            help="Codec for these objects: htj2k, jpegls or j2k (default: the vault's, see "
            "`vault init --codec`)."
        ),
    ] = None,
) -> None:
    """Ingest images into a vault: de-identify -> encode (HTJ2K by default) -> AES -> store.

    Safe to run again after an interruption: images already stored in the
    dataset are skipped (--force stores them again). Ends with a summary and
    exits 1 if any file failed.
    """
    from medseal.ingest import load_path
    from medseal.vault import codec_name

    who = principal(as_)
    chosen = None if codec is None else codec_name(codec)  # unknown names fail first
    for p in paths:
        if not p.exists():
            raise typer.BadParameter(f"{p} does not exist")
    stored = skipped = 0
    failures: list[tuple[str, str]] = []
    with open_vault(vault, keyring) as v, progress_bar() as bar:
        for p in paths:
            records = list(
                load_path(
                    p,
                    deidentifier=None if no_deid else v.deidentifier,
                    allow_burned_in=allow_burned_in,
                )
            )
            task = bar.add_task(f"ingesting {p.name}", total=len(records))
            report = v.ingest(
                records,
                dataset=dataset,
                as_=who,
                lossless=lossy_ratio is None,
                ratio=lossy_ratio,
                algorithm=algorithm,
                progress=advance_to(bar, task),
                force=force,
                codec=chosen,  # this run's objects only: the vault keeps its default
            )
            stored += len(report.refs)
            skipped += report.skipped
            failures.extend(report.failures)
    console.print(
        f"stored {stored} objects in dataset {dataset}; "
        f"skipped {skipped} already stored{' (use --force to add them again)' if skipped else ''}; "
        f"failed {len(failures)}"
    )
    for name, msg in failures:
        err_console.print(f"[red]failed[/] {escape(name)}: {escape(msg)}")
    if failures:
        raise typer.Exit(1)
