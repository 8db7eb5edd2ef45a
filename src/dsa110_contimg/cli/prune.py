"""``contimg prune``: remove what finished stream groups leave behind (retention policy)."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import Groups, console, get_settings


def register(app: typer.Typer, groups: Groups) -> None:
    """Add ``contimg prune``."""

    @app.command("prune")
    def prune_cmd(
        ctx: typer.Context,
        older_than_days: Annotated[
            float | None,
            typer.Option(
                "--older-than-days",
                min=0.0,
                max=36500.0,
                help="Groups finished at least this long ago (retention.prune_older_than_days).",
            ),  # fmt: skip
        ] = None,
        intermediate: Annotated[
            bool | None,
            typer.Option(
                "--intermediate/--no-intermediate",
                help="Also the intermediate images (retention.prune_intermediate); "
                "the registered -image-pb.fits is always kept.",
            ),  # fmt: skip
        ] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list.")] = False,
    ) -> None:
        """Delete Measurement Sets (and intermediate images) of finished stream groups."""
        from ..conversion.streaming.retention import prune

        rep = prune(older_than_days=older_than_days, intermediate=intermediate,
                    dry_run=dry_run, settings=get_settings(ctx))  # fmt: skip
        for p in rep.paths:
            console.print(f"{'would remove' if dry_run else 'removed'} {p}", highlight=False)
        console.print(f"{len(rep.paths)} path(s) of {rep.groups} group(s), "
                      f"{rep.bytes / 1e6:.1f} MB {'to free' if dry_run else 'freed'}",
                      highlight=False)  # fmt: skip
