"""`medseal demo`: the main job, end to end, on data embedded in the package.

Ingests pydicom's bundled DICOM test files and the embedded PneumoniaMNIST
subset into a temporary vault (de-identify -> JPEG 2000 -> AES-256-GCM ->
store), verifies every object, reads them back as a clinician (bit-exact
check), is refused as an analyst, checks the audit chain, rotates the keys and
prints a storage/throughput table. Every number printed is measured in this run.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from medseal.cli._common import advance_to, console, human_bytes, progress_bar
from medseal.crypto import KeyRing
from medseal.errors import AccessDenied
from medseal.ingest import Record, load_path, read_dicom
from medseal.ingest.datasets import demo_records, pydicom_sample_paths
from medseal.vault import Role, Vault

OWNER, CLINICIAN, ANALYST, AUDITOR = "olivia", "clara", "ana", "audrey"


class DemoStage(StrEnum):
    """The stages ``medseal demo --stages`` runs (comma-separated)."""

    VAULT = "vault"
    MASKED = "masked"
    MORE = "more"

    @classmethod
    def parse(cls, spec: str) -> set[DemoStage]:
        """The stages named in ``spec`` (``"vault,masked"``); unknown names are refused."""
        names = {s.strip() for s in spec.split(",") if s.strip()}
        unknown = names - {s.value for s in cls}
        if unknown:
            raise typer.BadParameter(f"unknown stage(s): {', '.join(sorted(unknown))}")
        return {cls(n) for n in names}


def demo(
    workdir: Annotated[
        Path | None,
        typer.Option(
            help="Keep the demo vault here (default: a temporary directory, removed afterwards)."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Full data sets for later stages (default: $MEDSEAL_DATA_DIR)."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Use at most N embedded PneumoniaMNIST images.")
    ] = None,
    stages: Annotated[
        str,
        typer.Option(help="Comma-separated stages to run: vault, masked, more."),
    ] = "vault,masked,more",
) -> None:
    """Run the whole storage pipeline on embedded data and print what it measured."""
    chosen = DemoStage.parse(stages)
    if chosen & {DemoStage.MASKED, DemoStage.MORE}:
        from medseal._extras import Extra, require_extra

        require_extra(Extra.EVAL)  # before any work: the AI stages train and evaluate
    tmp = Path(tempfile.mkdtemp(prefix="medseal-demo-")) if workdir is None else workdir
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        if chosen & {DemoStage.VAULT, DemoStage.MASKED}:
            vault, png_ids = _run(tmp, limit)
            if DemoStage.MASKED in chosen:
                from medseal.cli.demo_masked import run_masked_stage

                run_masked_stage(
                    console.real,
                    vault,
                    owner=OWNER,
                    analyst=ANALYST,
                    dataset="pneumoniamnist",
                    object_ids=png_ids,
                )
            vault.close()
        if DemoStage.MORE in chosen:
            from medseal.cli.demo_more import run_more_stage

            run_more_stage(console.real, data_dir=data_dir)
    finally:
        if workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(tmp: Path, limit: int | None) -> tuple[Vault, list[str]]:
    console.rule("[bold]medseal demo: secure imaging vault")
    ring = KeyRing.create(tmp / "keyring.json", secrets.token_urlsafe(24), overwrite=True)
    vault = Vault.init(tmp / "vault", keyring=ring, owner=OWNER)
    console.print(f"key ring {ring.id} and vault {vault.id} in {tmp}")

    dicom_paths = pydicom_sample_paths()
    dicom_records: list[Record] = []
    for p in dicom_paths:
        dicom_records.extend(load_path(p, deidentifier=vault.deidentifier))
    dicom_by_name = {p.name: p for p in dicom_paths}
    png_records = demo_records()
    if limit is not None:
        png_records = png_records[:limit]
    sets = [("dicom-samples", dicom_records), ("pneumoniamnist", png_records)]

    rows = []
    with progress_bar() as bar:
        for name, records in sets:
            task = bar.add_task(f"ingest {name}", total=len(records))
            t0 = time.perf_counter()
            report = vault.ingest(
                records,
                dataset=name,
                as_=OWNER,
                progress=advance_to(bar, task),
            )
            elapsed = time.perf_counter() - t0
            stats = [vault.show(r.id, as_=OWNER) for r in report.refs]
            rows.append((name, report, elapsed, stats))
            for fname, msg in report.failures:
                console.print(f"[yellow]skipped[/] {fname}: {msg}")

    vault.grant(CLINICIAN, Role.CLINICIAN, as_=OWNER)
    vault.grant(ANALYST, Role.ANALYST, as_=OWNER)
    vault.grant(AUDITOR, Role.AUDITOR, as_=OWNER)

    with progress_bar() as bar:
        task = bar.add_task("verify (deep)", total=None)
        vr = vault.verify(
            as_=OWNER,
            deep=True,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"verify: {vr.checked} objects checked, {len(vr.problems)} problems, "
        f"{len(vr.orphan_blobs)} unreferenced blobs"
    )

    # Read back as a clinician and compare with the sources' stored values.
    exact = total = 0
    with progress_bar() as bar:
        for name, report, _, _stats in rows:
            task = bar.add_task(f"read back {name} as {CLINICIAN}", total=len(report.refs))
            by_key = {str(r.key): r for r in dict(sets)[name]}
            for ref, key in zip(report.refs, report.keys, strict=True):
                img = vault.get(ref.id, as_=CLINICIAN)
                if name == "dicom-samples":
                    truth = read_dicom(dicom_by_name[key], deidentify=False).pixels
                else:
                    truth = by_key[key].image().pixels
                total += 1
                exact += int(truth.shape == img.pixels.shape and np.array_equal(truth, img.pixels))
                bar.update(task, advance=1)
    console.print(f"clinician read-back: {exact}/{total} images bit-exact to their source")

    first = rows[0][1].refs[0]
    out = vault.export_dicom(first.id, tmp / "export.dcm", as_=CLINICIAN)
    console.print(
        f"exported one object as standard DICOM with JPEG 2000 transfer syntax: {out.name}"
    )

    try:
        vault.get(first.id, as_=ANALYST)
        console.print("[red]analyst read plaintext: POLICY FAILURE[/]")
        raise typer.Exit(1)
    except AccessDenied as exc:
        console.print(f"analyst asking for plaintext: [green]refused[/] ({exc})")
    sealed = vault.get_encrypted(first.id, as_=ANALYST)
    console.print(f"analyst may hold the encrypted representation: {len(sealed)} sealed bytes")

    rot = vault.rotate_keys(as_=OWNER)
    again = vault.get(first.id, as_=CLINICIAN)
    console.print(
        f"key rotation: {rot.rewrapped} data keys re-wrapped under KEK {rot.new_kek_id}; "
        f"objects still open ({again.shape}); sealed blobs untouched"
    )
    n_audit = vault.verify_audit(as_=AUDITOR)
    console.print(f"auditor verified the audit chain: {n_audit} entries intact")

    table = Table(title="storage and throughput (measured in this run)")
    for col in (
        "dataset",
        "images",
        "raw pixels",
        "packed J2K + header",
        "sealed",
        "ratio raw/sealed",
        "overhead/object",
        "ingest img/s",
        "ingest MB/s",
    ):
        table.add_column(col, justify="right")
    for name, report, elapsed, stats in rows:
        n = len(report.refs)
        raw = report.bytes_in
        payload = sum(s.payload_size for s in stats)
        blob = sum(s.blob_size for s in stats)
        table.add_row(
            name,
            str(n),
            human_bytes(raw),
            human_bytes(payload),
            human_bytes(blob),
            f"{raw / blob:.2f}" if blob else "-",
            f"{(blob - payload) / n:.0f} B" if n else "-",
            f"{n / elapsed:.1f}" if elapsed else "-",
            f"{raw / elapsed / 1e6:.2f}" if elapsed else "-",
        )
    console.print(table)
    png_ids = [r.id for name, report, _, _ in rows if name == "pneumoniamnist" for r in report.refs]
    return vault, png_ids
