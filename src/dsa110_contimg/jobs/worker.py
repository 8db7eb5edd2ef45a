"""The worker: claims items, runs them on an executor, writes their rows, heartbeats.

One :class:`Worker` owns a database engine, an executor (local processes by default, a Dask
cluster when a scheduler address is given) and a row in the ``workers`` table. Its loop:

1. a background thread heartbeats (worker row, and the leases of the items it holds) every
   ``min(heartbeat_seconds, lease_seconds / 3)``, so that a long step of the loop (storing a
   large batch, the normalization hook back-filling many images) never lets a lease run out
   and hands an item still being measured to another worker;
2. collect finished tasks: store the rows and complete the item (one fenced transaction), or
   record the failure (retried with exponential backoff up to ``max_attempts``); then call
   the normalization hook;
3. claim as many items as it has free slots (a cheap read first, so an idle worker takes no
   write lock), reclaiming expired leases on the way;
4. wait up to ``poll_seconds`` for a task to finish or for new work.

``stop()`` makes it stop claiming, finish what is in flight, give back nothing half-done and
mark itself stopped. ``run(once=True)`` drains the queue (items waiting for a retry and
leases of dead workers included) and returns.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import OperationalError

from ..config import Settings, resolve_settings
from ..database import get_engine
from ..database.products import register_image
from ..errors import ContimgError, JobError
from .queue import (
    ClaimedItem,
    claim_items,
    complete_item,
    fail_item,
    has_claimable_work,
    heartbeat,
    outstanding_items,
    register_worker,
    unregister_worker,
)
from .tasks import measure_item

__all__ = ["Worker", "WorkerStats", "run_batch_photometry_job"]

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    """What a worker did.

    Attributes
    ----------
    completed : int
        Items completed.
    failed : int
        Items failed for good.
    retried : int
        Failed attempts queued for a retry.
    discarded : int
        Results dropped because the item was no longer leased by this worker (cancelled,
        or reclaimed after the lease ran out).
    rows : int
        Photometry rows written.
    """

    completed: int = 0
    failed: int = 0
    retried: int = 0
    discarded: int = 0
    rows: int = 0
    errors: list[str] = field(default_factory=list)


def _normalization_hook():
    """Return ``variability.pipeline.on_photometry_written`` when normalization exists."""
    try:
        from ..variability.pipeline import on_photometry_written
    except ImportError:  # normalization not installed in this tree
        return None
    return on_photometry_written


class Worker:
    """A batch-photometry worker.

    Parameters
    ----------
    settings : Settings, optional
        Settings (database, ``jobs`` timings).
    concurrency : int
        Items measured at once (processes, or threads with ``in_process``).
    dask_scheduler : str, optional
        Run the measurements on this Dask scheduler.
    job_id : int, optional
        Work only on this job.
    in_process : bool
        Measure on threads of this process instead of a process pool.

    Examples
    --------
    >>> import tempfile
    >>> from dsa110_contimg.config import Settings
    >>> w = Worker(Settings(state_dir=tempfile.mkdtemp()), in_process=True)
    >>> w.run(once=True).completed
    0
    """

    def __init__(
        self,
        settings: Settings | None = None,
        concurrency: int = 1,
        dask_scheduler: str | None = None,
        *,
        job_id: int | None = None,
        in_process: bool = False,
    ) -> None:
        self.settings = resolve_settings(settings)
        self.concurrency = max(1, int(concurrency))
        self.dask_scheduler = dask_scheduler
        self.job_id = job_id
        self.in_process = in_process
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._params: dict[int, dict[str, Any]] = {}
        self._hook = _normalization_hook()
        self._beat_every = 1.0
        self._state: tuple[str, int | None] = ("idle", None)  # what the heartbeat reports

    def stop(self) -> None:
        """Ask the worker to stop: no new claims; in-flight items are finished and stored."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def run_once(self) -> WorkerStats:
        """Drain the queue and return (``run(once=True)``)."""
        return self.run(once=True)

    def run(self, once: bool = False) -> WorkerStats:
        """Run until stopped (or, with ``once``, until no item is pending or running).

        Parameters
        ----------
        once : bool
            Drain the queue, then return.

        Returns
        -------
        WorkerStats
            Counts of what was done.
        """
        from .executors import make_executor

        cfg = self.settings.jobs
        engine = get_engine(self.settings)
        stats = WorkerStats()
        self._beat_every = max(0.05, min(cfg.heartbeat_seconds, cfg.lease_seconds / 3.0))
        executor = make_executor(
            concurrency=self.concurrency,
            dask_scheduler=self.dask_scheduler,
            in_process=self.in_process,
        )
        register_worker(engine, self.worker_id, socket.gethostname(), os.getpid())
        log.info(
            "worker %s started (concurrency %d%s)",
            self.worker_id,
            self.concurrency,
            f", dask {self.dask_scheduler}" if self.dask_scheduler else "",
        )
        inflight: dict[Any, ClaimedItem] = {}
        beats_done = threading.Event()
        beats = threading.Thread(
            target=self._beat_loop, args=(engine, beats_done), name="heartbeat", daemon=True
        )
        beats.start()
        try:
            while not self._stop.is_set():
                try:
                    if self._step(engine, executor, inflight, stats, once):
                        break
                except OperationalError as exc:  # database briefly unreachable: keep going
                    log.warning("database error in the worker loop (retrying): %s", exc)
                    self._stop.wait(min(5.0, 20 * cfg.poll_seconds))
            while inflight:  # graceful stop: finish and store what was started
                for fut in executor.wait(inflight, timeout=self._beat_every):
                    self._collect(engine, executor, fut, inflight.pop(fut), stats)
                self._report(inflight)
        finally:
            beats_done.set()
            beats.join()
            executor.shutdown()
            unregister_worker(engine, self.worker_id)
            log.info(
                "worker %s stopped: %d completed, %d failed, %d retried",
                self.worker_id,
                stats.completed,
                stats.failed,
                stats.retried,
            )
        return stats

    # ----------------------------------------------------------------------------------------

    def _step(
        self, engine, executor, inflight: dict[Any, ClaimedItem], stats: WorkerStats, once: bool
    ) -> bool:
        """One turn of the loop; return True when ``once`` and the queue is drained."""
        cfg = self.settings.jobs
        for fut in [f for f in inflight if f.done()]:
            self._collect(engine, executor, fut, inflight.pop(fut), stats)
        free = self.concurrency - len(inflight)
        claimed: list[ClaimedItem] = []
        if free > 0 and has_claimable_work(engine, job_id=self.job_id):
            claimed, params = claim_items(
                engine, self.settings, self.worker_id, free, job_id=self.job_id
            )
            self._params.update(params)
            for item in claimed:
                inflight[self._submit(executor, item)] = item
        self._report(inflight)
        if once and not inflight and not claimed:
            if outstanding_items(engine, job_id=self.job_id) == 0:
                return True
        if inflight:
            for fut in executor.wait(inflight, timeout=cfg.poll_seconds):
                self._collect(engine, executor, fut, inflight.pop(fut), stats)
        elif not claimed:
            self._stop.wait(cfg.poll_seconds)
        return False

    def _report(self, inflight: dict[Any, ClaimedItem]) -> None:
        """Set what the heartbeat reports: running (and which job) or idle."""
        current = next(iter(inflight.values())).job_id if inflight else None
        self._state = ("running" if inflight else "idle", current)

    def _beat_loop(self, engine, done: threading.Event) -> None:
        """Heartbeat until ``done`` is set (the worker's background thread)."""
        while not done.wait(self._beat_every):
            status, current = self._state
            try:
                heartbeat(
                    engine, self.settings, self.worker_id, status=status, current_job_id=current
                )
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried on the next one
                log.warning("heartbeat of worker %s failed (will retry): %s", self.worker_id, exc)

    def _submit(self, executor, item: ClaimedItem):
        params = self._params[item.job_id]
        src = params["sources"]
        return executor.submit(
            measure_item,
            item.fits_path,
            src["ra_deg"],
            src["dec_deg"],
            src["source_id"],
            params.get("method", "peak"),
            params.get("options") or {},
        )

    def _collect(self, engine, executor, fut, item: ClaimedItem, stats: WorkerStats) -> None:
        error: str | None = None
        result: dict[str, Any] | None = None
        try:
            result = fut.result()
        except ContimgError as exc:
            error = str(exc)
        except BrokenProcessPool:
            error = "the measuring process died (out of memory or killed?)"
            executor.reset()
        except Exception as exc:  # noqa: BLE001 - any task failure is recorded on its item
            log.exception(
                "item %d of job %d (%s) raised", item.item_id, item.job_id, item.fits_path
            )
            error = f"{type(exc).__name__}: {exc}"
        if error is None and item.data_id is None:
            try:
                item = ClaimedItem(
                    item.item_id,
                    item.job_id,
                    item.fits_path,
                    register_image(item.fits_path, settings=self.settings),
                    item.attempts,
                )
            except ContimgError as exc:
                error = str(exc)
        if error is not None:
            state = fail_item(engine, self.settings, item, self.worker_id, error)
            if state == "failed":
                stats.failed += 1
                stats.errors.append(error)
                log.error("item %d of job %d failed for good: %s", item.item_id, item.job_id, error)
            elif state == "pending":
                stats.retried += 1
                log.warning(
                    "item %d of job %d failed (attempt %d), will retry: %s",
                    item.item_id,
                    item.job_id,
                    item.attempts,
                    error,
                )
            else:
                stats.discarded += 1
            return
        params = self._params[item.job_id]
        rows = self._rows(item, params, result)
        n = len(params["sources"]["ra_deg"])
        if not complete_item(engine, item, self.worker_id, rows, n):
            stats.discarded += 1
            log.warning(
                "item %d of job %d no longer leased by this worker; result discarded",
                item.item_id,
                item.job_id,
            )
            return
        stats.completed += 1
        stats.rows += n
        self._after_rows(item.data_id, bool(params.get("normalize")))

    @staticmethod
    def _rows(item: ClaimedItem, params: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        src = params["sources"]
        rows = {
            "data_id": item.data_id,
            "catalog": src["catalog"],
            "source_id": src["source_id"],
            "ra_deg": src["ra_deg"],
            "dec_deg": src["dec_deg"],
            "catalog_flux_mjy": src["flux_mjy"],
            "mjd": result["mjd"],
            "job_id": item.job_id,
        }
        rows.update(result["columns"])
        return rows

    def _after_rows(self, data_id: str, normalize: bool) -> None:
        if self._hook is None:
            return
        try:
            self._hook(data_id, normalize=normalize, settings=self.settings)
        except ContimgError as exc:
            log.warning("normalization/metrics after %s: %s", data_id, exc)
        except Exception:  # noqa: BLE001 - the rows are stored; a hook bug must not stop the worker
            log.exception("normalization hook failed for %s", data_id)


def run_batch_photometry_job(
    job_id: int, *, concurrency: int = 1, settings: Settings | None = None
) -> WorkerStats:
    """Run one job to completion in this process (retries included).

    Parameters
    ----------
    job_id : int
        The job.
    concurrency : int
        Images measured at once (threads).
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    WorkerStats
        Counts of what was done.

    Raises
    ------
    NotFoundError
        No such job.
    JobError
        The job was cancelled.
    """
    from .records import get_job

    settings = resolve_settings(settings)
    job = get_job(job_id, settings=settings)
    if job.status == "cancelled":
        raise JobError(f"batch job {job_id} was cancelled")
    worker = Worker(settings, concurrency=concurrency, job_id=job_id, in_process=True)
    return worker.run(once=True)
