"""The ``medseal`` command line (typer). It calls only the public Python API.

Errors medseal raises on purpose are printed as one clear line (exit code 2
for bad input, 3 for access refusals, 1 otherwise), never as a traceback; so
are usage errors (unknown command or option, bad value: typer's usage line and
one ``Error:`` line, exit code 2).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from typer.models import CommandInfo, TyperInfo

from medseal.cli._common import err_console
from medseal.errors import AccessDenied, InputError, InvalidIdError, MedsealError, NotFoundError

app = typer.Typer(
    name="medseal",
    help="Privacy-preserving AI on medical images: encrypted vault, masked and encrypted inference.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    # A group even when only one command is registered (typer would run a lone command as
    # the whole program: `medseal ingest --help` would lose its name).
    pass


# Each top-level noun has its own module, registered on first use: a command imports
# only its own module and what that needs (``medseal vault get`` neither the models,
# torch nor the ingest stack); ``--help``, no command and unknown commands register
# them all. Noun -> (module, attribute, whether it is a group), in the order of
# `medseal --help`.
_NOUNS: dict[str, tuple[str, str, bool]] = {
    "ingest": ("medseal.cli.ingest_cmd", "ingest", False),
    "mask": ("medseal.cli.mask_cmd", "mask", False),
    "predict": ("medseal.cli.predict_cmd", "predict", False),
    "demo": ("medseal.cli.demo", "demo", False),
    "keys": ("medseal.cli.keys", "app", True),
    "vault": ("medseal.cli.vault_cmd", "app", True),
    "train": ("medseal.cli.train_cmd", "app", True),  # masked-cnn, conv-bilstm
    "evaluate": ("medseal.cli.evaluate_cmd", "app", True),  # seed000, seed003, he, modes
    "more": ("medseal.cli.more_cmd", "app", True),
    "attack": ("medseal.cli.attack_cmd", "app", True),  # more
    "he": ("medseal.cli.he_cmd", "app", True),
}
_ORDER = {name: n for n, name in enumerate(_NOUNS)}
_registered: set[str] = set()


def _register(nouns: tuple[str, ...]) -> None:
    """Register ``nouns`` on :data:`app` (each once per process), keeping the help order."""
    for noun in nouns:
        if noun in _registered:
            continue
        module, attr, group = _NOUNS[noun]
        target = getattr(importlib.import_module(module), attr)
        if group:
            app.add_typer(target, name=noun)
        else:
            app.command(noun)(target)
        _registered.add(noun)
    app.registered_commands.sort(key=lambda c: _ORDER.get(c.name or "", len(_ORDER)))
    app.registered_groups.sort(key=lambda g: _ORDER.get(g.name or "", len(_ORDER)))


def register_all() -> typer.Typer:
    """Register every command on :data:`app` and return it (what ``medseal --help`` shows)."""
    _register(tuple(_NOUNS))
    return app


def _nouns_for(args: list[str]) -> tuple[str, ...]:
    """The noun the invoked command needs: all of them for help or an unknown command."""
    if args and not args[0].startswith("-") and args[0] in _NOUNS:
        return (args[0],)
    return tuple(_NOUNS)


# Nouns that do no linear algebra: their process need not start OpenBLAS's thread pool,
# which numpy's import starts by default (it doubles the import's CPU time on 2 cores).
_NO_BLAS = frozenset({"keys", "vault"})


def _single_threaded_blas(nouns: tuple[str, ...]) -> None:
    """Ask OpenBLAS for one thread when only ``_NO_BLAS`` nouns run and numpy is not loaded
    yet (a user's own setting wins; a process that already imported numpy is left alone)."""
    if "numpy" not in sys.modules and set(nouns) <= _NO_BLAS:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@contextmanager
def _only_invoked_command(args: list[str]) -> Iterator[None]:
    """Let typer build only the command ``args`` invoke (``vault get``), not its siblings.

    typer builds every registered command on each run, inspecting its signature (~20 ms
    for ``vault``'s ten); help, a bare group or an unknown name still see them all.
    """
    saved: list[tuple[typer.Typer, list[CommandInfo], list[TyperInfo]]] = []
    level: typer.Typer | None = app
    try:
        for name in args[:2]:
            if level is None or name.startswith("-"):
                break
            commands = [c for c in level.registered_commands if _command_name(c) == name]
            groups = [g for g in level.registered_groups if g.name == name]
            if not commands and not groups:
                break
            saved.append((level, level.registered_commands, level.registered_groups))
            level.registered_commands, level.registered_groups = commands, groups
            level = groups[0].typer_instance if groups else None
        yield
    finally:
        for target, commands, groups in saved:
            target.registered_commands, target.registered_groups = commands, groups


def _command_name(info: CommandInfo) -> str | None:
    """The name typer gives a registered command (its own, else the function's)."""
    if info.name:
        return info.name
    callback = info.callback
    return None if callback is None else callback.__name__.lower().replace("_", "-")


def _usage_error_types() -> tuple[type[Exception], ...]:
    """The exception bases typer raises for usage errors in this installation.

    typer 0.2x vendors click (``typer.TyperException`` is the base of its
    click-compatible ``ClickException``/``UsageError``) and no longer depends on
    click; older typer versions raise click's own classes.
    """
    bases: list[type[Exception]] = []
    typer_base = getattr(typer, "TyperException", None)
    if isinstance(typer_base, type) and issubclass(typer_base, Exception):
        bases.append(typer_base)
    try:
        import click
    except ImportError:
        pass
    else:
        bases.append(click.exceptions.ClickException)
    return tuple(bases)


def _show_usage_error(exc: Exception) -> int | None:
    """Print a typer/click usage error as typer does (usage line, one ``Error:`` line).

    Returns its exit code (2 for usage errors), or ``None`` when ``exc`` is not one.
    """
    if not isinstance(exc, _usage_error_types()):
        return None
    show = getattr(exc, "show", None)
    if callable(show):
        show()
    else:
        from rich.markup import escape

        message = getattr(exc, "format_message", lambda: str(exc))()
        err_console.print(f"[red]error:[/] {escape(str(message))}")
    code = getattr(exc, "exit_code", 2)
    return code if isinstance(code, int) else 2


def _escape(text: str) -> str:
    """Messages are text, not rich markup: ``medseal[ml]`` must print as typed."""
    from rich.markup import escape

    return escape(text)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    nouns = _nouns_for(list(args))
    _single_threaded_blas(nouns)
    _register(nouns)
    try:
        with _only_invoked_command(list(args)):
            rc = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except (AccessDenied, NotFoundError) as exc:
        err_console.print(f"[red]error:[/] {_escape(str(exc))}")
        return 3
    except (InputError, InvalidIdError) as exc:
        err_console.print(f"[red]error:[/] {_escape(str(exc))}")
        return 2
    except MedsealError as exc:
        err_console.print(f"[red]error:[/] {_escape(str(exc))}")
        return 1
    except ModuleNotFoundError as exc:  # a bare import of an optional dependency
        from medseal._extras import MissingExtraError, extra_for_module

        root = (exc.name or "").partition(".")[0]
        extra = extra_for_module(root)
        if extra is None:
            raise
        err_console.print(f"[red]error:[/] {_escape(str(MissingExtraError(extra, (root,))))}")
        return 1
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except Exception as exc:  # typer's usage errors (unknown command or option, bad value)
        code = _show_usage_error(exc)
        if code is None:
            raise
        return code
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
