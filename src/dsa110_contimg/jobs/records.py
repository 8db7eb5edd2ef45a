"""Reading and managing batch jobs: records, listing, cancel, retry, live workers.

Job and item states: ``pending`` (waiting, or waiting for a retry), ``running`` (claimed under
a lease), ``completed``, ``failed`` (for good, after the last attempt), ``cancelled``; a job
whose items ended some completed and some failed is ``partial``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Settings, resolve_settings
from ..database import get_engine, write_transaction
from ..database import jobs as db
from ..database.registry import set_photometry_status
from ..errors import JobError, NotFoundError
from .queue import refresh_job

__all__ = [
    "ItemRecord",
    "JobRecord",
    "WorkerRecord",
    "alive_workers",
    "cancel_job",
    "get_job",
    "job_items",
    "list_jobs",
    "list_workers",
    "retry_job",
]

JOB_STATUSES = ("pending", "running", "completed", "partial", "failed", "cancelled")


@dataclass(frozen=True)
class JobRecord:
    """One batch job.

    Attributes
    ----------
    job_id : int
        The job's id.
    job_type : str
        ``"photometry"``.
    status : str
        One of ``pending, running, completed, partial, failed, cancelled``.
    total_items, completed_items, failed_items : int
        Item counts.
    params : dict
        Creation parameters (method, normalize, number of sources, ...; the source list
        itself is omitted unless asked for).
    error : str or None
        Summary of failures.
    created_at, started_at, finished_at, updated_at : float or None
        Unix seconds.
    """

    job_id: int
    job_type: str
    status: str
    total_items: int
    completed_items: int
    failed_items: int
    params: dict[str, Any]
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, with_sources: bool = False) -> JobRecord:
        """Build the record from a row of ``batch_jobs``."""
        params = json.loads(row["params"]) if row["params"] else {}
        if not with_sources:
            params.pop("sources", None)
        return cls(
            job_id=row["id"],
            job_type=row["job_type"],
            status=row["status"],
            total_items=row["total_items"],
            completed_items=row["completed_items"],
            failed_items=row["failed_items"],
            params=params,
            error=row["error"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            updated_at=row["updated_at"],
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a plain dictionary (for JSON)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class ItemRecord:
    """One item of a job: one image to measure.

    Attributes
    ----------
    item_id, job_id : int
        Identifiers.
    fits_path : str
        The image.
    data_id : str or None
        The image's registry id.
    status : str
        One of ``pending, running, completed, failed, cancelled``.
    attempts : int
        Attempts started so far.
    rows_written : int or None
        Photometry rows stored by the completing attempt.
    error : str or None
        Last error.
    worker_id : str or None
        Worker holding (or last holding) the item.
    lease_expires_at, next_attempt_at, created_at, started_at, finished_at : float or None
        Unix seconds.
    """

    item_id: int
    job_id: int
    fits_path: str
    data_id: str | None
    status: str
    attempts: int
    rows_written: int | None
    error: str | None
    worker_id: str | None
    lease_expires_at: float | None
    next_attempt_at: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ItemRecord:
        """Build the record from a row of ``batch_job_items``."""
        values = {k: row[k] for k in cls.__dataclass_fields__ if k != "item_id"}
        return cls(item_id=row["id"], **values)

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a plain dictionary (for JSON)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class WorkerRecord:
    """A worker's heartbeat row.

    Attributes
    ----------
    worker_id : str
        ``host:pid:random``.
    hostname : str
        Host name.
    pid : int
        Process id.
    status : str
        ``running``, ``idle`` or ``stopped``.
    started_at, heartbeat_at : float
        Unix seconds.
    current_job_id : int or None
        A job the worker is working on.
    """

    worker_id: str
    hostname: str | None
    pid: int | None
    status: str
    started_at: float
    heartbeat_at: float
    current_job_id: int | None


def get_job(
    job_id: int, *, with_sources: bool = False, settings: Settings | None = None
) -> JobRecord:
    """Return a job.

    Parameters
    ----------
    job_id : int
        The job.
    with_sources : bool
        Keep the job's source list in ``params``.
    settings : Settings, optional
        Settings naming the database.

    Raises
    ------
    NotFoundError
        No such job.
    """
    row = db.job_row(get_engine(resolve_settings(settings)), job_id)
    if row is None:
        raise NotFoundError(f"no batch job {job_id}")
    return JobRecord.from_row(row, with_sources=with_sources)


def list_jobs(
    *,
    status: str | None = None,
    limit: int | None = 50,
    offset: int = 0,
    settings: Settings | None = None,
) -> list[JobRecord]:
    """Return jobs, newest first.

    Parameters
    ----------
    status : str, optional
        Only jobs in this state.
    limit : int, optional
        Most jobs returned (None: all).
    offset : int
        Jobs skipped (paging).
    settings : Settings, optional
        Settings naming the database.
    """
    engine = get_engine(resolve_settings(settings))
    rows = db.job_rows(engine, status=status, limit=limit, offset=offset)
    return [JobRecord.from_row(r) for r in rows]


def job_items(job_id: int, *, settings: Settings | None = None) -> list[ItemRecord]:
    """Return the items of a job in creation order.

    Raises
    ------
    NotFoundError
        No such job.
    """
    get_job(job_id, settings=settings)
    rows = db.item_rows(get_engine(resolve_settings(settings)), job_id)
    return [ItemRecord.from_row(r) for r in rows]


def cancel_job(job_id: int, *, settings: Settings | None = None) -> JobRecord:
    """Cancel a job and its pending and running items.

    A running item's result is discarded when its worker finishes.

    Parameters
    ----------
    job_id : int
        The job.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    JobRecord
        The job after the change.

    Raises
    ------
    NotFoundError
        No such job.
    JobError
        The job already finished.
    """
    settings = resolve_settings(settings)
    engine = get_engine(settings)
    now = time.time()
    with write_transaction(engine) as conn:
        state = db.job_state(conn, job_id)
        if state is None:
            raise NotFoundError(f"no batch job {job_id}")
        status = state.status
        if status not in ("pending", "running"):
            raise JobError(
                f"batch job {job_id} is {status}; only pending or running jobs can be cancelled"
            )
        active = ("pending", "running")
        data_ids = db.item_data_ids(conn, job_id, active)
        db.update_job_items(
            conn, job_id, active, status="cancelled", finished_at=now, lease_expires_at=None
        )
        db.update_job(conn, job_id, status="cancelled", finished_at=now, updated_at=now)
        refresh_job(conn, job_id, now)
        set_photometry_status(conn, list(data_ids), "cancelled", None, only_job=job_id)
    return get_job(job_id, settings=settings)


def retry_job(job_id: int, *, settings: Settings | None = None) -> JobRecord:
    """Queue a job's failed and cancelled items again (attempts reset).

    Parameters
    ----------
    job_id : int
        The job.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    JobRecord
        The job after the change.

    Raises
    ------
    NotFoundError
        No such job.
    JobError
        The job has nothing to retry.
    """
    settings = resolve_settings(settings)
    engine = get_engine(settings)
    now = time.time()
    with write_transaction(engine) as conn:
        if db.job_state(conn, job_id) is None:
            raise NotFoundError(f"no batch job {job_id}")
        again = ("failed", "cancelled")
        data_ids = db.item_data_ids(conn, job_id, again)
        if not data_ids:
            raise JobError(f"batch job {job_id} has no failed or cancelled item to retry")
        db.update_job_items(
            conn,
            job_id,
            again,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            finished_at=None,
            worker_id=None,
            lease_expires_at=None,
        )
        db.update_job(conn, job_id, status="pending", finished_at=None, error=None, updated_at=now)
        refresh_job(conn, job_id, now)
        set_photometry_status(conn, list(data_ids), "pending", job_id)
    return get_job(job_id, settings=settings)


def list_workers(*, settings: Settings | None = None) -> list[WorkerRecord]:
    """Return every worker's heartbeat row, latest heartbeat first."""
    rows = db.worker_rows(get_engine(resolve_settings(settings)))
    return [WorkerRecord(**r) for r in rows]


def alive_workers(*, settings: Settings | None = None) -> list[WorkerRecord]:
    """Return the workers whose heartbeat is recent (and that did not stop).

    A worker is alive when it beat within ``max(3 heartbeat intervals, lease_seconds)``.

    Parameters
    ----------
    settings : Settings, optional
        Settings naming the database and the job timings.
    """
    from .queue import heartbeat_window

    settings = resolve_settings(settings)
    since = time.time() - heartbeat_window(settings)
    return [WorkerRecord(**r) for r in db.worker_rows(get_engine(settings), alive_since=since)]


def count_waiting_items(*, settings: Settings | None = None) -> int:
    """Return how many items wait for a worker (pending, in live jobs)."""
    return db.count_waiting_items(get_engine(resolve_settings(settings)))
