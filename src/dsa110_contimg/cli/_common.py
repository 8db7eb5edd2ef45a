"""Pieces shared by the command modules: the settings from the context, logging, groups."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, fields
from enum import StrEnum

import typer
from rich.console import Console
from rich.logging import RichHandler

from ..config import Settings

__all__ = [
    "MAX_COUNT",
    "MAX_ID",
    "DataType",
    "EsePreset",
    "EseStatus",
    "Groups",
    "JobStatus",
    "MosaicStatus",
    "PhotometryStatus",
    "Series",
    "console",
    "err_console",
    "get_settings",
    "setup_logging",
]

#: Largest row id (a signed 64-bit integer: SQLite INTEGER, PostgreSQL BIGINT).
MAX_ID = 2**63 - 1
#: Largest count a flag accepts (sources, groups, rows shown, processes).
MAX_COUNT = 10_000_000


class CaltableStatus(StrEnum):
    """States of a calibration solution set."""

    valid = "valid"
    refused = "refused"


class JobStatus(StrEnum):
    """States of a batch job."""

    pending = "pending"
    running = "running"
    completed = "completed"
    partial = "partial"
    failed = "failed"
    cancelled = "cancelled"


class PhotometryStatus(StrEnum):
    """Photometry states of a registered product (``database.registry.PHOTOMETRY_STATUSES``)."""

    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class DataType(StrEnum):
    """Kinds of registered products."""

    image = "image"
    mosaic = "mosaic"


class MosaicStatus(StrEnum):
    """States of a mosaic group (``database.mosaics.GROUP_STATUSES``)."""

    pending = "pending"
    building = "building"
    built = "built"
    failed = "failed"
    abandoned = "abandoned"


class Series(StrEnum):
    """Light-curve series."""

    epoch = "epoch"
    image = "image"
    mosaic = "mosaic"


class EsePreset(StrEnum):
    """ESE presets."""

    conservative = "conservative"
    moderate = "moderate"
    sensitive = "sensitive"


class EseStatus(StrEnum):
    """States of an ESE candidate."""

    active = "active"
    dismissed = "dismissed"
    confirmed = "confirmed"


def _width(stream) -> int | None:
    """Return the console width: the terminal's own, or 200 columns for a file or pipe.

    ``make demo > log`` then gets tables that are not cut at 80 columns; ``COLUMNS`` wins.
    """
    if os.environ.get("COLUMNS") or (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return 200


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))


def get_settings(ctx: typer.Context) -> Settings:
    """Return the settings built by the top-level callback."""
    obj = ctx.find_root().obj
    if not isinstance(obj, Settings):  # pragma: no cover - the callback always runs first
        raise RuntimeError("settings were not initialised")
    return obj


class RepeatSummary(logging.Filter):
    """Show the first ``keep`` records of each message template, then count the rest.

    A batch of 25 images that are all "not normalizable" for the same kind of reason gives
    three lines and, at the end (:meth:`summary`), one line: "... 22 more like: image %s not
    normalizable: %s". Warnings and errors are counted the same way; nothing is lost from
    the database, only from the terminal. ``-v`` shows every record.
    """

    def __init__(self, keep: int = 3) -> None:
        super().__init__()
        self.keep = keep
        self.counts: dict[tuple[str, int], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging's name
        key = (str(record.msg), record.levelno)
        n = self.counts.get(key, 0) + 1
        self.counts[key] = n
        return n <= self.keep

    def flush(self) -> None:
        """Print the summary on standard error and start counting afresh (end of a command)."""
        for line in self.summary():
            err_console.print(line, highlight=False, style="dim")
        self.counts.clear()

    def summary(self) -> list[str]:
        """One line per template that had records left out."""
        import re

        def template(msg: str) -> str:  # arguments as "…", a literal "%%" as "%"
            return re.sub(r"%[-#0-9.]*[sdifgre]", "…", msg).replace("%%", "%")

        return [
            f"... {n - self.keep} more like: {template(msg)}"
            for (msg, _lvl), n in self.counts.items()
            if n > self.keep
        ]


def setup_logging(level: str, verbose: int = 0) -> None:
    """Send log records to standard error (only the CLI and the API configure logging).

    Repeated messages are summarized (:class:`RepeatSummary`) unless ``verbose``.
    """
    lvl = logging.DEBUG if verbose > 0 else getattr(logging, level.upper(), logging.INFO)
    root = logging.getLogger()
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        handler = RichHandler(console=err_console, show_path=False, rich_tracebacks=False)
        if verbose == 0:
            repeats = RepeatSummary()
            handler.addFilter(repeats)
            import atexit

            atexit.register(repeats.flush)  # what no command end flushed (see flush_repeats)
        root.addHandler(handler)
    root.setLevel(lvl)
    logging.getLogger("dsa110_contimg").setLevel(lvl)
    for noisy in ("alembic", "distributed", "watchdog", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(max(lvl, logging.WARNING))


def flush_repeats() -> None:
    """End a command's repeat summary: print it and reset the counts.

    The log handler lives as long as the process, so a process that runs several commands
    (tests, a library caller of :func:`~dsa110_contimg.cli.main`) would otherwise carry one
    command's counts into the next and hide its first records.
    """
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, RepeatSummary):
                f.flush()


def _group(name: str, help_text: str) -> typer.Typer:
    return typer.Typer(name=name, help=help_text, no_args_is_help=True)


@dataclass
class Groups:
    """The command groups (``contimg <group> <command>``), shared by the command modules."""

    db: typer.Typer
    catalog: typer.Typer
    photometry: typer.Typer
    jobs: typer.Typer
    registry: typer.Typer
    mosaic: typer.Typer
    ese: typer.Typer

    @classmethod
    def create(cls) -> Groups:
        """Make the empty groups."""
        return cls(
            db=_group("db", "Database schema."),
            catalog=_group("catalog", "Catalog store: ingest, query, master catalog."),
            photometry=_group("photometry", "Forced photometry and normalization."),
            jobs=_group("jobs", "Batch photometry jobs."),
            registry=_group("registry", "Data registry of images and mosaics."),
            mosaic=_group("mosaic", "Mosaics of consecutive images."),
            ese=_group("ese", "Extreme Scattering Event candidates."),
        )

    def attach(self, app: typer.Typer) -> None:
        """Add every group to the top-level app."""
        for f in fields(self):
            group = getattr(self, f.name)
            app.add_typer(group, name=f.name)
