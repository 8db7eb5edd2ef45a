"""Batch jobs in the products database: ``batch_jobs``, ``batch_job_items`` and ``workers``.

The statements of the job queue; the queue's logic (what a claim, a lease, a retry or a
cancellation means, and which state follows which) is in :mod:`dsa110_contimg.jobs`. Writers
take a ``conn`` inside the caller's write transaction
(:func:`~dsa110_contimg.database.engine.write_transaction`); readers that stand alone take the
engine and open their own connection.

Locking (PostgreSQL): the readers a claim decides on (:func:`claimable_items`,
:func:`expired_items`, :func:`job_state` with ``lock=True``) take their rows ``FOR UPDATE``,
claims with ``SKIP LOCKED`` so two workers never wait on each other's items. On SQLite the
write transaction's ``BEGIN IMMEDIATE`` already serializes writers. Lock order: items, then
jobs, then registry records.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row, and_, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError

from .products import upsert
from .tables.products import batch_job_items, batch_jobs, images, workers

__all__ = [
    "LIVE_JOB_STATUSES",
    "adopt_folds",
    "claimable_items",
    "clear_folds",
    "count_outstanding_items",
    "count_waiting_items",
    "expired_items",
    "extend_leases",
    "folds_of_gone_workers",
    "has_claimable_item",
    "held_items",
    "image_ids_by_path",
    "insert_items",
    "insert_job",
    "item_data_ids",
    "item_rows",
    "item_status_counts",
    "job_params",
    "job_row",
    "job_rows",
    "job_state",
    "mark_lost_workers",
    "retrying",
    "start_items",
    "start_jobs",
    "update_item",
    "update_item_if_held",
    "update_job",
    "update_job_items",
    "update_worker",
    "upsert_worker",
    "worker_rows",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Job states whose items may still be claimed.
LIVE_JOB_STATUSES = ("pending", "running")

_FROM = batch_job_items.join(batch_jobs, batch_jobs.c.id == batch_job_items.c.job_id)


def retrying(fn: Callable[[], T], *, what: str, tries: int = 5) -> T:
    """Run a transaction, retrying a PostgreSQL deadlock or serialization failure."""
    for attempt in range(tries):
        try:
            return fn()
        except DBAPIError as exc:
            code = getattr(getattr(exc, "orig", None), "sqlstate", None)
            if code not in ("40P01", "40001") or attempt == tries - 1:
                raise
            log.debug("%s: %s, retrying", what, code)
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _locking(conn: Connection) -> bool:
    return conn.dialect.name != "sqlite"


def _one_less_attempt(dialect: str):
    """Return ``attempts - 1`` floored at 0 (an item given back without charging the attempt)."""
    if dialect == "sqlite":
        return func.max(batch_job_items.c.attempts - 1, 0)
    return func.greatest(batch_job_items.c.attempts - 1, 0)


def _claimable(now: float, job_id: int | None):
    cond = and_(
        batch_job_items.c.status == "pending",
        or_(batch_job_items.c.next_attempt_at.is_(None), batch_job_items.c.next_attempt_at <= now),
        batch_jobs.c.status.in_(LIVE_JOB_STATUSES),
    )
    if job_id is not None:
        cond = and_(cond, batch_job_items.c.job_id == job_id)
    return cond


def _expired(now: float, job_id: int | None):
    cond = and_(batch_job_items.c.status == "running", batch_job_items.c.lease_expires_at < now)
    if job_id is not None:
        cond = and_(cond, batch_job_items.c.job_id == job_id)
    return cond


# -- standalone reads ---------------------------------------------------------------------------


def has_claimable_item(engine: Engine, now: float, *, job_id: int | None = None) -> bool:
    """Return whether an item waits to be claimed or its lease to be reclaimed at ``now``."""
    with engine.connect() as conn:
        hit = conn.execute(
            select(batch_job_items.c.id)
            .select_from(_FROM)
            .where(or_(_claimable(now, job_id), _expired(now, job_id)))
            .limit(1)
        ).first()
    return hit is not None


def count_outstanding_items(engine: Engine, *, job_id: int | None = None) -> int:
    """Return how many items of live jobs are pending or running."""
    cond = and_(
        batch_job_items.c.status.in_(("pending", "running")),
        batch_jobs.c.status.in_(LIVE_JOB_STATUSES),
    )
    if job_id is not None:
        cond = and_(cond, batch_job_items.c.job_id == job_id)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(_FROM).where(cond)).scalar_one())


def count_waiting_items(engine: Engine) -> int:
    """Return how many items wait for a worker (pending, in live jobs)."""
    stmt = (
        select(func.count())
        .select_from(_FROM)
        .where(batch_job_items.c.status == "pending", batch_jobs.c.status.in_(LIVE_JOB_STATUSES))
    )
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def job_row(engine: Engine, job_id: int) -> Mapping[str, Any] | None:
    """Return the ``batch_jobs`` row of a job, or None."""
    with engine.connect() as conn:
        return conn.execute(select(batch_jobs).where(batch_jobs.c.id == job_id)).mappings().first()


def job_rows(
    engine: Engine, *, status: str | None = None, limit: int | None = 50, offset: int = 0
) -> list[Mapping[str, Any]]:
    """Return ``batch_jobs`` rows, newest first (``limit`` None: all)."""
    stmt = select(batch_jobs).order_by(batch_jobs.c.id.desc()).offset(offset)
    if status is not None:
        stmt = stmt.where(batch_jobs.c.status == status)
    if limit is not None:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        return list(conn.execute(stmt).mappings())


def item_rows(engine: Engine, job_id: int) -> list[Mapping[str, Any]]:
    """Return the ``batch_job_items`` rows of a job in creation order."""
    stmt = (
        select(batch_job_items)
        .where(batch_job_items.c.job_id == job_id)
        .order_by(batch_job_items.c.id)
    )
    with engine.connect() as conn:
        return list(conn.execute(stmt).mappings())


def worker_rows(engine: Engine, *, alive_since: float | None = None) -> list[dict[str, Any]]:
    """Return ``workers`` rows, latest heartbeat first.

    Parameters
    ----------
    alive_since : float, optional
        Only workers that beat at or after this Unix time and did not stop (nor were lost).
    """
    stmt = select(workers).order_by(workers.c.heartbeat_at.desc())
    if alive_since is not None:
        stmt = stmt.where(
            workers.c.heartbeat_at >= alive_since, workers.c.status.notin_(("stopped", "lost"))
        )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def image_ids_by_path(engine: Engine, paths: Sequence[str]) -> dict[str, str]:
    """Return the ``data_id`` of each registered image among ``paths`` (POSIX strings)."""
    with engine.connect() as conn:
        return dict(
            conn.execute(
                select(images.c.path, images.c.data_id).where(images.c.path.in_(list(paths)))
            ).all()
        )


# -- inside a write transaction -----------------------------------------------------------------


def insert_job(conn: Connection, values: Mapping[str, Any]) -> int:
    """Insert a ``batch_jobs`` row; return its id."""
    return int(
        conn.execute(insert(batch_jobs).values(**values).returning(batch_jobs.c.id)).scalar_one()
    )


def insert_items(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``batch_job_items`` rows."""
    conn.execute(insert(batch_job_items), list(rows))


