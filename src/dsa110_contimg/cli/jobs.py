"""``contimg worker``, ``contimg jobs list|show|cancel|retry``, ``contimg registry list|show``."""

from __future__ import annotations

import datetime as _dt
import json
import signal
from typing import Annotated

import typer
from rich.table import Table

from ..errors import NotFoundError
from ._common import (
    MAX_COUNT,
    MAX_ID,
    DataType,
    Groups,
    JobStatus,
    PhotometryStatus,
    console,
    err_console,
    get_settings,
)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return _dt.datetime.fromtimestamp(ts, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _show(value) -> str:
    return "-" if value is None else str(value)


def register(app: typer.Typer, groups: Groups) -> None:
    """Add the worker, jobs and registry commands."""

    @app.command("worker")
    def worker(
        ctx: typer.Context,
        concurrency: Annotated[
            int,
            typer.Option("--concurrency", "-n", min=1, max=1024, help="Images measured at once."),
        ] = 1,
        dask_scheduler: Annotated[
            str | None,
            typer.Option(
                "--dask-scheduler", help="Run measurements on this Dask scheduler address."
            ),
        ] = None,
        once: Annotated[
            bool,
            typer.Option(
                "--once",
                help="Drain the queue (retries and dead workers' items included), then exit.",
            ),
        ] = False,
    ) -> None:
        """Run a batch-photometry worker (stops cleanly on Ctrl-C / SIGTERM)."""
        from ..jobs import Worker
        from ..runtime import settle

        settings = get_settings(ctx)
        w = Worker(settings, concurrency=concurrency, dask_scheduler=dask_scheduler)
        if not once:  # a long-running process: its start-up objects out of the collector's walks
            settle()

        grace = settings.jobs.stop_grace_seconds

        def _stop(signum, _frame):  # noqa: ANN001
            if w.stopping:
                console.print(
                    f"second stop signal ({signal.Signals(signum).name}): giving items in flight "
                    "back to the queue (uncharged) and stopping now"
                )
                w.stop(immediate=True)
                return
            console.print(
                f"stopping worker ({signal.Signals(signum).name}): finishing items in flight "
                f"(at most {grace:g} s, jobs.stop_grace_seconds; a second signal stops at once)"
            )
            w.stop()

        old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            stats = w.run(once=once)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        extra = ""
        if stats.released:
            extra += f", {stats.released} given back (result not stored)"
        if stats.returned:
            extra += f", {stats.returned} given back unfinished"
        console.print(
            f"worker {w.worker_id}: {stats.completed} completed, {stats.failed} failed, "
            f"{stats.retried} retried, {stats.rows} rows{extra}"
        )
        if stats.degraded:
            err_console.print(
                f"contimg worker: degraded: {stats.degraded}; the items given back are measured "
                "again by the next worker run once the database accepts writes"
            )
            raise typer.Exit(2)

    @groups.jobs.command("list")
    def jobs_list(
        ctx: typer.Context,
        status: Annotated[
            JobStatus | None, typer.Option("--status", help="Only jobs in this state.")
        ] = None,
        limit: Annotated[
            int, typer.Option("--limit", min=1, max=MAX_COUNT, help="Most jobs shown.")
        ] = 50,
    ) -> None:
        """List batch jobs, newest first."""
        from ..jobs import alive_workers, list_jobs

        settings = get_settings(ctx)
        table = Table(title="batch jobs")
        for col in (
            "id",
            "type",
            "status",
            "items",
            "done",
            "failed",
            "sources",
            "created",
            "finished",
        ):
            table.add_column(col)
        for j in list_jobs(status=status.value if status else None, limit=limit, settings=settings):
            table.add_row(
                str(j.job_id),
                j.job_type,
                j.status,
                str(j.total_items),
                str(j.completed_items),
                str(j.failed_items),
                str(j.params.get("n_sources", "-")),
                _when(j.created_at),
                _when(j.finished_at),
            )
        console.print(table)
        console.print(f"{len(alive_workers(settings=settings))} worker(s) alive")

    @groups.jobs.command("show")
    def jobs_show(
        ctx: typer.Context,
        job_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Job id.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Show a job and its items."""
        from ..jobs import get_job, job_items

        settings = get_settings(ctx)
        job = get_job(job_id, settings=settings)
        items = job_items(job_id, settings=settings)
        if as_json:
            console.print_json(
                json.dumps({"job": job.to_dict(), "items": [i.to_dict() for i in items]})
            )
            return
        console.print(
            f"job {job.job_id} ({job.job_type}) [bold]{job.status}[/bold]: "
            f"{job.completed_items}/{job.total_items} completed, {job.failed_items} failed; "
            f"params {json.dumps(job.params)}"
        )
        if job.error:
            console.print(f"error: {job.error}")
        table = Table(title=f"items of job {job.job_id}")
        for col in ("item", "data_id", "status", "attempts", "rows", "error", "path"):
            table.add_column(col, overflow="fold")
        for i in items:
            table.add_row(
                str(i.item_id),
                _show(i.data_id),
                i.status,
                str(i.attempts),
                _show(i.rows_written),
                _show(i.error),
                i.fits_path,
            )
        console.print(table)

    @groups.jobs.command("cancel")
    def jobs_cancel(
        ctx: typer.Context,
        job_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Job id.")],
    ) -> None:
        """Cancel a pending or running job."""
        from ..jobs import cancel_job

        job = cancel_job(job_id, settings=get_settings(ctx))
        console.print(f"job {job.job_id} {job.status}")

    @groups.jobs.command("retry")
    def jobs_retry(
        ctx: typer.Context,
        job_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Job id.")],
    ) -> None:
        """Queue a job's failed and cancelled items again."""
        from ..jobs import retry_job

        job = retry_job(job_id, settings=get_settings(ctx))
        console.print(
            f"job {job.job_id} {job.status}: {job.total_items - job.completed_items} item(s) queued"
        )

    @groups.registry.command("list")
    def registry_list(
        ctx: typer.Context,
        data_type: Annotated[
            DataType | None, typer.Option("--type", help="Kind of product.")
        ] = None,
        photometry_status: Annotated[
            PhotometryStatus | None,
            typer.Option("--photometry-status", help="Only products in this photometry state."),
        ] = None,
        limit: Annotated[
            int, typer.Option("--limit", min=1, max=MAX_COUNT, help="Most records shown.")
        ] = 50,
    ) -> None:
        """List data products, newest first."""
        from ..database import count_data, list_data

        settings = get_settings(ctx)
        data_type = data_type.value if data_type else None
        photometry_status = photometry_status.value if photometry_status else None
        recs = list_data(
            data_type=data_type, photometry_status=photometry_status, limit=limit, settings=settings
        )
        total = count_data(
            data_type=data_type, photometry_status=photometry_status, settings=settings
        )
        table = Table(title=f"data registry ({len(recs)} of {total})")
        for col in ("data_id", "type", "status", "qa", "photometry", "job", "created"):
            table.add_column(col, overflow="fold")
        for r in recs:
            table.add_row(
                r.data_id,
                r.data_type,
                r.status,
                _show(r.qa_status),
                _show(r.photometry_status),
                _show(r.photometry_job_id),
                _when(r.created_at),
            )
        console.print(table)

    @groups.registry.command("show")
    def registry_show(
        ctx: typer.Context,
        data_id: Annotated[str, typer.Argument(help="data_id (or path) of the product.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Show one data product: registry record and image metadata."""
        from dataclasses import asdict

        from ..database import get_data, get_image

        settings = get_settings(ctx)
        image = get_image(data_id, settings=settings)
        rec = get_data(image.data_id if image is not None else data_id, settings=settings)
        if rec is None:
            raise NotFoundError(f"no registered product {data_id!r}")
        out = {"registry": rec.to_dict(), "image": asdict(image) if image is not None else None}
        if as_json:
            console.print_json(json.dumps(out, default=str))
            return
        table = Table(title=rec.data_id, show_header=False)
        table.add_column("field")
        table.add_column("value", overflow="fold")
        for section in ("registry", "image"):
            for k, v in (out[section] or {}).items():
                table.add_row(k, _show(v if not isinstance(v, dict) else json.dumps(v)))
        console.print(table)
