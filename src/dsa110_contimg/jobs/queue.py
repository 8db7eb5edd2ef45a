"""The job queue in the database: atomic claims, leases, completion, retries.

Work is claimed per *item* (one image of a job). A claim runs in one write transaction
(SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED``), so no item is
ever held by two workers at once. A claimed item carries a lease that the worker's heartbeat
extends; an item whose lease ran out (its worker died) is put back in the queue by the next
claim. Completing an item is *fenced*: it writes the item's photometry rows, the item, job and
registry states in one transaction, and only if the item is still leased by the same worker,
so a worker that lost its lease never overwrites anybody's work; and the rows are upserted on
their natural key, so measuring an item twice can never duplicate a row.

Lock order (PostgreSQL): items, then jobs, then registry records. This module decides; the
statements (and their row locks) are :mod:`dsa110_contimg.database.jobs`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..database import jobs as db
from ..database import write_transaction
from ..database.jobs import retrying
from ..database.products import insert_photometry_rows
from ..database.registry import set_photometry_status

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = [
    "ClaimedItem",
    "adopt_unfolded",
    "claim_items",
    "complete_item",
    "fail_item",
    "folds_done",
    "has_claimable_work",
    "heartbeat",
    "mark_lost_workers",
    "outstanding_items",
    "refresh_job",
    "register_worker",
    "release_item",
    "unregister_worker",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClaimedItem:
    """An item claimed by a worker, with what is needed to measure it.

    Attributes
    ----------
    item_id, job_id : int
        Identifiers.
    fits_path : str
        The image.
    data_id : str or None
        The image's registry id (None if it could not be registered at creation).
    attempts : int
        Attempts including this one.
    """

    item_id: int
    job_id: int
    fits_path: str
    data_id: str | None
    attempts: int


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Delay before the next attempt after ``attempts`` failed ones (exponential)."""
    return settings.jobs.retry_backoff_seconds * 2.0 ** max(attempts - 1, 0)


def has_claimable_work(engine: Engine, *, job_id: int | None = None) -> bool:
    """Return whether an item waits to be claimed or a lease to be reclaimed (cheap read)."""
    return db.has_claimable_item(engine, time.time(), job_id=job_id)


def outstanding_items(engine: Engine, *, job_id: int | None = None) -> int:
    """Return how many items of live jobs are pending or running (the queue is drained at 0)."""
    return db.count_outstanding_items(engine, job_id=job_id)


def refresh_job(conn: Connection, job_id: int, now: float) -> str:
    """Recount a job's items and set its counts and status (inside a write transaction).

    The job row is locked first, so two workers finishing items of one job at once cannot
    write stale counts. A cancelled job stays cancelled.

    Returns
    -------
    str
        The job's status.
    """
    job = db.job_state(conn, job_id, lock=True)
    if job is None:
        return "missing"
    counts = db.item_status_counts(conn, job_id)
    total = sum(counts.values())
    done, failed = counts.get("completed", 0), counts.get("failed", 0)
    active = counts.get("pending", 0) + counts.get("running", 0)
    values: dict[str, Any] = {
        "total_items": total,
        "completed_items": done,
        "failed_items": failed,
        "updated_at": now,
    }
    status = job.status
    if status != "cancelled":
        if active:
            started = counts.get("running", 0) or done or failed or job.started_at is not None
            status = "running" if started else "pending"
            values["finished_at"] = None
        else:
            if failed == 0 and done > 0:
                status = "completed"
            elif done == 0:
                status = "failed" if failed else "cancelled"
            else:
                status = "partial"
            values["finished_at"] = now
            values["error"] = f"{failed} of {total} items failed" if failed else None
        values["status"] = status
    db.update_job(conn, job_id, **values)
    return status


def heartbeat_window(settings: Settings) -> float:
    """Seconds without a heartbeat after which a worker is no longer alive."""
    cfg = settings.jobs
    return max(3.0 * min(cfg.heartbeat_seconds, cfg.lease_seconds / 3.0), cfg.lease_seconds)


def mark_lost_workers(conn: Connection, now: float, settings: Settings) -> int:
    """Mark ``lost`` the workers whose heartbeat expired (killed, host down); return how many.

    A worker that stopped cleanly is ``stopped``; one that died without a word stays
    ``idle``/``running``/``degraded`` in its row until this runs (at every claim).
    """
    return db.mark_lost_workers(conn, now - heartbeat_window(settings))


def _reclaim_expired(conn: Connection, now: float, settings: Settings, job_id: int | None) -> None:
    mark_lost_workers(conn, now, settings)
    rows = db.expired_items(conn, now, job_id=job_id)
    if not rows:
        return
    jobs: set[int] = set()
    for r in rows:
        reason = f"worker {r.worker_id} lost (lease expired) during attempt {r.attempts}"
        if r.attempts >= settings.jobs.max_attempts:
            values = {"status": "failed", "finished_at": now, "error": reason}
            state = "failed"
        else:
            values = {
                "status": "pending",
                "next_attempt_at": now + backoff_seconds(settings, r.attempts),
                "error": reason,
            }
            state = "pending"
        db.update_item(conn, r.id, worker_id=None, lease_expires_at=None, **values)
        jobs.add(r.job_id)
        log.warning("item %d of job %d reclaimed: %s", r.id, r.job_id, reason)
        set_photometry_status(conn, [r.data_id], state, None, only_job=r.job_id)
    for j in sorted(jobs):
        refresh_job(conn, j, now)


