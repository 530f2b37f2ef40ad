"""Shared CLI plumbing: the console, passphrase handling, opening the key ring and vault."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from medseal.config import default_keyring_path
from medseal.errors import ConfigError
from medseal.options import choice_of

if TYPE_CHECKING:  # imported when first used: a command loads only what it calls
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from medseal.crypto import KeyRing
    from medseal.vault import Vault


class LazyConsole:
    """A rich ``Console`` made on first use: importing rich costs a command that prints
    nothing through it (``vault get``, ``vault ls --json``) about 40 ms."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            stream = sys.stderr if self._stderr else sys.stdout
            # Wide when piped, so tables (audit log, listings) are not truncated in files and tests.
            self._console = Console(
                stderr=self._stderr, highlight=False, width=None if stream.isatty() else 160
            )
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


console = LazyConsole(stderr=False)
err_console = LazyConsole(stderr=True)

AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Acting principal (default: $MEDSEAL_USER, else your login name).",
        show_default=False,
    ),
]
KeyringOpt = Annotated[
    Path | None,
    typer.Option(
        "--keyring",
        help="Key store file (default: $MEDSEAL_KEYRING or ~/.local/share/medseal/keyring.json).",
        show_default=False,
    ),
]
VaultOpt = Annotated[
    Path | None,
    typer.Option(
        "--vault",
        "-V",
        help="Vault directory (default: $MEDSEAL_VAULT, else the current directory).",
        show_default=False,
    ),
]


E = TypeVar("E", bound=StrEnum)


def choice(kind: type[E], value: str, option: str) -> E:
    """``value`` as a member of ``kind``, or one line naming the choices (exit code 2)."""
    return choice_of(kind, value, option)


def principal(as_: str | None) -> str:
    return as_ or os.environ.get("MEDSEAL_USER") or getpass.getuser()


def keyring_path(path: Path | None) -> Path:
    return path if path is not None else default_keyring_path()


def passphrase(*, confirm: bool = False) -> str:
    env = os.environ.get("MEDSEAL_PASSPHRASE")
    if env:
        return env
    if not sys.stdin.isatty():
        raise ConfigError("no passphrase: set MEDSEAL_PASSPHRASE or run interactively")
    value = typer.prompt("Key store passphrase", hide_input=True, confirmation_prompt=confirm)
    return str(value)


def open_keyring(path: Path | None) -> KeyRing:
    from medseal.crypto import KeyRing

    return KeyRing.open(keyring_path(path), passphrase())


def vault_path(path: Path | None) -> Path:
    if path is not None:
        return path
    env = os.environ.get("MEDSEAL_VAULT")
    if env:
        return Path(env)
    if Path("vault.json").is_file():
        return Path(".")
    raise ConfigError("no vault given: pass --vault DIR or set MEDSEAL_VAULT")


@contextmanager
def open_vault(path: Path | None, keyring: Path | None) -> Iterator[Vault]:
    from medseal.vault import Vault

    vault = Vault.open(vault_path(path), keyring=open_keyring(keyring))
    try:
        yield vault
    finally:
        vault.close()


def progress_bar(transient: bool = False) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console.real,
        transient=transient,
        disable=not err_console.is_terminal and os.environ.get("MEDSEAL_PROGRESS") != "1",
    )


def advance_to(bar: Progress, task: TaskID) -> Callable[[int, int | None], None]:
    """A ``progress(done, total)`` callback that moves ``task`` of ``bar``."""

    def update(done: int, total: int | None) -> None:
        bar.update(task, completed=done, total=total)

    return update


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover
