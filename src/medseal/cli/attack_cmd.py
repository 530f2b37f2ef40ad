"""`medseal attack`: attacks on medseal's privacy modes, as their adversary would run them.

- ``more``: the compute host recovers MORE plaintexts from ciphertexts alone
  (:func:`medseal.evaluate.attacks.eigenvalue_attack`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from medseal.cli._common import KeyringOpt, console
from medseal.cli._keyfiles import read_more_key
from medseal.errors import ConfigError

__all__ = ["app", "attack_more"]

app = typer.Typer(help="Attacks on medseal's privacy modes.", no_args_is_help=True)


@app.command("more")
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
    truth = read_more_key(key, keyring).decrypt(ct) if key is not None else None
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
