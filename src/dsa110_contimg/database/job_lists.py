"""Reads behind the job pages and endpoints (``batch_jobs``, ``batch_job_items``; no writes).

Functions take an open connection and return plain dicts; the jobs' own records
(:class:`~dsa110_contimg.jobs.JobRecord`) come from :mod:`dsa110_contimg.jobs`.
"""

from __future__ import annotations

from sqlalchemy import func, select

from .product_lists import count_rows, decode_row
from .tables import products as t

__all__ = ["JOB_SORTS", "count_by_status", "count_jobs", "job_items_summary", "list_jobs_table"]

#: Sort keys of the jobs list.
JOB_SORTS = ("id", "created_at", "status", "job_type", "total_items", "failed_items")


def list_jobs_table(
    conn,
    *,
    limit: int,
    offset: int,
    sort: str = "id",
    order: str = "desc",
    status: str | None = None,
) -> tuple[list[dict], int]:
    """Return one page of batch jobs sorted by a column of :data:`JOB_SORTS`, and the count.

    Each row has the job's columns with ``id`` renamed ``job_id``; ties newest first.
    """
    j = t.batch_jobs
    if sort not in JOB_SORTS:
        raise ValueError(f"unknown sort {sort!r}; expected one of {', '.join(JOB_SORTS)}")
    stmt = select(j)
    if status:
        stmt = stmt.where(j.c.status == status)
    col = j.c[sort]
    key = col.asc().nulls_last() if order == "asc" else col.desc().nulls_last()
    total = count_rows(conn, stmt)
    rows = conn.execute(stmt.order_by(key, j.c.id.desc()).limit(limit).offset(offset))
    items = [decode_row(x) for x in rows]
    for x in items:
        x["job_id"] = x.pop("id")
    return items, total


def count_jobs(conn, *, status: str | None = None) -> int:
    """Return the number of batch jobs (of one status)."""
    j = t.batch_jobs
    stmt = select(func.count()).select_from(j)
    if status:
        stmt = stmt.where(j.c.status == status)
    return int(conn.execute(stmt).scalar_one())


def job_items_summary(conn, job_id: int, *, max_errors: int = 100) -> dict:
    """Return a job's item counts by status and the errors of its items (oldest first).

    Returns
    -------
    dict
        ``item_counts`` ({status: count}) and ``errors`` (``item_id``, ``fits_path``,
        ``data_id``, ``status``, ``attempts``, ``error``; at most ``max_errors``).
    """
    it = t.batch_job_items
    counts = conn.execute(
        select(it.c.status, func.count()).where(it.c.job_id == job_id).group_by(it.c.status)
    ).all()
    errs = conn.execute(
        select(
            it.c.id.label("item_id"),
            it.c.fits_path,
            it.c.data_id,
            it.c.status,
            it.c.attempts,
            it.c.error,
        )
        .where(it.c.job_id == job_id, it.c.error.is_not(None))
        .order_by(it.c.id)
        .limit(max_errors)
    ).all()
    return {
        "item_counts": {s: int(n) for s, n in counts},
        "errors": [decode_row(x) for x in errs],
    }


def count_by_status(conn, table: str = "batch_jobs") -> dict[str, int]:
    """Return ``{status: count}`` of batch jobs (or of ``"batch_job_items"``)."""
    tab = t.batch_jobs if table == "batch_jobs" else t.batch_job_items
    rows = conn.execute(select(tab.c.status, func.count()).group_by(tab.c.status)).all()
    return {s: int(n) for s, n in rows}
