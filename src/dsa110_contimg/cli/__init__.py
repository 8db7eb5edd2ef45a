"""The ``contimg`` command line: a thin edge over the library.

The top-level callback builds the one :class:`~dsa110_contimg.config.Settings` object from
``--config`` (TOML) < environment < flags and hands it to every command through the Typer
context. Each command group lives in its own module, which exposes ``register(app, groups)``.
Errors of the pipeline (:class:`~dsa110_contimg.errors.ContimgError`) end the command with exit
status 2 and one line on standard error naming the file and the problem.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import (  # issue 15: contimg images add, contimg prune
    calibrate,
    caltables,
    catalog,
    db,
    demo,
    images,
    jobs,
    mosaic,
    photometry,
    prune,
    serve,
    stream,
    variability,
)
from ._common import Groups, setup_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="contimg",
    help="DSA-110 continuum pipeline: stream, image, measure, normalize, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file (CONTIMG_CONFIG).")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="State directory (CONTIMG_STATE_DIR).")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Database URL (CONTIMG_DATABASE_URL).")
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More logging (and tracebacks).")
    ] = 0,
) -> None:
    """Build the settings once; every command receives them."""
    from ..config import Settings

    flags = {
        k: v
        for k, v in {"config": config, "state_dir": state_dir, "database_url": database_url}.items()
        if v is not None
    }
    settings = Settings(**flags)
    setup_logging(settings.log_level, verbose)
    ctx.obj = settings


groups = Groups.create()
for _module in (
    db, catalog, photometry, jobs, stream, mosaic, variability, serve, demo, calibrate, caltables
):
    _module.register(app, groups)
groups.attach(app)
images.register(app, groups)
prune.register(app, groups)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return (and exit with) its status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).
    """
    from ._common import flush_repeats
    from ._run import run

    try:
        code = run(argv)
    finally:
        flush_repeats()
    if argv is None:
        sys.exit(code)
    return code
