"""``contimg stream``, ``contimg run`` and ``contimg simulate``: the streaming converter's edge."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ._common import MAX_COUNT, Groups, console, get_settings

log = logging.getLogger(__name__)

_IN = typer.Option("--input-dir", help="Directory the telescope writes <timestamp>_sbNN.hdf5 into.")
_OUT = typer.Option("--output-dir", help="Where Measurement Sets and images are written.")
_CATALOG = typer.Option(
    "--photometry-catalog",
    help="Catalog whose sources are measured (default: [photometry] default_catalog).",
)
_RADIUS = typer.Option(
    "--photometry-radius",
    min=0.0,
    max=180.0,
    help="Search radius in degrees (default: whole image).",
)
_MAX_SOURCES = typer.Option(
    "--photometry-max-sources", min=1, max=MAX_COUNT, help="At most N brightest sources per image."
)
_MAX_GROUPS = typer.Option(
    "--max-groups", min=1, max=MAX_COUNT, help="Exit after processing N groups."
)


def _options(
    settings, enable_photometry, catalog, radius, normalize, max_sources, enable_mosaic, *,
    warn=True,
):
    from ..conversion.streaming import StreamOptions

    return StreamOptions(
        enable_photometry=enable_photometry,
        photometry_catalog=catalog if catalog is not None else settings.photometry.default_catalog,
        photometry_radius_deg=radius,
        photometry_normalize=normalize,
        photometry_max_sources=max_sources,
        enable_mosaic=enable_mosaic,
        warn_no_worker=warn,
    )


def _print_outcomes(groups) -> None:
    for g in groups:
        if g.status == "completed":
            cal = f", {g.calibration_status}" if g.calibration_status else ""
            console.print(
                f"{g.group_key}: completed -> {g.image_path} (QA {g.qa_status}{cal}, "
                f"photometry job {g.job_id}) in {g.timings.get('total', 0):.1f} s"
            )
        elif g.status == "waiting":
            console.print(f"{g.group_key}: [yellow]waiting[/yellow]: {g.error}")
        else:
            console.print(f"{g.group_key}: [red]failed[/red]: {g.error}")


def register(app: typer.Typer, groups: Groups) -> None:
    """Add ``stream``, ``run`` and ``simulate``."""

    @app.command("stream")
    def stream_cmd(
        ctx: typer.Context,
        input_dir: Annotated[Path | None, _IN] = None,
        output_dir: Annotated[Path | None, _OUT] = None,
        enable_photometry: Annotated[
            bool,
            typer.Option("--enable-photometry", help="Queue forced photometry of every new image."),
        ] = False,
        photometry_catalog: Annotated[str | None, _CATALOG] = None,
        photometry_radius: Annotated[float | None, _RADIUS] = None,
        photometry_normalize: Annotated[
            bool, typer.Option("--photometry-normalize", help="Normalize the measurements.")
        ] = False,
        photometry_max_sources: Annotated[int | None, _MAX_SOURCES] = None,
        enable_mosaic: Annotated[
            bool,
            typer.Option("--enable-mosaic", help="Run the mosaic orchestrator after each group."),
        ] = False,
        once: Annotated[
            bool, typer.Option("--once", help="One pass over the directory, then exit.")
        ] = False,
        max_groups: Annotated[int | None, _MAX_GROUPS] = None,
        status: Annotated[
            bool, typer.Option("--status", help="Print the stream status as JSON and exit.")
        ] = False,
    ) -> None:
        """Convert, image and register each group of subband files as it arrives."""
        from ..conversion.streaming import run_stream, stream_status

        settings = get_settings(ctx)
        if status:
            console.print_json(json.dumps(stream_status(settings), default=str))
            return
        if input_dir is None or output_dir is None:
            raise ConfigError("--input-dir and --output-dir are required")
        opts = _options(
            settings,
            enable_photometry,
            photometry_catalog,
            photometry_radius,
            photometry_normalize,
            photometry_max_sources,
            enable_mosaic,
        )
        groups_done = run_stream(
            input_dir, output_dir, options=opts, settings=settings, once=once, max_groups=max_groups
        )
        _print_outcomes(groups_done)

    @app.command("run")
    def run_cmd(
        ctx: typer.Context,
        input_dir: Annotated[Path, _IN],
        output_dir: Annotated[Path, _OUT],
        photometry_catalog: Annotated[str | None, _CATALOG] = None,
        photometry_radius: Annotated[float | None, _RADIUS] = None,
        photometry_max_sources: Annotated[int | None, _MAX_SOURCES] = None,
        no_normalize: Annotated[
            bool, typer.Option("--no-normalize", help="Do not normalize the measurements.")
        ] = False,
        no_mosaic: Annotated[
            bool, typer.Option("--no-mosaic", help="Do not build mosaics.")
        ] = False,
        concurrency: Annotated[
            int, typer.Option("--concurrency", min=1, max=1024, help="Worker concurrency.")
        ] = 1,
        once: Annotated[
            bool, typer.Option("--once", help="Bounded: stream what is there, drain, exit.")
        ] = False,
        max_groups: Annotated[
            int | None,
            typer.Option(
                "--max-groups",
                min=1,
                max=MAX_COUNT,
                help="Bounded: stop after N groups, drain, exit.",
            ),
        ] = None,
    ) -> None:
        """Run the main job: streamer + photometry worker + mosaic orchestrator (Ctrl-C stops)."""
        from ..conversion.streaming import run_pipeline

        settings = get_settings(ctx)
        if not no_normalize:  # say at start, loudly, if normalization will lack references
            from ._references import warn_reference_coverage

            warn_reference_coverage(settings)
        opts = _options(
            settings,
            True,
            photometry_catalog,
            photometry_radius,
            not no_normalize,
            photometry_max_sources,
            False,
            warn=False,
        )
        if not once:  # a long-running process: its start-up objects out of the collector's walks
            from ..runtime import settle
            from ..variability.pipeline.normalize import prepare_per_image_path

            prepare_per_image_path()
            settle()
        result = run_pipeline(
            input_dir,
            output_dir,
            options=opts,
            settings=settings,
            once=once,
            max_groups=max_groups,
            enable_mosaic=not no_mosaic,
            worker_concurrency=concurrency,
        )
        _print_outcomes(result.groups)
        console.print(
            f"photometry items measured: {result.photometry_items}; "
            f"mosaic groups built: {len(result.mosaic_groups)}"
        )

    @app.command("simulate")
    def simulate_cmd(
        ctx: typer.Context,
        output_dir: Annotated[
            Path, typer.Option("--output-dir", help="Directory for the UVH5 files.")
        ],
        groups_n: Annotated[
            int, typer.Option("--groups", min=1, max=10_000, help="Consecutive ~5 min groups.")
        ] = 1,
        dec: Annotated[
            float, typer.Option("--dec", min=-90.0, max=90.0, help="Pointing declination (deg).")
        ] = 37.0,
        start: Annotated[
            str, typer.Option("--start", help="UTC start (ISO).")
        ] = "2025-01-15T12:00:00",
        catalog: Annotated[
            str | None,
            typer.Option(
                "--catalog",
                help="Sky from this stored catalog; omitted or 'synthetic': a seeded "
                "synthetic catalog, ingested into the store as catalog 'synthetic'.",
            ),
        ] = None,
        channels: Annotated[
            int,
            typer.Option(
                "--channels", min=1, max=48,
                help="Channels per subband: a divisor of the correlator's 48 (averaged "
                "channels, the band kept).",
            ),
        ] = 4,
        seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1, help="Random seed.")] = 0,
        corrupt: Annotated[
            bool,
            typer.Option("--corrupt", help="Corrupt the visibilities (gains, delays, bandpass, "
                         "dead antennas, RFI; seeded by --seed); the truth is written beside "
                         "the files as <timestamp>_corruptions.json."),
        ] = False,
    ) -> None:
        """Write simulated DSA-110 drift-scan groups (16 subband UVH5 files each)."""
        from ..simulation.sky import simulate_groups

        if 48 % channels:
            raise typer.BadParameter(
                f"{channels} does not divide the correlator's 48 channels per subband "
                "(1, 2, 3, 4, 6, 8, 12, 16, 24 or 48)",
                param_hint="'--channels'",
            )
        settings = get_settings(ctx)
        if corrupt:
            from ..simulation.corruptions import CorruptionSpec

            extra = {"corruption": CorruptionSpec(seed=seed)}
        else:
            extra = {}
        sims = simulate_groups(
            output_dir,
            n_groups=groups_n,
            start_time=start,
            dec_deg=dec,
            catalog=catalog,
            n_channels_per_subband=channels,
            seed=seed,
            settings=settings,
            **extra,
        )
        for g in sims:
            console.print(
                f"{g.timestamp}: {len(g.paths)} subbands, {len(g.truth)} sources -> {output_dir}"
            )
