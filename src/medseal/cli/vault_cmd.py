"""`medseal vault …`: create a vault, list, read, verify, audit and manage grants."""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from medseal.cli._common import (
    AsOpt,
    KeyringOpt,
    VaultOpt,
    console,
    human_bytes,
    open_keyring,
    open_vault,
    principal,
    progress_bar,
)
from medseal.errors import AuditChainError
from medseal.vault import GC_GRACE_S, Role, Vault

if TYPE_CHECKING:
    from medseal.vault import ObjectInfo

app = typer.Typer(
    help="The encrypted vault: objects, grants, integrity and the audit trail.",
    no_args_is_help=True,
)


@app.command("init")
def init(
    path: Annotated[Path, typer.Argument(help="Vault directory to create.")],
    db: Annotated[
        str | None,
        typer.Option(
            help="Catalogue URL, e.g. postgresql://user@host/db (default: SQLite in the vault)."
        ),
    ] = None,
    blobs: Annotated[
        str | None,
        typer.Option(help="Blob store URL, e.g. s3://bucket/prefix (default: <vault>/blobs)."),
    ] = None,
    audit_anchor: Annotated[
        Path | None,
        typer.Option(
            help="Where to keep the audit anchor (default: <vault>/audit-anchor.json). "
            "Somewhere a database writer cannot reach detects a restored old catalogue."
        ),
    ] = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
    codec: Annotated[
        str | None,
        typer.Option(
            help="Default codec of new objects: htj2k (fastest here, the default), jpegls "
            "(smallest), j2k (classic JPEG 2000). See docs/codec.md."
        ),
    ] = None,
) -> None:
    """Create a vault; whoever runs this is its owner."""
    owner = principal(as_)
    vault = Vault.init(
        path,
        keyring=open_keyring(keyring),
        owner=owner,
        db=db,
        blobs=blobs,
        audit_anchor=audit_anchor.resolve() if audit_anchor is not None else None,
        codec=codec,  # an unknown name fails before anything is created
    )
    console.print(
        f"vault {vault.id} created at {path} (owner {owner}, catalogue {vault.db.dialect}, "
        f"blobs {'local' if vault.blobs.local else vault.blobs.url}, codec {vault.config['codec']})"
    )
    console.print(f"tip: export MEDSEAL_VAULT={path}")
    vault.close()


_TABLE_ROWS = 500  # more rows than this stream as tab-separated lines (aligned ones are held)


_LS_COLUMNS = ("id", "dataset", "kind", "name", "label", "shape", "sealed")


def _cells(i: ObjectInfo) -> tuple[str, ...]:
    shape = "x".join(map(str, i.manifest.get("shape", [])))
    label = "" if i.label is None else str(i.label)
    return (i.id, i.dataset, i.kind, i.name or "", label, shape, human_bytes(i.blob_size))


def _write_aligned(out: TextIO, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """``columns`` and ``rows`` as plain text columns, two spaces apart (rich's table
    costs ~2 ms a row, and ~45 ms to import, in a command whose work is ~0.3 ms a row)."""
    widths = [max([len(c), *(len(r[k]) for r in rows)]) for k, c in enumerate(columns)]
    for r in (columns, *rows):
        out.write("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n")


def _write_batches(out: TextIO, lines: Iterator[str], size: int = 1000) -> None:
    """Write ``lines`` ``size`` at a time: one write (a system call when stdout is
    unbuffered) per batch instead of per line, and never more than a batch held."""
    while chunk := "".join(itertools.islice(lines, size)):
        out.write(chunk)


def _json_lines(infos: Iterable[ObjectInfo]) -> Iterator[str]:
    """A JSON array of :func:`_row`, one object per line."""
    dumps = json.JSONEncoder(check_circular=False).encode  # plain dicts of scalars
    sep = "["
    for info in infos:
        yield sep + "\n" + dumps(_row(info))
        sep = ","
    yield "\n]\n" if sep == "," else "[\n]\n"


def _row(i: ObjectInfo) -> dict[str, object]:
    return {
        "id": i.id,
        "dataset": i.dataset,
        "kind": i.kind,
        "name": i.name,
        "label": i.label,
        "shape": i.manifest.get("shape"),
        "bytes": i.blob_size,
    }


@app.command("ls")
def ls(
    dataset: Annotated[str | None, typer.Option("--dataset", "-d")] = None,
    vault: VaultOpt = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Machine-readable output (every object, streamed).")
    ] = False,
    limit: Annotated[
        int, typer.Option(min=0, help="Show at most this many objects (0: all). Not with --json.")
    ] = 100,
) -> None:
    """List the objects you may see (pages through the catalogue; --json streams every one)."""
    with open_vault(vault, keyring) as v:
        # a page no larger than what is shown: `ls` of 100 reads (and checks) 100 rows
        page = 1000 if as_json or limit == 0 else max(1, min(limit, 1000))
        listing = v.iter_ls(as_=principal(as_), dataset=dataset, page_size=page)
        if as_json:  # a JSON array written as it is read, never held whole
            _write_batches(sys.stdout, _json_lines(listing))
            return
        shown = listing.total if limit == 0 else min(limit, listing.total)
        rows = (_cells(i) for i in itertools.islice(listing, shown))
        out = sys.stdout
        out.write(f"{listing.total} objects\n")
        if shown <= _TABLE_ROWS:
            _write_aligned(out, _LS_COLUMNS, list(rows))
        else:  # streamed: tab-separated, never held whole
            out.write("\t".join(_LS_COLUMNS) + "\n")
            _write_batches(out, ("\t".join(r) + "\n" for r in rows))
        if shown < listing.total:
            out.write(f"showing {shown} of {listing.total}: --limit 0 for all, --json to export\n")


