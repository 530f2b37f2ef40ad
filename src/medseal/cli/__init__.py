"""The ``medseal`` command line (typer). It calls only the public Python API.

Errors medseal raises on purpose are printed as one clear line (exit code 2
for bad input, 3 for access refusals, 1 otherwise), never as a traceback; so
are usage errors (unknown command or option, bad value: typer's usage line and
one ``Error:`` line, exit code 2).
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from medseal.cli import he_cmd, keys, masked_cmd, more_cmd, vault_cmd
from medseal.cli._common import err_console
from medseal.cli.ingest_cmd import ingest
from medseal.errors import AccessDenied, InputError, InvalidIdError, MedsealError, NotFoundError

app = typer.Typer(
    name="medseal",
    help="Privacy-preserving AI on medical images: encrypted vault, masked and encrypted inference.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(keys.app, name="keys")
app.add_typer(vault_cmd.app, name="vault")
app.command("ingest")(ingest)
# Seed 000 AI half: mask, train masked-cnn, predict, evaluate seed000.
masked_cmd.register(app)
# Seed 003: more keygen/encrypt/decrypt-results, attack more, train conv-bilstm, evaluate seed003.
more_cmd.register(app)
masked_cmd.train_app.command("conv-bilstm")(more_cmd.train_conv_bilstm)
masked_cmd.evaluate_app.command("seed003")(more_cmd.evaluate_seed003)
he_cmd.register(app)  # Issue 13: he keygen/compile/encrypt/predict/decrypt/train, evaluate he.


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
        message = getattr(exc, "format_message", lambda: str(exc))()
        err_console.print(f"[red]error:[/] {escape(str(message))}")
    code = getattr(exc, "exit_code", 2)
    return code if isinstance(code, int) else 2


_LIGHT = ("vault", "keys")  # commands that never need the demo's imports (medseal.ingest)
_demo_registered = False


def _register_demo() -> None:
    """Register ``demo`` (its module imports the ingest stack: 0.2 s a light command skips)."""
    global _demo_registered
    if not _demo_registered:
        from medseal.cli.demo import demo

        app.command("demo")(demo)
        _demo_registered = True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in _LIGHT:
        _register_demo()
    try:
        rc = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except (AccessDenied, NotFoundError) as exc:
        err_console.print(f"[red]error:[/] {exc}")
        return 3
    except (InputError, InvalidIdError) as exc:
        err_console.print(f"[red]error:[/] {exc}")
        return 2
    except MedsealError as exc:
        err_console.print(f"[red]error:[/] {exc}")
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
