"""``contimg caltables list|show``: the calibration solution sets the stream registered."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from ..errors import NotFoundError
from ._common import MAX_COUNT, CaltableStatus, Groups, console, get_settings
from .jobs import _show, _when

__all__ = ["register"]


def _mjd_iso(mjd: float | None) -> str:
    if mjd is None:
        return "-"
    from astropy.time import Time

    return Time(mjd, format="mjd", scale="utc").strftime("%Y-%m-%d %H:%M:%S")


def _num(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def register(app: typer.Typer, groups: Groups) -> None:
    """Add the ``caltables`` group (its own Typer: no shared group is touched)."""
    g = typer.Typer(name="caltables", help="Calibration solution sets (K, B, G tables).",
                    no_args_is_help=True)
    app.add_typer(g, name="caltables")

    @g.command("list")
    def caltables_list(
        ctx: typer.Context,
        status: Annotated[CaltableStatus | None, typer.Option(
            "--status", help="Only valid or only refused sets.")] = None,
        calibrator: Annotated[str | None, typer.Option(
            "--calibrator", help="Only this calibrator's sets.")] = None,
        limit: Annotated[
            int, typer.Option("--limit", min=1, max=MAX_COUNT, help="Most sets shown.")
        ] = 50,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """List solution sets, latest transit first, with their QA and status."""
        from ..database.caltables import count_caltables, list_caltables

        status = None if status is None else str(status.value)
        settings = get_settings(ctx)
        recs = list_caltables(status=status, calibrator=calibrator, limit=limit,
                              settings=settings)
        total = count_caltables(status=status, calibrator=calibrator, settings=settings)
        if as_json:
            console.print_json(json.dumps({"items": [r.to_dict() for r in recs],
                                           "total": total}, default=str))
            return
        table = Table(title=f"calibration solution sets ({len(recs)} of {total})")
        for col in ("id", "calibrator", "transit (UTC)", "status", "SNR", "flagged",
                    "ants flagged", "delay scatter ns", "reason"):
            table.add_column(col, overflow="fold")
        for r in recs:
            table.add_row(
                str(r.id), r.calibrator, _mjd_iso(r.transit_mjd), r.status,
                _num(r.snr_median, ".1f"), _num(r.flagged_fraction, ".1%"),
                f"{len(r.antennas_flagged)}/{_show(r.n_antennas)}",
                _num(r.delay_scatter_ns, ".3f"), _show(r.reason),
            )
        console.print(table)

    @g.command("show")
    def caltables_show(
        ctx: typer.Context,
        caltable_id: Annotated[
            int, typer.Argument(min=1, max=2**63 - 1, help="Solution set id.")
        ],
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Show one solution set: tables, validity, QA, status and the images it calibrated."""
        from ..database.caltables import get_caltable, products_using_caltable

        settings = get_settings(ctx)
        rec = get_caltable(caltable_id, settings=settings)
        if rec is None:
            raise NotFoundError(f"no calibration solution set {caltable_id}")
        images, n = products_using_caltable(caltable_id, limit=20, settings=settings)
        out = rec.to_dict()
        out["n_images"] = n
        out["images"] = images
        if as_json:
            console.print_json(json.dumps(out, default=str))
            return
        table = Table(title=f"solution set {rec.id} ({rec.calibrator}, {rec.status})",
                      show_header=False)
        table.add_column("field")
        table.add_column("value", overflow="fold")
        rows = [
            ("calibrator", rec.calibrator),
            ("transit", f"{_mjd_iso(rec.transit_mjd)} UTC (MJD {rec.transit_mjd:.5f})"),
            ("valid", f"{_mjd_iso(rec.valid_from_mjd)} .. {_mjd_iso(rec.valid_until_mjd)} UTC"),
            ("status", rec.status + (f": {rec.reason}" if rec.reason else "")),
            ("median SNR", _num(rec.snr_median, ".1f")),
            ("flagged fraction", _num(rec.flagged_fraction, ".2%")),
            ("antennas flagged", f"{list(rec.antennas_flagged)} of {_show(rec.n_antennas)}"),
            ("delay scatter", _num(rec.delay_scatter_ns, ".3f") + " ns"),
            *[(f"{k} table", str(p)) for k, p in rec.tables.items()],
            ("channel mask", _show(rec.channel_mask_path)),
            ("solved on group", _show(rec.group_key)),
            ("registered", _when(rec.created_at)),
            ("images calibrated", str(n)),
        ]
        for k, v in rows:
            table.add_row(k, v)
        console.print(table)
        for im in images:
            sup = f" (superseded by {im['superseded_by']})" if im["superseded_by"] else ""
            console.print(f"  {im['data_id']}{sup}")