@app.command("show")
def show(
    object_id: str, vault: VaultOpt = None, keyring: KeyringOpt = None, as_: AsOpt = None
) -> None:
    """Print one object's manifest (no pixels, no PHI)."""
    with open_vault(vault, keyring) as v:
        info = v.show(object_id, as_=principal(as_))
    console.print_json(
        json.dumps(
            {
                "id": info.id,
                "dataset": info.dataset,
                "kind": info.kind,
                "name": info.name,
                "label": info.label,
                "patient": info.patient,
                "split": info.split,
                "created_at": info.created_at.isoformat(),
                "created_by": info.created_by,
                "sealed_bytes": info.blob_size,
                "payload_bytes": info.payload_size,
                "algorithm": info.algorithm,
                "manifest": info.manifest,
            }
        )
    )


@app.command("get")
def get(
    object_id: str,
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Output file: .dcm (DICOM, stored codec), .png, or .npy (stored values).",
        ),
    ],
    transfer_syntax: Annotated[
        str | None,
        typer.Option(
            help="For .dcm: the transfer syntax the receiver reads: htj2k, jpegls, j2k "
            "(older PACS) or explicit-little-endian (uncompressed). Default: the stored codec's."
        ),
    ] = None,
    encrypted: Annotated[
        bool, typer.Option("--encrypted", help="Write the sealed container instead (analysts).")
    ] = False,
    vault: VaultOpt = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
) -> None:
    """Read one object back (plaintext for owner/clinicians; --encrypted for analysts)."""
    who = principal(as_)
    if transfer_syntax is not None and (encrypted or output.suffix.lower() != ".dcm"):
        raise typer.BadParameter("--transfer-syntax applies to a .dcm output only")
    with open_vault(vault, keyring) as v:
        if encrypted:
            output.write_bytes(v.get_encrypted(object_id, as_=who))
        elif output.suffix.lower() == ".dcm":
            from medseal.codec import TransferSyntax, parse_transfer_syntax, transcode_dicom

            wanted: TransferSyntax | None = None
            if transfer_syntax is not None:  # an unknown name fails before any read
                wanted = parse_transfer_syntax(transfer_syntax)
            v.export_dicom(object_id, output, as_=who)
            if wanted is not None:  # re-encoded only when the stored codec differs
                transcode_dicom(output, output, wanted)
        else:
            import numpy as np

            as_array = output.suffix.lower() == ".npy"
            image = v.get(object_id, as_=who, header=not as_array)  # an array has no header
            if as_array:
                np.save(output, image.pixels)
            else:
                from PIL import Image as PILImage

                from medseal.ingest import to_display

                disp = to_display(image)
                if image.frames > 1:
                    disp = disp[0]
                PILImage.fromarray(np.clip(disp * 255 + 0.5, 0, 255).astype(np.uint8)).save(output)
    typer.echo(f"wrote {output}")  # plain: a path is not rich markup


