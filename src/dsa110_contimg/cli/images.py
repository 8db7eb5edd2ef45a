"""``contimg images add PATH...``: bring FITS images one already has into the pipeline.

Each image (or every ``*.fits`` file of a directory given) is registered, the catalog sources
on it are queued as one batch photometry job (the same trigger the stream uses), and, unless
``--no-run``, a worker drains the jobs in this process: the images are measured, normalized
against the reference sources, and their light curves, variability metrics and ESE candidates
updated, exactly as for images the stream makes. See ``docs/own-data.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError, ContimgError
from ._common import MAX_COUNT, Groups, console, err_console, get_settings

__all__ = ["expand_images", "register"]


def expand_images(paths: list[Path]) -> list[Path]:
    """Files as given, and the ``*.fits``/``*.fit``/``*.fits.fz`` files of directories, sorted.

    Raises
    ------
    ConfigError
        A path does not exist, or a directory holds no FITS file.
    """
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(
                q for pat in ("*.fits", "*.fit", "*.FITS") for q in p.glob(pat) if q.is_file()
            )
            if not found:
                raise ConfigError("directory holds no *.fits file", path=p)
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise ConfigError("no such file or directory", path=p)
    return list(dict.fromkeys(q.resolve() for q in out))


def register(app: typer.Typer, groups: Groups) -> None:
    """Add the ``images`` group (``images add``)."""
    images = typer.Typer(name="images", help="Your own FITS images: register and measure.",
                         no_args_is_help=True)  # fmt: skip
    app.add_typer(images, name="images")

    @images.command("add")
    def add(
        ctx: typer.Context,
        paths: Annotated[list[Path], typer.Argument(help="FITS images or directories of them.")],
        catalog: Annotated[
            str | None,
            typer.Option(
                "--catalog", help="Catalog measured (default: [photometry] default_catalog)."
            ),  # fmt: skip
        ] = None,
        radius: Annotated[
            float | None,
            typer.Option(
                "--radius",
                min=0.0,
                max=180.0,
                help="Search radius in degrees (default: the whole image).",
            ),  # fmt: skip
        ] = None,
        max_sources: Annotated[
            int | None,
            typer.Option("--max-sources", min=1, max=MAX_COUNT, help="Brightest N sources."),
        ] = None,
        normalize: Annotated[
            bool, typer.Option("--normalize/--no-normalize", help="Normalize the photometry.")
        ] = True,
        run: Annotated[
            bool,
            typer.Option("--run/--no-run", help="Measure now (else a 'contimg worker' does)."),
        ] = True,
        concurrency: Annotated[
            int, typer.Option("--concurrency", min=1, max=1024, help="Images measured at once.")
        ] = 1,
    ) -> None:
        """Register FITS images and get them measured, normalized and into light curves."""
        from ..jobs import Worker
        from ..jobs.trigger import trigger_photometry

        settings = get_settings(ctx)
        cat = catalog or settings.photometry.default_catalog
        files = expand_images(paths)
        jobs: list[int] = []
        skipped = 0
        for f in files:
            try:
                job = trigger_photometry(f, catalog=cat, radius_deg=radius,
                                         max_sources=max_sources, normalize=normalize,
                                         settings=settings)  # fmt: skip
            except ContimgError as exc:  # one bad image never stops the others
                err_console.print(f"skipped: {exc}", highlight=False)
                skipped += 1
                continue
            if job is None:
                err_console.print(f"skipped: {f}: no {cat} source on the image", highlight=False)
                skipped += 1
                continue
            jobs.append(job)
        console.print(
            f"{len(jobs)} image(s) registered and queued for {cat} photometry"
            + (f" ({skipped} skipped)" if skipped else ""),
            highlight=False,
        )
        if not jobs:
            raise typer.Exit(2 if skipped else 0)
        if not run:
            console.print("run 'contimg worker --once' to measure them", highlight=False)
            return
        stats = Worker(settings, concurrency=concurrency).run(once=True)
        console.print(
            f"measured: {stats.completed} completed, {stats.failed} failed, {stats.rows} rows"
            + (
                "; normalized where references allow (see 'contimg registry list')"
                if normalize
                else ""
            ),  # fmt: skip
            highlight=False,
        )
        if stats.failed:
            raise typer.Exit(1)
