"""`medseal predict`: an analyst's predictions for masked images (probabilities, never pixels)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medseal.cli._common import AsOpt, KeyringOpt, VaultOpt, console, open_vault, principal

__all__ = ["predict"]


def predict(
    ids: Annotated[
        list[str] | None, typer.Option("--ids", help="Masked object ids (or their originals' ids).")
    ] = None,
    model_dir: Annotated[Path, typer.Option("--model", "-m", help="Model directory.")] = Path(
        "runs/mcnn"
    ),
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Predict every masked image of a dataset.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    vault: VaultOpt = None,
    keyring: KeyringOpt = None,
    as_: AsOpt = None,
) -> None:
    """Predictions for masked images; reads masked pixels only, prints probabilities only."""
    from medseal.models import load_model, predict_masked
    from medseal.privacy.masking import MaskDescriptor

    who = principal(as_)
    model, doc = load_model(model_dir)
    key_id = MaskDescriptor.from_dict(doc.get("scheme") or {}).key_id
    with open_vault(vault, keyring) as v:
        rows = predict_masked(v, model, as_=who, key_id=key_id, ids=ids, dataset=dataset)
    if as_json:
        console.print_json(json.dumps([r.to_json() for r in rows]))
        return
    table = Table("masked object", "original", "P(positive)", "prediction", "label")
    for r in rows:
        table.add_row(
            r.id, str(r.parent_id), f"{r.probability:.3f}", str(r.prediction), str(r.label)
        )
    console.print(table)