@app.command("verify")
def verify(
    deep: Annotated[
        bool, typer.Option("--deep", help="Also decrypt and decode every object.")
    ] = False,
    vault: VaultOpt = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
) -> None:
    """Re-check every object's hash (and with --deep, its decryption) and the audit chain."""
    with open_vault(vault, keyring) as v, progress_bar() as bar:
        task = bar.add_task("verifying", total=None)
        report = v.verify(
            as_=principal(as_),
            deep=deep,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"checked {report.checked} objects, audit chain of {report.audit_entries} entries"
    )
    for key in report.orphan_blobs:
        console.print(
            f"[yellow]unreferenced blob[/] {key} (left by an interrupted put; `medseal vault gc` removes it)"
        )
    if report.fresh_blobs:
        console.print(
            f"{report.fresh_blobs} recent blob(s) without a row: puts in progress, or "
            "interrupted less than the gc grace period ago (left alone)"
        )
    if report.retired_kek_keys:
        console.print(
            f"[yellow]{report.retired_kek_keys} wrapped key(s) still under a retired KEK[/]: "
            "run `medseal keys rotate --vault ...` to re-wrap them"
        )
    for p in report.problems:
        console.print(f"[red]problem[/] {p}")
    if not report.ok:
        raise typer.Exit(1)
    console.print("[green]vault OK[/]")


@app.command("gc")
def gc(
    grace_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            help="Leave blobs younger than this alone (a put may be about to commit them).",
        ),
    ] = GC_GRACE_S,
    vault: VaultOpt = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
) -> None:
    """Remove blobs no object references (left by interrupted writes), under the vault lock."""
    with open_vault(vault, keyring) as v:
        n = v.collect_garbage(as_=principal(as_), grace=grace_seconds)
    console.print(f"removed {n} unreferenced files")


@app.command("audit")
def audit(
    verify_chain: Annotated[
        bool, typer.Option("--verify", help="Verify the hash chain and exit non-zero if broken.")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="Show only the newest N entries.")] = 50,
    vault: VaultOpt = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
) -> None:
    """Show (and with --verify, check) the append-only audit log."""
    who = principal(as_)
    with open_vault(vault, keyring) as v:
        if verify_chain:
            try:
                n = v.verify_audit(as_=who)
            except AuditChainError as exc:
                console.print(f"[red]audit chain BROKEN[/]: {exc}")
                raise typer.Exit(1) from None
            console.print(f"[green]audit chain intact[/]: {n} entries")
            return
        entries = v.audit_log(as_=who, limit=limit)
    from rich.table import Table

    table = Table(title="audit log")
    for col in ("seq", "time", "actor", "action", "dataset", "target", "outcome"):
        table.add_column(col)
    for e in entries:
        table.add_row(
            str(e.seq), e.ts[:19], e.actor, e.action, e.dataset or "", e.target or "", e.outcome
        )
    console.print(table)


@app.command("grant")
def grant(
    user: str,
    role: Annotated[Role, typer.Option("--role", case_sensitive=False)],
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset name, or * for all.")] = "*",
    vault: VaultOpt = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
) -> None:
    """Grant USER a role on a dataset (owner only)."""
    with open_vault(vault, keyring) as v:
        g = v.grant(user, role, dataset=dataset, as_=principal(as_))
    console.print(f"granted {g.role.value} on {g.dataset} to {g.principal}")


@app.command("revoke")
def revoke(
    user: str,
    role: Annotated[Role | None, typer.Option("--role", case_sensitive=False)] = None,
    dataset: Annotated[str | None, typer.Option("--dataset")] = None,
    vault: VaultOpt = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
) -> None:
    """Revoke USER's grants (all, or one role and/or dataset)."""
    with open_vault(vault, keyring) as v:
        n = v.revoke(user, role, dataset=dataset, as_=principal(as_))
    console.print(f"revoked {n} grant(s) of {user}")


@app.command("grants")
def grants(vault: VaultOpt = None, keyring: KeyringOpt = None, as_: AsOpt = None) -> None:
    """List every grant (owner only)."""
    with open_vault(vault, keyring) as v:
        rows = v.list_grants(as_=principal(as_))
    from rich.table import Table

    table = Table(title="grants")
    for col in ("principal", "role", "dataset"):
        table.add_column(col)
    for g in rows:
        table.add_row(g.principal, g.role.value, g.dataset)
    console.print(table)
