"""``contimg mosaic build|run|list``: mosaics of consecutive images."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from ._common import MAX_COUNT, Groups, MosaicStatus, console, get_settings

__all__ = ["register"]


def register(app: typer.Typer, groups: Groups) -> None:
    """Add this module's commands to the app and groups."""
    g = groups.mosaic

    @g.command("build")
    def build(
        ctx: typer.Context,
        images: Annotated[list[Path], typer.Argument(
            help="Primary-beam-corrected images (<name>-image-pb.fits), in time order.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Mosaic FITS to write.")],
        register_it: Annotated[bool, typer.Option(
            "--register", help="Register the mosaic (and any unregistered input) in the "
            "products database.")] = False,
    ) -> None:
        """Build one mosaic from the given images (weight and noise maps beside it)."""
        from ..mosaic import build_mosaic

        settings = get_settings(ctx)
        result = build_mosaic(images, output, settings=settings)
        console.print(
            f"mosaic {result.path} ({result.shape[0]} x {result.shape[1]} px, "
            f"{result.n_images} images, beam {result.beam.bmaj_deg * 3600:.1f}\" x "
            f"{result.beam.bmin_deg * 3600:.1f}\" PA {result.beam.bpa_deg:.1f}, "
            f"deepest noise {result.min_noise_jy * 1e3:.3g} mJy/beam)"
        )
        console.print(f"weight map {result.weight_path}\nnoise map  {result.noise_path}")
        if register_it:
            from ..database.mosaics import register_mosaic
            from ..database.products import get_image, register_image

            ids = []
            for p in images:
                rec = get_image(p, settings=settings)
                ids.append(rec.data_id if rec is not None
                           else register_image(p, settings=settings))
            did = register_mosaic(result.path, member_data_ids=ids, settings=settings)
            console.print(f"registered as {did}")

    @g.command("run")
    def run(
        ctx: typer.Context,
        once: Annotated[bool, typer.Option(
            "--once", help="Poll once (form groups, build the pending ones) and exit.")] = False,
        enable_photometry: Annotated[bool, typer.Option(
            "--enable-photometry", help="Queue forced photometry of each new mosaic.")] = False,
        photometry_catalog: Annotated[str | None, typer.Option(
            "--photometry-catalog",
            help="Catalog measured on the mosaics (default: [photometry] default_catalog).",
        )] = None,
        photometry_radius: Annotated[float | None, typer.Option(
            "--photometry-radius", min=0.0, max=180.0,
            help="Search radius in degrees (default: whole footprint)."
        )] = None,
        photometry_normalize: Annotated[bool, typer.Option(
            "--photometry-normalize", help="Normalize the mosaic photometry.")] = False,
        photometry_max_sources: Annotated[int | None, typer.Option(
            "--photometry-max-sources", min=1, max=MAX_COUNT,
            help="Brightest sources measured.")] = None,
    ) -> None:
        """Run the orchestrator: group consecutive images, build and measure their mosaics."""
        from ..mosaic import MosaicOrchestrator

        settings = get_settings(ctx)
        orch = MosaicOrchestrator(
            settings,
            enable_photometry=enable_photometry,
            photometry_config={
                "catalog": photometry_catalog or settings.photometry.default_catalog,
                "radius_deg": photometry_radius,
                "normalize": photometry_normalize,
                "max_sources": photometry_max_sources,
            },
        )
        stop = threading.Event()
        if not once and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            built = orch.run(once=once, stop_event=stop)
        except KeyboardInterrupt:
            built = []
        console.print(f"mosaic groups built: {', '.join(map(str, built)) or 'none'}")

    @g.command("list")
    def list_(
        ctx: typer.Context,
        status: Annotated[MosaicStatus | None, typer.Option(
            "--status", help="Only groups with this status.")] = None,
        limit: Annotated[int | None, typer.Option(
            "--limit", min=1, max=MAX_COUNT, help="Most groups shown.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    ) -> None:
        """List the mosaic groups and their mosaics."""
        from ..database.mosaics import list_mosaic_groups

        settings = get_settings(ctx)
        status = status.value if status is not None else None
        groups = list_mosaic_groups(status=status, limit=limit, settings=settings)
        if as_json:
            for grp in groups:
                typer.echo(json.dumps(grp.as_dict(), sort_keys=True))
            return
        from rich.table import Table

        table = Table("group", "status", "images", "first MJD", "last MJD", "mosaic",
                      "job", "reason")
        for grp in groups:
            table.add_row(
                str(grp.id), grp.status, str(grp.n_images),
                f"{grp.mjd_first:.5f}" if grp.mjd_first is not None else "",
                f"{grp.mjd_last:.5f}" if grp.mjd_last is not None else "",
                Path(grp.mosaic_path).name if grp.mosaic_path else "",
                str(grp.photometry_job_id or ""), grp.reason or "",
            )
        console.print(table)
