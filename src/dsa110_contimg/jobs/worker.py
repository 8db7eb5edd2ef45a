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

``stop()`` makes it stop claiming, finish what is in flight (for at most
``jobs.stop_grace_seconds``), give back uncharged what did not finish and mark itself stopped;
``stop(immediate=True)`` (a second signal) gives the items in flight back at once and kills
the task processes (which ignore SIGINT/SIGTERM themselves, so a signal sent to the whole
process group, as systemd, ``timeout`` and Ctrl-C do, never kills a measurement half-way).
``run(once=True)`` drains the queue (items waiting for a retry and leases of dead workers
included) and returns.

Faults:

* a result that cannot be stored (``database or disk is full``, database unreachable) is
  retried ``jobs.write_retries`` times with backoff; then the item is given back to the queue
  uncharged (its lease is no longer renewed even if giving it back failed), the worker reports
  itself ``degraded`` until a write succeeds again, and a ``--once`` run stops (a later run
  measures those items again; rows are upserted, so every item is stored exactly once);
* an error retrying cannot change (:class:`~dsa110_contimg.errors.InvalidImageError`: not
  FITS, no celestial WCS) fails the item at once with the reason.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings, resolve_settings
from ..database import get_engine, write_transaction
from ..database.errors import STORE_ERRORS, UNREACHABLE_ERRORS
from ..database.products import register_image
from ..errors import ContimgError, JobError
from .queue import (
    ClaimedItem,
    adopt_unfolded,
    claim_items,
    complete_item,
    fail_item,
    folds_done,
    has_claimable_work,
    heartbeat,
    outstanding_items,
    register_worker,
    release_item,
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
    released : int
        Items given back uncharged because their result could not be stored.
    returned : int
        Items given back uncharged because the worker was stopped before they finished.
    degraded : str or None
        Why the worker was degraded when it stopped (None if its last write succeeded).
    """

    completed: int = 0
    failed: int = 0
    retried: int = 0
    discarded: int = 0
    rows: int = 0
    released: int = 0
    returned: int = 0
    degraded: str | None = None
    errors: list[str] = field(default_factory=list)


def _normalization_hook():
    """Return ``variability.pipeline.on_photometry_written_many``, run after rows are stored.

    Normalization is part of this package, never optional: an ImportError here is a broken
    installation (or a bug) and is raised, not turned into "normalization off".
    """
    from ..variability.pipeline import on_photometry_written_many
    from ..variability.pipeline.normalize import prepare_per_image_path

    prepare_per_image_path()  # the first image then costs what the others do
    return on_photometry_written_many


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
    clock : callable, optional
        Monotonic clock (seconds) for the stop grace period; tests inject one.
    sleep : callable, optional
        ``sleep(seconds)`` between result-write retries (default: interruptible by an
        immediate stop); tests inject one.

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
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
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
        self._abort = threading.Event()
        self._clock = clock
        self._sleep = sleep if sleep is not None else self._abort.wait
        self._stop_at: float | None = None
        self._held: set[int] = set()  # items whose lease the heartbeat renews
        self._degraded: str | None = None
        self._once = False
        # (item_id, data_id, normalize) stored and awaiting the hook (their fold_pending set)
        self._finished: list[tuple[int, str, bool]] = []
        self._adopt_after = 0.0  # clock time of the next look for gone workers' folds

    def stop(self, immediate: bool = False) -> None:
        """Ask the worker to stop.

        Parameters
        ----------
        immediate : bool
            Give the items in flight back at once (uncharged) instead of finishing them; a
            second call of ``stop()`` is immediate too.
        """
        if self._stop.is_set() or immediate:
            self._abort.set()
        if self._stop_at is None:
            self._stop_at = self._clock()
        self._stop.set()

    @property
    def degraded(self) -> str | None:
        """Why the worker is degraded (its last result write failed), or None."""
        return self._degraded

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
        run_started = time.time()  # the clock of the candidates' updated_at
        self._once = once
        self._beat_every = max(0.05, min(cfg.heartbeat_seconds, cfg.lease_seconds / 3.0))
        executor = make_executor(
            concurrency=self.concurrency,
            dask_scheduler=self.dask_scheduler,
            in_process=self.in_process,
        )
        self._held.clear()
        register_worker(engine, self.worker_id, socket.gethostname(), os.getpid())
        if self._hook is not None:
            self._refresh_listing()  # what an earlier worker's last pass left queued
            self._fold_adopted(engine)  # what a killed worker stored and did not fold
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
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    if self._step(engine, executor, inflight, stats, once):
                        break
                    failures = 0
                except UNREACHABLE_ERRORS as exc:  # unreachable or full
                    failures += 1
                    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                    self._set_degraded(f"cannot claim work: {reason}")
                    self._report(inflight)
                    log.warning("database error in the worker loop (retrying): %s", reason)
                    if once and failures > cfg.write_retries:
                        log.error(
                            "worker %s: the database keeps failing (%s); stopping the --once run",
                            self.worker_id,
                            reason,
                        )
                        self.stop()
                        break
                    self._abort.wait(min(5.0, 20 * cfg.poll_seconds))
            stop_at = self._stop_at if self._stop_at is not None else self._clock()
            deadline = stop_at + cfg.stop_grace_seconds
            while inflight:  # graceful stop: finish and store what was started, within grace
                if self._abort.is_set() or self._clock() >= deadline:
                    log.warning(
                        "worker %s: giving back %d item(s) in flight uncharged (%s)",
                        self.worker_id,
                        len(inflight),
                        "second stop signal" if self._abort.is_set() else "grace period over",
                    )
                    stats.returned += len(inflight)
                    self._abort.set()
                    break
                wait = max(0.0, min(self._beat_every, deadline - self._clock()))
                for fut in executor.wait(inflight, timeout=wait):
                    self._collect(engine, executor, fut, inflight.pop(fut), stats)
                self._report(inflight)
            self._fold_finished()
        finally:
            beats_done.set()
            beats.join()
            executor.shutdown(kill=self._abort.is_set())
            stats.degraded = self._degraded
            unregister_worker(engine, self.worker_id)
            log.info(
                "worker %s stopped: %d completed, %d failed, %d retried",
                self.worker_id,
                stats.completed,
                stats.failed,
                stats.retried,
            )
            if self._hook is not None and stats.completed:
                self._log_candidates(run_started)
        return stats

    def _log_candidates(self, since: float) -> None:
        """Log the stored score of the ESE candidates this run created or refreshed."""
        from ..variability.pipeline.ese import log_updated_candidates

        try:
            log_updated_candidates(since, settings=self.settings)
        except (ContimgError, *STORE_ERRORS) as exc:  # a report only: never fail the run
            log.warning("ESE candidates of this run not listed: %s", exc)

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
                self._held.add(item.item_id)
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
            if self._hook is not None and self._clock() >= self._adopt_after:
                self._fold_adopted(engine)  # a worker gone meanwhile (killed before its pass)
        if self._finished and not has_claimable_work(engine, job_id=self.job_id):
            self._fold_finished()  # nothing else to wait for
        return False

    def _report(self, inflight: dict[Any, ClaimedItem]) -> None:
        """Set what the heartbeat reports: degraded, running (and which job) or idle."""
        current = next(iter(inflight.values())).job_id if inflight else None
        status = "degraded" if self._degraded else ("running" if inflight else "idle")
        self._state = (status, current)

    def _beat_loop(self, engine, done: threading.Event) -> None:
        """Heartbeat until ``done`` is set (the worker's background thread)."""
        while not done.wait(self._beat_every):
            status, current = self._state
            try:
                heartbeat(
                    engine,
                    self.settings,
                    self.worker_id,
                    status=status,
                    current_job_id=current,
                    item_ids=sorted(self._held),
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
        try:
            self._collect_one(engine, executor, fut, item, stats)
        finally:
            self._held.discard(item.item_id)

    def _write(self, what: str, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """Run a result write, retried with backoff; return ``(ok, value)``."""
        cfg = self.settings.jobs
        for attempt in range(cfg.write_retries + 1):
            try:
                value = fn()
            except STORE_ERRORS as exc:
                orig = getattr(exc, "orig", None) or exc
                reason = str(orig).strip().splitlines()[0] if str(orig).strip() else repr(orig)
                self._set_degraded(f"cannot store results: {reason}")
                self._state = ("degraded", self._state[1])
                log.warning(
                    "worker %s: %s failed (try %d of %d): %s",
                    self.worker_id,
                    what,
                    attempt + 1,
                    cfg.write_retries + 1,
                    reason,
                )
                if attempt < cfg.write_retries and not self._abort.is_set():
                    self._sleep(cfg.write_backoff_seconds * 2.0**attempt)
                continue
            if self._degraded is not None:
                log.info("worker %s: results are stored again; no longer degraded", self.worker_id)
            self._degraded = None
            return True, value
        return False, None

    def _set_degraded(self, reason: str) -> None:
        """Record why the worker is degraded; alert when it becomes so."""
        was = self._degraded
        self._degraded = reason
        if was is None:
            from ..alerts import send_alert

            send_alert("worker_degraded", f"worker {self.worker_id} degraded: {reason}",
                       {"worker_id": self.worker_id, "reason": reason},
                       settings=self.settings)  # fmt: skip

    def _give_back(self, engine, item: ClaimedItem, stats: WorkerStats) -> None:
        """Release an item whose result could not be stored (uncharged)."""
        reason = self._degraded or "the result could not be stored"
        self._held.discard(item.item_id)  # its lease is no longer renewed, whatever happens
        stats.released += 1
        try:
            release_item(engine, self.settings, item, self.worker_id, reason)
            log.error(
                "item %d of job %d given back to the queue (uncharged): %s",
                item.item_id,
                item.job_id,
                reason,
            )
        except Exception as exc:  # noqa: BLE001 - the lease then runs out and it is reclaimed
            log.error(
                "item %d of job %d: result not stored and not given back (%s); its lease will "
                "run out and it will be measured again",
                item.item_id,
                item.job_id,
                exc,
            )

    def _collect_one(self, engine, executor, fut, item: ClaimedItem, stats: WorkerStats) -> None:
        error: str | None = None
        final = False
        result: dict[str, Any] | None = None
        try:
            result = fut.result()
        except ContimgError as exc:
            error = str(exc)
            final = not getattr(exc, "retryable", True)
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
            ok, state = self._write(
                "recording a failure",
                lambda: fail_item(engine, self.settings, item, self.worker_id, error, final=final),
            )
            if not ok:
                self._give_back(engine, item, stats)
                self._stop_if_once()
                return
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
        fold = self._hook is not None
        ok, stored = self._write(
            "storing the result",
            lambda: complete_item(engine, item, self.worker_id, rows, n, fold=fold),
        )
        if not ok:
            self._give_back(engine, item, stats)
            self._stop_if_once()
            return
        if not stored:
            stats.discarded += 1
            log.warning(
                "item %d of job %d no longer leased by this worker; result discarded",
                item.item_id,
                item.job_id,
            )
            return
        stats.completed += 1
        stats.rows += n
        if self._hook is not None:
            self._finished.append((item.item_id, item.data_id, bool(params.get("normalize"))))
            if len(self._finished) >= self.settings.jobs.fold_items:
                self._fold_finished()  # at most fold_items per pass

    def _stop_if_once(self) -> None:
        """Stop a draining (``once``) run when results cannot be stored: nothing to gain."""
        if self._once:
            log.error(
                "worker %s: results cannot be stored; stopping (run again once the database "
                "accepts writes)",
                self.worker_id,
            )
            self.stop()

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

    def _last_candidate_id(self) -> int | None:
        """Newest ESE candidate id (only when alerts are configured)."""
        cfg = self.settings.alerts
        if not (cfg.webhook_url or cfg.smtp_host):
            return None
        from ..database.candidates import newest_candidate_id

        with get_engine(self.settings).connect() as conn:
            return newest_candidate_id(conn)

    def _alert_new_candidates(self, since: int | None, after: str) -> None:
        """Alert on the candidates newer than ``since``; ``after`` names what found them."""
        if since is None:
            return
        from ..alerts import send_alert
        from ..database.candidates import candidates_after

        with get_engine(self.settings).connect() as conn:
            rows = candidates_after(conn, since)
        for r in rows:
            send_alert(
                "ese_candidate",
                f"new ESE candidate {r['catalog']}:{r['source_id']} ({r['series']} series, "
                f"score {r['score']:.1f} at first flagging, preset {r['preset']}) after "
                f"{after}; the stored score follows the light curve ('contimg ese list')",
                {k: r[k] for k in ("id", "catalog", "source_id", "series", "preset", "score",
                                   "max_dip_sigma", "max_dip_depth")},  # fmt: skip
                settings=self.settings,
            )

    def _refresh_listing(self) -> None:
        """Refresh the explorer's copies of the rows the hook wrote (``database.listing``).

        A failure is logged: the queue keeps the sources for the next refresh.
        """
        from ..database.listing import refresh_listing

        try:
            with write_transaction(get_engine(self.settings)) as conn:
                refresh_listing(conn)
        except STORE_ERRORS as exc:
            log.warning("the source list's copies were not refreshed (%s); the next pass will", exc)

    def _fold_adopted(self, engine) -> None:
        """Fold the items that workers now gone stored and did not fold (killed in between).

        At start, then when idle once per heartbeat interval (one indexed read when there is
        nothing to take).
        """
        self._adopt_after = self._clock() + self._beat_every
        try:
            adopted = adopt_unfolded(engine, self.settings, self.worker_id)
        except STORE_ERRORS as exc:
            log.warning("pending folds of earlier workers not looked up (%s)", exc)
            return
        if adopted:
            log.warning(
                "worker %s: folding %d item(s) an earlier worker stored and did not fold",
                self.worker_id,
                len(adopted),
            )
            self._finished.extend(adopted)
            self._fold_finished()

    def _fold_finished(self) -> None:
        """Run the normalization hook over the items finished since the last pass.

        One pass per ``normalize`` option, the items in the order they finished. If a pass
        fails, its items are taken again one at a time, so that one bad image leaves the
        others' metrics and candidates updated (its rows stay stored either way). The items'
        ``fold_pending`` is cleared once their pass has run, whatever its outcome (a failure
        is logged; it is not retried by another worker).
        """
        finished, self._finished = self._finished, []
        engine = get_engine(self.settings)
        for normalize in (True, False):
            ids = [i for i, _, n in finished if n is normalize]
            if not ids:
                continue
            data_ids = list(dict.fromkeys(d for _, d, n in finished if n is normalize))
            if not self._after_rows(data_ids, normalize) and len(data_ids) > 1:
                log.warning("folding %d items again one at a time", len(data_ids))
                for data_id in data_ids:
                    self._after_rows([data_id], normalize)
            self._write("marking folds done", lambda ids=ids: folds_done(engine, ids))

    def _after_rows(self, data_ids: list[str], normalize: bool) -> bool:
        """Run the hook over ``data_ids`` and send the alerts of new candidates; True if done."""
        what = (
            f"image {data_ids[0]}"
            if len(data_ids) == 1
            else f"{len(data_ids)} images ({data_ids[0]} to {data_ids[-1]})"
        )
        try:
            since = self._last_candidate_id()
            self._hook(data_ids, normalize=normalize, settings=self.settings, refresh_listing=False)
            self._alert_new_candidates(since, what)
        except ContimgError as exc:
            log.warning("normalization/metrics after %s: %s", what, exc)
            return False
        except Exception:  # noqa: BLE001 - the rows are stored; a hook bug must not stop the worker
            log.exception("normalization hook failed for %s", what)
            return False
        self._refresh_listing()  # the explorer's copies, once the alerts are out
        return True


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