def claim_items(
    engine: Engine, settings: Settings, worker_id: str, limit: int, *, job_id: int | None = None
) -> tuple[list[ClaimedItem], dict[int, dict[str, Any]]]:
    """Claim up to ``limit`` items atomically (reclaiming expired leases first).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database.
    settings : Settings
        Job timings (lease, attempts, backoff).
    worker_id : str
        The claiming worker.
    limit : int
        Most items claimed.
    job_id : int, optional
        Claim only this job's items.

    Returns
    -------
    items : list of ClaimedItem
        The claimed items, oldest job first.
    params : dict
        Creation parameters of the jobs of those items, by job id.
    """

    def claim() -> tuple[list[ClaimedItem], dict[int, dict[str, Any]]]:
        now = time.time()
        with write_transaction(engine) as conn:
            _reclaim_expired(conn, now, settings, job_id)
            if limit <= 0:
                return [], {}
            rows = db.claimable_items(conn, now, limit, job_id=job_id)
            if not rows:
                return [], {}
            ids = [r.id for r in rows]
            db.start_items(
                conn,
                ids,
                worker_id=worker_id,
                lease_until=now + settings.jobs.lease_seconds,
                now=now,
            )
            job_ids = sorted({r.job_id for r in rows})
            db.start_jobs(conn, job_ids, now)
            params = db.job_params(conn, job_ids)
            for j in job_ids:
                set_photometry_status(
                    conn, [r.data_id for r in rows if r.job_id == j], "running", None, only_job=j
                )
            items = [
                ClaimedItem(r.id, r.job_id, r.fits_path, r.data_id, r.attempts + 1) for r in rows
            ]
            return items, params

    return retrying(claim, what="claim")


def _update_if_held(conn: Connection, item: ClaimedItem, holder: str, /, **values: Any) -> bool:
    """Update an item only while ``holder`` still holds it (the fence); return whether it did."""
    return db.update_item_if_held(conn, item.item_id, holder, **values)


def complete_item(
    engine: Engine,
    item: ClaimedItem,
    worker_id: str,
    rows: Mapping[str, Any] | None,
    n_rows: int,
    *,
    fold: bool = False,
) -> bool:
    """Store an item's photometry rows and mark it completed, in one fenced transaction.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database.
    item : ClaimedItem
        The item.
    worker_id : str
        The worker that claimed it.
    rows : mapping of columns, optional
        Photometry rows (see :func:`~dsa110_contimg.database.photometry_insert`).
    n_rows : int
        Number of rows.
    fold : bool
        Mark the item's fold into the metrics pending (``fold_pending``), cleared by
        :func:`folds_done` once the worker's pass over it has run; a worker killed in between
        leaves it to another worker (:func:`adopt_unfolded`).

    Returns
    -------
    bool
        False when the item was no longer leased by this worker (nothing written).
    """

    def done() -> bool:
        now = time.time()
        with write_transaction(engine) as conn:
            if not _update_if_held(
                conn,
                item,
                worker_id,
                status="completed",
                finished_at=now,
                lease_expires_at=None,
                error=None,
                rows_written=n_rows,
                data_id=item.data_id,
                fold_pending=1 if fold else 0,
            ):
                return False
            if rows is not None and n_rows:
                insert_photometry_rows(conn, rows)
            refresh_job(conn, item.job_id, now)
            set_photometry_status(
                conn, [item.data_id], "completed", item.job_id, only_job=item.job_id
            )
            return True

    return retrying(done, what="complete")


def adopt_unfolded(
    engine: Engine, settings: Settings, worker_id: str
) -> list[tuple[int, str, bool]]:
    """Take over the pending folds of workers that are gone; return what to fold.

    Items a worker stored and did not fold (killed in between), as ``(item_id, data_id,
    normalize)`` in the order they finished. A worker is gone when it stopped, or has been
    silent for the heartbeat window (as for :func:`mark_lost_workers`); a live worker's
    pending folds are its own.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database.
    settings : Settings
        Settings (the heartbeat window).
    worker_id : str
        The worker taking them over (fenced: two workers starting at once never both
        take an item).

    Returns
    -------
    list of (int, str, bool)
        The items taken over, to fold.
    """

    def adopt() -> list[tuple[int, str, bool]]:
        now = time.time()
        with engine.connect() as conn:  # a read first: an idle worker asks now and then
            pending = db.folds_of_gone_workers(conn, now - heartbeat_window(settings))
        if not pending:
            return []
        with write_transaction(engine) as conn:
            taken = set(db.adopt_folds(conn, pending, worker_id))
            params = db.job_params(conn, {r.job_id for r in pending})
        return [
            (r.id, r.data_id, bool(params.get(r.job_id, {}).get("normalize")))
            for r in pending
            if r.id in taken
        ]

    return retrying(adopt, what="adopt unfolded items")


