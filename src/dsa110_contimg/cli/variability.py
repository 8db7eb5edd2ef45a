"""Commands of normalization, light curves and ESE candidates.

``contimg photometry normalize [--all [--dask-scheduler tcp://... | --dask-workers N] |
--image DATA_ID] [--reestablish]``,
``contimg lightcurve SOURCE_ID [--catalog nvss] [--series epoch|image|mosaic] [--output CSV]``,
``contimg ese list [--preset NAME] [--status S] [--output CSV]``,
``contimg ese dismiss|confirm|reopen ID [--note TEXT]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ._common import MAX_ID, EsePreset, EseStatus, Groups, Series, console, get_settings


def _write_or_print(table, output: Path | None, title: str) -> None:
    if output is not None:
        table.write(output, format="ascii.csv", overwrite=True)
        console.print(f"{len(table)} rows written to {output}")
        return
    from rich.table import Table as RichTable

    rt = RichTable(title=title)
    for name in table.colnames:
        rt.add_column(name)
    for row in table:
        cells = []
        for name in table.colnames:
            v = row[name]
            cells.append(f"{v:.6g}" if isinstance(v, float) else str(v))
        rt.add_row(*cells)
    console.print(rt)


def register(app: typer.Typer, groups: Groups) -> None:
    """Add ``photometry normalize``, ``lightcurve`` and the ``ese`` commands."""

    @groups.photometry.command("normalize")
    def normalize(
        ctx: typer.Context,
        all_images: Annotated[
            bool, typer.Option("--all", help="Normalize every stored image.")
        ] = False,
        image: Annotated[
            str | None, typer.Option("--image", help="Normalize one image (its data_id).")
        ] = None,
        reestablish: Annotated[
            bool,
            typer.Option(
                "--reestablish", help="Re-establish every reference baseline first (with --all)."
            ),
        ] = False,
        dask_scheduler: Annotated[
            str | None,
            typer.Option(
                "--dask-scheduler",
                help="With --all: run on this Dask scheduler (tcp://host:8786), or 'local'.",
            ),
        ] = None,
        dask_workers: Annotated[
            int | None,
            typer.Option("--dask-workers", help="With --all: a local Dask cluster of N processes."),
        ] = None,
    ) -> None:
        """Normalize stored photometry against the reference sources (no re-measuring)."""
        from ..variability.pipeline import (
            normalize_all,
            normalize_all_distributed,
            normalize_one_image,
        )

        settings = get_settings(ctx)
        if all_images == (image is not None):
            raise ConfigError("give exactly one of --all or --image DATA_ID")
        if (dask_scheduler or dask_workers) and not all_images:
            raise ConfigError("--dask-scheduler/--dask-workers go with --all")
        if all_images and (dask_scheduler or dask_workers):
            out = normalize_all_distributed(
                reestablish=reestablish,
                scheduler=None if dask_scheduler in (None, "local") else dask_scheduler,
                n_workers=dask_workers,
                settings=settings,
            )
            console.print(f"Dask: {out['tasks']} tasks")
        elif all_images:
            out = normalize_all(reestablish=reestablish, settings=settings)
        if all_images:
            console.print(
                f"{out['images']} images: {out['normalized']} normalized, "
                f"{out['not_normalizable']} not normalizable; {out['established']} baselines "
                f"established, {out['dropped']} variable references dropped"
            )
            return
        rec = normalize_one_image(image, settings=settings)
        if rec.status == "normalized":
            console.print(
                f"{image}: normalized, factor {rec.factor:.5f} +/- {rec.factor_err:.5f} "
                f"from {rec.n_refs} references"
            )
        else:
            console.print(f"{image}: not normalizable ({rec.reason})")

    @app.command("lightcurve")
    def lightcurve(
        ctx: typer.Context,
        source_id: Annotated[str, typer.Argument(help="Catalog source id, e.g. an NVSS name.")],
        catalog: Annotated[str, typer.Option("--catalog", help="Catalog of the source.")] = "nvss",
        series: Annotated[
            Series, typer.Option("--series", help="Light-curve series.")
        ] = Series.epoch,
        output: Annotated[Path | None, typer.Option("--output", help="Write CSV here.")] = None,
    ) -> None:
        """Print (or write as CSV) one source's light curve, ordered by MJD."""
        from ..variability.pipeline import get_lightcurve

        t = get_lightcurve(catalog, source_id, series=series.value, settings=get_settings(ctx))
        _write_or_print(t, output, f"{catalog}:{source_id} ({series.value})")

    @groups.ese.command("list")
    def ese_list(
        ctx: typer.Context,
        preset: Annotated[
            EsePreset | None, typer.Option("--preset", help="Thresholds preset.")
        ] = None,
        status: Annotated[
            EseStatus | None, typer.Option("--status", help="Only candidates in this state.")
        ] = None,
        output: Annotated[Path | None, typer.Option("--output", help="Write CSV here.")] = None,
    ) -> None:
        """List ESE candidates passing a preset, best first."""
        from ..variability.pipeline import list_candidates

        t = list_candidates(
            preset=preset.value if preset else None,
            status=status.value if status else None,
            settings=get_settings(ctx),
        )
        if len(t) == 0 and output is None:
            console.print("no ESE candidates pass these thresholds")
            return
        cols = ["id", "catalog", "source_id", "series", "preset", "score", "max_dip_sigma",
                "max_dip_depth",
                "eta", "first_flagged_mjd", "last_flagged_mjd", "status", "note"]  # fmt: skip
        _write_or_print(t if output is not None else t[cols], output, "ESE candidates")

    def status_command(action: str, status: str, help_text: str) -> None:
        @groups.ese.command(action, help=help_text)
        def change(
            ctx: typer.Context,
            cid: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Candidate id.")],
            note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
        ) -> None:
            from ..variability.pipeline import ese

            row = getattr(ese, f"{action}_candidate")(cid, note=note, settings=get_settings(ctx))
            console.print(f"candidate {cid} ({row['catalog']}:{row['source_id']}) {status}")

    status_command("dismiss", "dismissed", "Dismiss a candidate (kept; later epochs leave it).")
    status_command("confirm", "confirmed", "Confirm a candidate.")
    status_command("reopen", "active", "Make a dismissed or confirmed candidate active again.")
