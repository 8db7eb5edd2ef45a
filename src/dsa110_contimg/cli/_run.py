"""Running the command tree: usage errors, typed errors and internal faults, each one line.

Typer 0.2x ships its own copy of click (``typer._click``) and raises *its* exception classes,
not those of an installed ``click``; both sets are caught here (:func:`_click_modules`), so
the command line behaves the same whichever typer of the pinned range is installed.

Exit statuses (documented in ``docs/cli.md``):

* ``0`` success;
* ``2`` a usage error (unknown command or option, missing or invalid value: one line naming
  the problem, then the command's usage line), a pipeline error
  (:class:`~dsa110_contimg.errors.ContimgError`), or an error of the environment the operator
  can fix (disk full, permission, database unreachable or not a database, number too large);
* ``1`` an internal fault (a bug): one line, plus the traceback with ``-v``;
* ``130`` interrupted.
"""

from __future__ import annotations

import errno
import importlib
import re
import sys
import traceback
from types import ModuleType, SimpleNamespace
from typing import Any

from ..errors import ContimgError

__all__ = ["build_command", "iter_commands", "run"]

PROG = "contimg"


def _click_modules() -> list[ModuleType]:
    """Return the click copies whose exceptions may be raised (typer's bundled one, click)."""
    mods = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            mods.append(importlib.import_module(name))
        except ImportError:  # pragma: no cover - depends on the typer version installed
            continue
    return mods


def _classes(attr: str) -> tuple[type[BaseException], ...]:
    out: list[type[BaseException]] = []
    for mod in _click_modules():
        cls = getattr(mod, attr, None)
        if isinstance(cls, type):
            out.append(cls)
    if attr in ("Exit", "Abort"):
        import typer

        out.append(getattr(typer, attr))
    return tuple(dict.fromkeys(out))


def _hide_flag_types(command: Any) -> None:
    """Show no ``<bool>``/``<int>`` type after flags and counting options in help."""

    def none(*_a: Any, **_k: Any) -> None:
        return None

    params = list(getattr(command, "params", []))
    try:
        helper = command.get_help_option(SimpleNamespace(help_option_names=["--help"]))
    except Exception:  # noqa: BLE001 - help rendering details differ between versions
        helper = None
    if helper is not None:
        params.append(helper)
    for p in params:
        if getattr(p, "is_flag", False) or getattr(p, "count", False):
            p.display_type_rich = none
            if getattr(p, "count", False):
                p.show_default = False


def iter_commands(command: Any, path: tuple[str, ...] = ()):
    """Yield ``(path, command)`` for every command and group of the tree (depth first)."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from iter_commands(sub, (*path, name))


def build_command():
    """Return the click command of the ``contimg`` app, with help fixes applied."""
    import typer

    from . import app

    command = typer.main.get_command(app)
    for _path, cmd in iter_commands(command):
        _hide_flag_types(cmd)
    return command


def _wants_traceback(argv: list[str]) -> bool:
    for a in argv:
        if a == "--":
            break
        if a == "--verbose" or re.fullmatch(r"-v+", a):
            return True
    return False


def _usage_line(exc: Any) -> str:
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return f"Usage: {PROG} [OPTIONS] COMMAND [ARGS]... (try '{PROG} --help')"
    usage = " ".join(ctx.get_usage().split())
    return f"{usage} (try '{ctx.command_path} --help')"


def _allowed_range(param: Any) -> str | None:
    """``"1 <= value <= 1024"`` for a bounded number parameter, else None."""
    lo, hi = getattr(param, "min", None), getattr(param, "max", None)
    if getattr(param, "count", False) or (lo is None and hi is None):
        return None
    if lo is not None and hi is not None:
        return f"{lo} <= value <= {hi}"
    return f"value >= {lo}" if lo is not None else f"value <= {hi}"


def _show_usage_error(exc: Any) -> None:
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else PROG
    no_args = type(exc).__name__ == "NoArgsIsHelpError"
    message = "a command is needed" if no_args else " ".join(exc.format_message().split())
    allowed = _allowed_range(getattr(exc, "param", None))
    if allowed and allowed not in message:
        message = f"{message} (allowed: {allowed})"
    print(f"{where}: error: {message}", file=sys.stderr)
    print(_usage_line(exc), file=sys.stderr)
    if no_args and ctx is not None:
        names = sorted(getattr(ctx.command, "commands", {}))
        if names:
            print(f"commands: {', '.join(names)}", file=sys.stderr)


def _environment_error(exc: BaseException) -> str | None:
    """One line for an error of the environment (not a bug), or None."""
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc)
        if exc.errno == errno.ENOSPC:
            what = "no space left on the device"
        where = exc.filename if exc.filename is not None else None
        return f"{where}: {what}" if where else what
    if isinstance(exc, OverflowError):
        return f"a number is out of range ({exc})"
    if "sqlalchemy" not in sys.modules:  # then the error cannot be one of the database's
        return None
    from ..database.errors import describe_error

    return describe_error(exc)


def run(argv: list[str] | None = None) -> int:
    """Run ``contimg`` with ``argv`` (default ``sys.argv[1:]``) and return its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    usage_errors = _classes("UsageError")
    click_errors = _classes("ClickException")
    exits = _classes("Exit")
    aborts = _classes("Abort")
    verbose = _wants_traceback(args)
    try:
        build_command().main(args=args, prog_name=PROG, standalone_mode=False)
    except exits as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except usage_errors as exc:
        _show_usage_error(exc)
        return 2
    except click_errors as exc:
        print(f"{PROG}: error: {exc.format_message()}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1) or 1)
    except aborts + (KeyboardInterrupt,):
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except ContimgError as exc:
        if verbose:
            traceback.print_exc()
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the one place every other failure is reported
        if verbose:
            traceback.print_exc()
        line = _environment_error(exc)
        if line is not None:
            print(f"{PROG}: error: {line}", file=sys.stderr)
            return 2
        print(
            f"{PROG}: internal error: {type(exc).__name__}: {exc} "
            f"(a bug; run again with -v for the traceback and report it)",
            file=sys.stderr,
        )
        return 1
    return 0