def folds_done(engine: Engine, item_ids: list[int]) -> None:
    """Mark the items' fold into the metrics as run (their ``fold_pending`` cleared).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database.
    item_ids : list of int
        The items whose pass has run.
    """

    def done() -> None:
        with write_transaction(engine) as conn:
            db.clear_folds(conn, item_ids)

    retrying(done, what="clear folds")


def fail_item(
    engine: Engine,
    settings: Settings,
    item: ClaimedItem,
    worker_id: str,
    error: str,
    *,
    final: bool = False,
) -> str | None:
    """Record a failed attempt: retry later with backoff, or fail the item for good.

    Parameters
    ----------
    final : bool
        Fail for good now, whatever the attempts left (an error retrying cannot change, such
        as a file that is not FITS or has no celestial WCS).

    Returns
    -------
    str or None
        ``"pending"`` (will be retried) or ``"failed"``; None if the item was no longer leased
        by this worker.
    """

    def fail() -> str | None:
        now = time.time()
        final_now = final or item.attempts >= settings.jobs.max_attempts
        values: dict[str, Any] = {"error": error[:4000], "lease_expires_at": None}
        if final_now:
            values.update(status="failed", finished_at=now)
        else:
            values.update(
                status="pending",
                worker_id=None,
                next_attempt_at=now + backoff_seconds(settings, item.attempts),
            )
        with write_transaction(engine) as conn:
            if not _update_if_held(conn, item, worker_id, **values):
                return None
            refresh_job(conn, item.job_id, now)
            state = "failed" if final_now else "pending"
            set_photometry_status(conn, [item.data_id], state, None, only_job=item.job_id)
            return state

    return retrying(fail, what="fail")


def heartbeat(
    engine: Engine,
    settings: Settings,
    worker_id: str,
    *,
    status: str,
    current_job_id: int | None,
    item_ids: list[int] | None = None,
) -> None:
    """Record the worker's heartbeat and extend the leases of the items it holds.

    Parameters
    ----------
    item_ids : list of int, optional
        Extend only these items' leases (the ones the worker still works on); None extends
        every item it holds. An item the worker gave up on is left out, so its lease runs out
        even if giving it back failed.
    """

    def beat() -> None:
        now = time.time()
        with write_transaction(engine) as conn:
            db.extend_leases(conn, worker_id, now + settings.jobs.lease_seconds, item_ids=item_ids)
            db.update_worker(
                conn, worker_id, heartbeat_at=now, status=status, current_job_id=current_job_id
            )

    retrying(beat, what="heartbeat")


def release_item(
    engine: Engine, settings: Settings, item: ClaimedItem, worker_id: str, reason: str
) -> bool:
    """Give an item back to the queue without charging the attempt (its result was lost).

    Used when a measured item's result cannot be stored (database or disk full): the item is
    measured again later, by any worker, once the database accepts writes.

    Returns
    -------
    bool
        False when the item was no longer held by this worker.
    """

    def release() -> bool:
        now = time.time()
        with write_transaction(engine) as conn:
            if not _update_if_held(
                conn,
                item,
                worker_id,
                status="pending",
                worker_id=None,
                lease_expires_at=None,
                next_attempt_at=now + settings.jobs.retry_backoff_seconds,
                uncharge_attempt=True,
                error=f"result not stored, will be measured again: {reason}"[:4000],
            ):
                return False
            refresh_job(conn, item.job_id, now)
            set_photometry_status(conn, [item.data_id], "pending", None, only_job=item.job_id)
            return True

    return retrying(release, what="release")


def register_worker(engine: Engine, worker_id: str, hostname: str, pid: int) -> None:
    """Create (or reset) the worker's heartbeat row."""
    now = time.time()
    with write_transaction(engine) as conn:
        db.upsert_worker(
            conn,
            {
                "worker_id": worker_id,
                "hostname": hostname,
                "pid": pid,
                "status": "idle",
                "started_at": now,
                "heartbeat_at": now,
                "current_job_id": None,
            },
        )


def unregister_worker(engine: Engine, worker_id: str) -> None:
    """Mark the worker stopped and give back, without counting an attempt, what it still holds."""
    now = time.time()
    with write_transaction(engine) as conn:
        held = db.held_items(conn, worker_id)
        for r in held:
            db.update_item(
                conn,
                r.id,
                uncharge_attempt=True,
                status="pending",
                worker_id=None,
                lease_expires_at=None,
                next_attempt_at=now,
            )
            set_photometry_status(conn, [r.data_id], "pending", None, only_job=r.job_id)
        for j in sorted({r.job_id for r in held}):
            refresh_job(conn, j, now)
        db.update_worker(conn, worker_id, status="stopped", heartbeat_at=now, current_job_id=None)