def job_state(conn: Connection, job_id: int, *, lock: bool = False) -> Row | None:
    """Return ``(status, started_at)`` of a job, or None; ``lock`` takes its row (PostgreSQL)."""
    q = select(batch_jobs.c.status, batch_jobs.c.started_at).where(batch_jobs.c.id == job_id)
    if lock and _locking(conn):
        q = q.with_for_update()
    return conn.execute(q).first()


def item_status_counts(conn: Connection, job_id: int) -> dict[str, int]:
    """Return the number of a job's items in each state."""
    return dict(
        conn.execute(
            select(batch_job_items.c.status, func.count())
            .where(batch_job_items.c.job_id == job_id)
            .group_by(batch_job_items.c.status)
        ).all()
    )


def update_job(conn: Connection, job_id: int, **values: Any) -> None:
    """Set columns of a job."""
    conn.execute(update(batch_jobs).where(batch_jobs.c.id == job_id).values(**values))


def job_params(conn: Connection, job_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Return the decoded creation parameters of jobs, by id."""
    return {
        r.id: json.loads(r.params) if r.params else {}
        for r in conn.execute(
            select(batch_jobs.c.id, batch_jobs.c.params).where(batch_jobs.c.id.in_(list(job_ids)))
        )
    }


def start_jobs(conn: Connection, job_ids: Sequence[int], now: float) -> None:
    """Mark ``running`` the pending jobs among ``job_ids`` and give each a start time."""
    conn.execute(
        update(batch_jobs)
        .where(batch_jobs.c.id.in_(job_ids), batch_jobs.c.status == "pending")
        .values(status="running", started_at=now, updated_at=now)
    )
    conn.execute(
        update(batch_jobs)
        .where(batch_jobs.c.id.in_(job_ids), batch_jobs.c.started_at.is_(None))
        .values(started_at=now)
    )


def mark_lost_workers(conn: Connection, heard_before: float) -> int:
    """Mark ``lost`` the live workers whose last heartbeat is before ``heard_before``."""
    return int(
        conn.execute(
            update(workers)
            .where(
                workers.c.status.notin_(("stopped", "lost")),
                workers.c.heartbeat_at < heard_before,
            )
            .values(status="lost", current_job_id=None)
        ).rowcount
        or 0
    )


def expired_items(conn: Connection, now: float, *, job_id: int | None = None) -> list[Row]:
    """Return the running items whose lease ran out, oldest first.

    Rows have ``id, job_id, data_id, attempts, worker_id``; on PostgreSQL they are locked,
    skipping rows another transaction holds.
    """
    q = (
        select(
            batch_job_items.c.id,
            batch_job_items.c.job_id,
            batch_job_items.c.data_id,
            batch_job_items.c.attempts,
            batch_job_items.c.worker_id,
        )
        .where(_expired(now, job_id))
        .order_by(batch_job_items.c.id)
    )
    if _locking(conn):
        q = q.with_for_update(skip_locked=True)
    return list(conn.execute(q).all())


def claimable_items(
    conn: Connection, now: float, limit: int, *, job_id: int | None = None
) -> list[Row]:
    """Return up to ``limit`` claimable items, oldest job first.

    Rows have ``id, job_id, fits_path, data_id, attempts``; on PostgreSQL they are locked,
    skipping rows another worker holds.
    """
    q = (
        select(
            batch_job_items.c.id,
            batch_job_items.c.job_id,
            batch_job_items.c.fits_path,
            batch_job_items.c.data_id,
            batch_job_items.c.attempts,
        )
        .select_from(_FROM)
        .where(_claimable(now, job_id))
        .order_by(batch_job_items.c.job_id, batch_job_items.c.id)
        .limit(limit)
    )
    if _locking(conn):
        q = q.with_for_update(of=batch_job_items, skip_locked=True)
    return list(conn.execute(q).all())


def start_items(
    conn: Connection, item_ids: Sequence[int], *, worker_id: str, lease_until: float, now: float
) -> None:
    """Mark items running under ``worker_id``'s lease, counting the attempt."""
    conn.execute(
        update(batch_job_items)
        .where(batch_job_items.c.id.in_(item_ids))
        .values(
            status="running",
            worker_id=worker_id,
            lease_expires_at=lease_until,
            attempts=batch_job_items.c.attempts + 1,
            started_at=now,
            finished_at=None,
        )
    )


def update_item(
    conn: Connection, item_id: int, *, uncharge_attempt: bool = False, **values: Any
) -> None:
    """Set columns of an item; ``uncharge_attempt`` takes back its last attempt (floor 0)."""
    if uncharge_attempt:
        values["attempts"] = _one_less_attempt(conn.dialect.name)
    conn.execute(update(batch_job_items).where(batch_job_items.c.id == item_id).values(**values))


def update_item_if_held(
    conn: Connection, item_id: int, holder: str, *, uncharge_attempt: bool = False, **values: Any
) -> bool:
    """Update an item only while ``holder`` still holds it (the fence); return whether it did."""
    if uncharge_attempt:
        values["attempts"] = _one_less_attempt(conn.dialect.name)
    return bool(
        conn.execute(
            update(batch_job_items)
            .where(
                batch_job_items.c.id == item_id,
                batch_job_items.c.worker_id == holder,
                batch_job_items.c.status == "running",
            )
            .values(**values)
        ).rowcount
    )


def folds_of_gone_workers(conn: Connection, heard_before: float) -> list[Row]:
    """Return the completed items whose fold is pending and whose worker is gone.

    Rows ``id, job_id, data_id, worker_id``, in the order the items finished. Gone: stopped,
    lost, never registered, or silent since ``heard_before``.
    """
    i, w = batch_job_items.c, workers.c
    alive = (
        select(w.worker_id)
        .where(w.status.notin_(("stopped", "lost")), w.heartbeat_at >= heard_before)
        .scalar_subquery()
    )
    return list(
        conn.execute(
            select(i.id, i.job_id, i.data_id, i.worker_id)
            .where(
                i.fold_pending == 1,
                i.status == "completed",
                i.data_id.is_not(None),
                or_(i.worker_id.is_(None), i.worker_id.notin_(alive)),
            )
            .order_by(i.finished_at, i.id)
        ).all()
    )


def adopt_folds(conn: Connection, items: Sequence[Row], worker_id: str) -> list[int]:
    """Take over pending folds from their gone workers; return the ids taken, in order.

    The item's ``worker_id`` becomes the adopter's, which now owns the fold (and whose death
    in turn leaves it to the next). Fenced on the old holder: a second worker adopting the
    same items at the same time gets none of them.
    """
    taken = []
    for r in items:
        cond = (
            batch_job_items.c.worker_id.is_(None)
            if r.worker_id is None
            else batch_job_items.c.worker_id == r.worker_id
        )
        done = conn.execute(
            update(batch_job_items)
            .where(batch_job_items.c.id == r.id, batch_job_items.c.fold_pending == 1, cond)
            .values(worker_id=worker_id)
        ).rowcount
        if done:
            taken.append(r.id)
    return taken


def clear_folds(conn: Connection, item_ids: Sequence[int]) -> None:
    """Mark the items' fold as run."""
    if item_ids:
        conn.execute(
            update(batch_job_items)
            .where(batch_job_items.c.id.in_(list(item_ids)), batch_job_items.c.fold_pending == 1)
            .values(fold_pending=0)
        )


def held_items(conn: Connection, worker_id: str) -> list[Row]:
    """Return the running items a worker holds (``id, job_id, data_id``)."""
    return list(
        conn.execute(
            select(batch_job_items.c.id, batch_job_items.c.job_id, batch_job_items.c.data_id).where(
                batch_job_items.c.worker_id == worker_id, batch_job_items.c.status == "running"
            )
        ).all()
    )


def extend_leases(
    conn: Connection, worker_id: str, until: float, *, item_ids: Sequence[int] | None = None
) -> None:
    """Extend to ``until`` the leases of the running items ``worker_id`` holds.

    ``item_ids`` (when given) limits the extension to those items.
    """
    cond = and_(batch_job_items.c.worker_id == worker_id, batch_job_items.c.status == "running")
    if item_ids is not None:
        cond = and_(cond, batch_job_items.c.id.in_(list(item_ids) or [-1]))
    conn.execute(update(batch_job_items).where(cond).values(lease_expires_at=until))


def item_data_ids(conn: Connection, job_id: int, statuses: Sequence[str]) -> list[str | None]:
    """Return the ``data_id`` of a job's items in one of ``statuses``."""
    return list(
        conn.execute(
            select(batch_job_items.c.data_id).where(
                batch_job_items.c.job_id == job_id, batch_job_items.c.status.in_(statuses)
            )
        )
        .scalars()
        .all()
    )


def update_job_items(conn: Connection, job_id: int, statuses: Sequence[str], **values: Any) -> None:
    """Set columns of a job's items in one of ``statuses``."""
    conn.execute(
        update(batch_job_items)
        .where(batch_job_items.c.job_id == job_id, batch_job_items.c.status.in_(statuses))
        .values(**values)
    )


def upsert_worker(conn: Connection, row: Mapping[str, Any]) -> None:
    """Create or reset a worker's heartbeat row (keyed by ``worker_id``)."""
    upsert(
        conn,
        workers,
        dict(row),
        key=["worker_id"],
        update=[k for k in row if k != "worker_id"],
    )


def update_worker(conn: Connection, worker_id: str, **values: Any) -> None:
    """Set columns of a worker's heartbeat row."""
    conn.execute(update(workers).where(workers.c.worker_id == worker_id).values(**values))
