"""Health check and Prometheus metrics."""

from __future__ import annotations

import dataclasses
import time

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from ...config import Settings
from ...database.engine import ping
from ...errors import DatabaseError
from ..deps import engine_dep, settings_dep
from ..encoding import SafeJSONResponse
from ..queries import count_by_status, measurements_per_minute, stream_status

router = APIRouter(tags=["health"])


def _workers(settings: Settings) -> list[dict]:
    from ...jobs import alive_workers

    return [
        w.to_dict() if hasattr(w, "to_dict") else dataclasses.asdict(w)
        for w in alive_workers(settings=settings)
    ]


@router.get("/api/health")
def health(settings: Settings = Depends(settings_dep), engine=Depends(engine_dep)):
    """Database reachability, live workers (heartbeats), stream status, waiting jobs.

    ``status`` is ``ok``, or ``degraded`` with the reasons in ``warnings`` (jobs waiting and
    no live worker, stream backlog). An unreachable database is a 503 error.
    """
    t0 = time.perf_counter()
    try:
        ping(engine)
    except Exception as exc:  # noqa: BLE001 - any driver error means unreachable
        raise DatabaseError(f"database unreachable ({type(exc).__name__})") from None
    db_ms = (time.perf_counter() - t0) * 1e3
    warnings = []
    workers = _workers(settings)
    jobs = count_by_status(engine)
    waiting = jobs.get("pending", 0) + jobs.get("running", 0)
    if waiting and not workers:
        warnings.append(f"{waiting} jobs are waiting and no worker is alive")
    stream = stream_status(settings)
    if stream.get("warning"):
        warnings.append(stream["warning"])
    return SafeJSONResponse(
        {
            "status": "degraded" if warnings else "ok",
            "warnings": warnings,
            "time": time.time(),
            "database": {
                "reachable": True,
                "latency_ms": round(db_ms, 3),
                "backend": "sqlite" if settings.is_sqlite else "postgresql",
            },
            "workers": {"alive": len(workers), "items": workers},
            "jobs": jobs,
            "stream": stream,
        }
    )


def _line(name: str, value: float, labels: dict | None = None) -> str:
    if labels:
        lab = ",".join(
            f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
            for k, v in labels.items()
        )
        return f"{name}{{{lab}}} {float(value):g}"
    return f"{name} {float(value):g}"


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(
    request: Request, settings: Settings = Depends(settings_dep), engine=Depends(engine_dep)
):
    """Prometheus text exposition: jobs and items by status, measurements/min, stream lag."""
    out = []
    out += ["# HELP contimg_jobs Batch photometry jobs by status.", "# TYPE contimg_jobs gauge"]
    jobs = count_by_status(engine)
    for status in ("pending", "running", "completed", "partial", "failed", "cancelled"):
        out.append(_line("contimg_jobs", jobs.get(status, 0), {"status": status}))
    out += ["# HELP contimg_job_items Batch job items by status.", "# TYPE contimg_job_items gauge"]
    items = count_by_status(engine, "batch_job_items")
    for status, n in sorted(items.items()):
        out.append(_line("contimg_job_items", n, {"status": status}))
    out += [
        "# HELP contimg_measurements_per_minute Photometry rows written per minute (last 5 min).",
        "# TYPE contimg_measurements_per_minute gauge",
        _line("contimg_measurements_per_minute", measurements_per_minute(engine)),
    ]
    out += [
        "# HELP contimg_workers_alive Workers with a fresh heartbeat.",
        "# TYPE contimg_workers_alive gauge",
        _line("contimg_workers_alive", len(_workers(settings))),
    ]
    stream = stream_status(settings)
    out += [
        "# HELP contimg_stream_lag_seconds Age of the oldest stream group not yet processed "
        "(0 when none waits).",
        "# TYPE contimg_stream_lag_seconds gauge",
        _line("contimg_stream_lag_seconds", stream.get("lag_seconds") or 0.0),
    ]
    out += [
        "# HELP contimg_stream_groups Stream groups by state.",
        "# TYPE contimg_stream_groups gauge",
    ]
    for state, n in sorted((stream.get("groups") or {}).items()):
        out.append(_line("contimg_stream_groups", n, {"state": state}))
    counter = request.app.state.request_counter
    out += [
        "# HELP contimg_http_requests_total HTTP requests served by this process.",
        "# TYPE contimg_http_requests_total counter",
    ]
    for (status_class,), n in sorted(counter.snapshot().items()):
        out.append(_line("contimg_http_requests_total", n, {"code": status_class}))
    return Response("\n".join(out) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8")
