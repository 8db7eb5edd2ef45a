"""``contimg catalog``: ingest, query, info, build-master, download."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ._common import MAX_COUNT, Groups, console, err_console, get_settings


def register(app: typer.Typer, groups: Groups) -> None:
    """Add the ``catalog`` commands."""

    @groups.catalog.command("ingest")
    def ingest(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="Catalog name (nvss, first, vlass, racs, ...).")],
        file: Annotated[
            Path, typer.Argument(help="The catalog file (tdat, FITS, CSV, VOTable, .sky).")
        ],
        format: Annotated[
            str | None,
            typer.Option("--format", help="Force a reader (see 'contimg catalog formats')."),
        ] = None,
    ) -> None:
        """Read a published catalog file and store it (replacing that catalog atomically)."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        from ..catalog import ingest_catalog

        settings = get_settings(ctx)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,} rows"),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"reading {file.name}", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, description=f"storing {name}", completed=done, total=total)

            info = ingest_catalog(name, file, format=format, settings=settings, progress=progress)
        skipped = ", ".join(f"{k} {v:,}" for k, v in info.skipped.items()) or "none"
        console.print(
            f"catalog {info.name}: {info.row_count:,} sources from {info.file_name} "
            f"({info.format}); skipped: {skipped}"
        )

    @groups.catalog.command("formats")
    def formats() -> None:
        """List the catalog file formats the ingest understands."""
        from ..catalog.readers import FORMATS

        for f in FORMATS:
            console.print(f)

    @groups.catalog.command("query")
    def query(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="Catalog name.")],
        ra: Annotated[
            float, typer.Option("--ra", min=0.0, max=360.0, help="Cone centre RA (deg).")
        ],
        dec: Annotated[
            float, typer.Option("--dec", min=-90.0, max=90.0, help="Cone centre Dec (deg).")
        ],
        radius: Annotated[
            float, typer.Option("--radius", min=0.0, max=180.0, help="Cone radius (deg).")
        ],
        min_flux: Annotated[
            float | None, typer.Option("--min-flux", min=0.0, max=1e9, help="Faintest flux (mJy).")
        ] = None,
        max_sources: Annotated[
            int | None,
            typer.Option("--max-sources", min=1, max=MAX_COUNT, help="Keep the brightest N."),
        ] = None,
        output: Annotated[
            Path | None, typer.Option("--output", help="Write the sources to this CSV file.")
        ] = None,
    ) -> None:
        """Cone search: sources brightest first, printed or written as CSV."""
        from ..catalog import query_sources

        table = query_sources(
            name, ra, dec, radius, min_flux, max_sources, all_columns=True,
            settings=get_settings(ctx),
        )
        if output is not None:
            table.write(output, format="ascii.csv", overwrite=True)
            console.print(f"{len(table)} sources written to {output}")
            return
        from rich.table import Table as RichTable

        view = RichTable("source_id", "ra_deg", "dec_deg", "flux_mjy", "sep_deg")
        for row in table:
            view.add_row(
                str(row["source_id"]),
                f"{row['ra_deg']:.5f}",
                f"{row['dec_deg']:.5f}",
                f"{row['flux_mjy']:.2f}",
                f"{row['sep_deg']:.4f}",
            )
        console.print(view)
        console.print(f"{len(table)} sources")

    @groups.catalog.command("info")
    def info(
        ctx: typer.Context,
        name: Annotated[str | None, typer.Argument(help="One catalog (default: all).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Show the ingested catalogs: rows, skipped rows, file, checksum, date."""
        import datetime as dt

        from ..catalog import catalog_info, list_catalogs

        settings = get_settings(ctx)
        infos = (
            [catalog_info(name, settings=settings)] if name else list_catalogs(settings=settings)
        )
        if as_json:
            console.print_json(json.dumps([i.as_dict() for i in infos]))
            return
        if not infos:
            console.print("no catalogs ingested")
            return
        from rich.table import Table as RichTable

        view = RichTable("name", "rows", "skipped", "format", "file", "sha256", "ingested (UTC)")
        for i in infos:
            when = dt.datetime.fromtimestamp(i.ingested_at, dt.UTC).strftime("%Y-%m-%d %H:%M")
            skipped = ", ".join(f"{k} {v}" for k, v in i.skipped.items())
            view.add_row(
                i.name,
                f"{i.row_count:,}",
                skipped,
                i.format,
                i.file_name or "",
                (i.file_sha256 or "")[:12],
                when,
            )
        console.print(view)

    @groups.catalog.command("build-master")
    def build_master(ctx: typer.Context) -> None:
        """Cross-match NVSS with FIRST, VLASS and RACS into the 'master' catalog."""
        from ..catalog import build_master_catalog
        from ._references import warn_reference_coverage

        settings = get_settings(ctx)
        info = build_master_catalog(settings=settings)
        summary = ", ".join(f"{k} {v:,}" for k, v in info.skipped.items())
        console.print(
            f"master catalog: {info.row_count:,} sources from {info.file_name}; {summary}"
        )
        strip = settings.catalog.reference_strip_deg
        console.print(f"references per declination strip ({strip:g} deg):")
        warn_reference_coverage(settings, show_strips=True)

    @groups.catalog.command("download")
    def download(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="Catalog name (nvss, first, racs).")],
        url: Annotated[
            str | None, typer.Option("--url", help="Download from this URL instead.")
        ] = None,
        dest: Annotated[
            Path | None,
            typer.Option("--dest", help="Directory (default: <state_dir>/catalogs)."),
        ] = None,
        ingest_after: Annotated[
            bool, typer.Option("--ingest/--no-ingest", help="Ingest the file after download.")
        ] = False,
    ) -> None:
        """Download a survey catalog file from its public archive (needs a network)."""
        from ..catalog import download_catalog, ingest_catalog

        settings = get_settings(ctx)
        target = dest if dest is not None else Path(settings.state_dir) / "catalogs"
        path = download_catalog(name, url=url, dest=target, settings=settings)
        console.print(f"downloaded {path}")
        if ingest_after:
            info = ingest_catalog(name, path, settings=settings)
            console.print(f"catalog {info.name}: {info.row_count:,} sources")
