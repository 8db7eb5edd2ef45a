import threading
import time

import numpy as np
import pytest
from sqlalchemy import func, select

from dsa110_contimg.database import get_data, get_engine
from dsa110_contimg.database.tables.products import batch_job_items, photometry
from dsa110_contimg.errors import JobError
from dsa110_contimg.jobs import (
    Worker,
    alive_workers,
    cancel_job,
    create_batch_photometry_job,
    get_job,
    job_items,
    retry_job,
    run_batch_photometry_job,
)
from dsa110_contimg.jobs.queue import claim_items
from dsa110_contimg.simulation import make_fits_image

from .conftest import make_field, recovered


def _rows(settings, data_id=None):
    stmt = select(photometry)
    if data_id is not None:
        stmt = stmt.where(photometry.c.data_id == data_id)
    with get_engine(settings).connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def _assert_registry_follows_items(settings, job_id):
    for item in job_items(job_id, settings=settings):
        if item.data_id is not None:
            rec = get_data(item.data_id, settings=settings)
            assert (rec.photometry_status, rec.photometry_job_id) == (item.status, job_id)


def test_job_runs_to_completion_and_recovers_injected_fluxes(jsettings, field):
    job_id = create_batch_photometry_job(field.paths, field.coords, settings=jsettings)
    stats = run_batch_photometry_job(job_id, settings=jsettings)
    assert (stats.completed, stats.failed) == (3, 0)
    job = get_job(job_id, settings=jsettings)
    assert (job.status, job.completed_items, job.failed_items) == ("completed", 3, 0)
    assert job.started_at <= job.finished_at
    _assert_registry_follows_items(jsettings, job_id)
    n = len(field.truth)
    for item in job_items(job_id, settings=jsettings):
        assert item.rows_written == n and item.attempts == 1
        rows = _rows(jsettings, item.data_id)
        assert len(rows) == n
        assert {r["catalog"] for r in rows} == {"position"}
        assert all(r["job_id"] == job_id and r["mjd"] > 61040 for r in rows)
        # 12 sources at SNR 20-200: all within 5 sigma (false-alarm probability ~1e-5)
        assert np.all(np.abs(recovered(rows, field.truth)) < 5)
    # running the same measurements again never duplicates a row
    again = create_batch_photometry_job(field.paths, field.coords, settings=jsettings)
    run_batch_photometry_job(again, settings=jsettings)
    assert len(_rows(jsettings)) == 3 * n
    assert {r["job_id"] for r in _rows(jsettings)} == {again}


def test_bad_image_fails_its_item_and_the_job_ends_partial(jsettings, field, tmp_path):
    unreadable = tmp_path / "unreadable.fits"
    unreadable.write_bytes(b"\0" * 100)
    no_wcs = tmp_path / "no_wcs.fits"
    from astropy.io import fits

    fits.PrimaryHDU(np.zeros((16, 16), dtype=np.float32)).writeto(no_wcs)
    paths = [field.paths[0], unreadable, no_wcs, field.paths[1]]
    job_id = create_batch_photometry_job(paths, field.coords, settings=jsettings)
    stats = run_batch_photometry_job(job_id, settings=jsettings)
    assert (stats.completed, stats.failed) == (2, 2)
    job = get_job(job_id, settings=jsettings)
    assert (job.status, job.completed_items, job.failed_items) == ("partial", 2, 2)
    assert job.error == "2 of 4 items failed"
    items = job_items(job_id, settings=jsettings)
    assert [i.status for i in items] == ["completed", "failed", "failed", "completed"]
    assert "unreadable.fits" in items[1].error and "no_wcs.fits" in items[2].error
    assert items[1].attempts == 1 and items[2].attempts == 1  # not retried: cannot change
    _assert_registry_follows_items(jsettings, job_id)
    assert len(_rows(jsettings)) == 2 * len(field.truth)


def test_failed_attempt_is_retried_after_backoff(jsettings, field, tmp_path):
    late = tmp_path / "late.fits"  # does not exist yet when the job is created
    job_id = create_batch_photometry_job([late], field.coords, settings=jsettings)
    jsettings.jobs.retry_backoff_seconds = 1.0
    worker = Worker(jsettings, in_process=True)
    thread = threading.Thread(target=worker.run, kwargs={"once": True})
    thread.start()
    deadline = time.time() + 30
    while job_items(job_id, settings=jsettings)[0].attempts < 1 and time.time() < deadline:
        time.sleep(0.02)
    item = job_items(job_id, settings=jsettings)[0]
    assert item.status in ("pending", "running") and item.next_attempt_at > time.time() - 1
    make_fits_image(late, shape=(128, 128), sources=field.truth, noise_jy=1e-3, seed=9)
    thread.join(60)
    item = job_items(job_id, settings=jsettings)[0]
    assert (item.status, item.attempts) == ("completed", 2)
    assert get_job(job_id, settings=jsettings).status == "completed"
    assert get_data(item.data_id, settings=jsettings).photometry_status == "completed"


def test_two_workers_never_measure_an_item_twice(jsettings, tmp_path):
    f = make_field(tmp_path / "many", 10, n_sources=5, shape=(96, 96))
    job_id = create_batch_photometry_job(f.paths, f.coords, settings=jsettings)
    workers = [Worker(jsettings, concurrency=2, in_process=True) for _ in range(2)]
    results = [None, None]

    def go(k):
        results[k] = workers[k].run(once=True)

    threads = [threading.Thread(target=go, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(r.completed for r in results) == 10
    assert sum(r.discarded for r in results) == 0
    items = job_items(job_id, settings=jsettings)
    assert all(i.status == "completed" and i.attempts == 1 for i in items)
    assert len(_rows(jsettings)) == 10 * 5
    _assert_registry_follows_items(jsettings, job_id)


def test_item_of_a_dead_worker_is_reclaimed_after_its_lease(jsettings, field):
    jsettings.jobs.lease_seconds = 0.5
    job_id = create_batch_photometry_job(field.paths[:2], field.coords, settings=jsettings)
    engine = get_engine(jsettings)
    claimed, _ = claim_items(engine, jsettings, "dead-worker", 1)  # then it "dies"
    assert len(claimed) == 1
    assert get_data(claimed[0].data_id, settings=jsettings).photometry_status == "running"
    stats = Worker(jsettings, in_process=True).run(once=True)  # waits for the lease, reclaims
    assert stats.completed == 2
    items = {i.item_id: i for i in job_items(job_id, settings=jsettings)}
    lost = items[claimed[0].item_id]
    assert (lost.status, lost.attempts) == ("completed", 2)
    assert get_job(job_id, settings=jsettings).status == "completed"
    _assert_registry_follows_items(jsettings, job_id)


def test_a_long_normalization_hook_does_not_let_leases_run_out(jsettings, field):
    # The heartbeat runs beside the loop: while the hook after one item takes 4 leases, the
    # other item (measured meanwhile) stays leased, and a second worker never takes it over.
    # A lease far longer than the heartbeat interval, so a loaded machine's late beat is no
    # reason for a lease to run out; the hook lasts until the other item's lease was renewed
    # past three leases from the start (an observed state, not a sleep).
    jsettings.jobs.lease_seconds = 2.0
    jsettings.jobs.heartbeat_seconds = 0.05
    job_id = create_batch_photometry_job(field.paths[:2], field.coords, settings=jsettings)
    first = Worker(jsettings, concurrency=2, in_process=True)
    hook, calls = first._hook, []

    def slow_hook(data_ids, **kwargs):
        calls.append(data_ids)
        if len(calls) == 1:
            start = time.time()
            target = start + 3 * jsettings.jobs.lease_seconds
            end = time.monotonic() + 120
            while time.monotonic() < end:
                leases = [
                    i.lease_expires_at or 0.0
                    for i in job_items(job_id, settings=jsettings)
                    if i.status == "running"
                ]
                if not leases or max(leases) >= target:
                    break
                time.sleep(0.02)
        if hook is not None:
            hook(data_ids, **kwargs)

    first._hook = slow_hook
    results = {}
    t1 = threading.Thread(target=lambda: results.update(first=first.run(once=True)))
    t1.start()
    deadline = time.time() + 60
    while not calls and time.time() < deadline:  # the first item is done, its hook sleeping
        time.sleep(0.01)
    assert calls
    second = Worker(jsettings, in_process=True)
    t2 = threading.Thread(target=lambda: results.update(second=second.run(once=True)))
    t2.start()
    t1.join(60)
    t2.join(60)
    assert (results["first"].completed, results["first"].discarded) == (2, 0)
    assert results["second"].completed == 0
    items = job_items(job_id, settings=jsettings)
    assert [(i.status, i.attempts) for i in items] == [("completed", 1)] * 2
    assert get_job(job_id, settings=jsettings).status == "completed"
    _assert_registry_follows_items(jsettings, job_id)


def test_cancel_and_retry(jsettings, field):
    job_id = create_batch_photometry_job(field.paths, field.coords, settings=jsettings)
    job = cancel_job(job_id, settings=jsettings)
    assert job.status == "cancelled"
    assert {i.status for i in job_items(job_id, settings=jsettings)} == {"cancelled"}
    _assert_registry_follows_items(jsettings, job_id)
    with pytest.raises(JobError, match="cancelled"):
        run_batch_photometry_job(job_id, settings=jsettings)
    assert Worker(jsettings, in_process=True).run(once=True).completed == 0
    with pytest.raises(JobError, match="only pending or running"):
        cancel_job(job_id, settings=jsettings)
    assert retry_job(job_id, settings=jsettings).status == "pending"
    run_batch_photometry_job(job_id, settings=jsettings)
    assert get_job(job_id, settings=jsettings).status == "completed"
    _assert_registry_follows_items(jsettings, job_id)
    with pytest.raises(JobError, match="nothing|no failed"):
        retry_job(job_id, settings=jsettings)


def test_idle_worker_heartbeats_and_picks_up_new_work(jsettings, field):
    worker = Worker(jsettings, in_process=True)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        deadline = time.time() + 20
        while not alive_workers(settings=jsettings) and time.time() < deadline:
            time.sleep(0.02)
        assert [w.worker_id for w in alive_workers(settings=jsettings)] == [worker.worker_id]
        job_id = create_batch_photometry_job(field.paths[:1], field.coords, settings=jsettings)
        while get_job(job_id, settings=jsettings).status != "completed" and time.time() < deadline:
            time.sleep(0.02)
        assert get_job(job_id, settings=jsettings).status == "completed"
    finally:
        worker.stop()
        thread.join(30)
    assert alive_workers(settings=jsettings) == []


def test_process_pool_worker_with_normalization_requested(settings, field):
    # the executor does not depend on the database: SQLite only (process start-up is slow)
    jsettings = settings
    job_id = create_batch_photometry_job(
        field.paths, field.coords, normalize=True, settings=jsettings
    )
    stats = Worker(jsettings, concurrency=2).run(once=True)
    assert stats.completed == 3
    assert get_job(job_id, settings=jsettings).status == "completed"
    with get_engine(jsettings).connect() as conn:
        assert conn.execute(select(func.count()).select_from(batch_job_items)).scalar_one() == 3
    assert len(_rows(jsettings)) == 3 * len(field.truth)


@pytest.mark.slow
def test_a_task_process_killed_mid_job_costs_one_attempt_not_the_worker(settings, tmp_path):
    """The OOM-killer case: the worker replaces its broken pool and the items are retried."""
    import multiprocessing
    import os
    import signal

    settings.jobs.retry_backoff_seconds = 0.02
    f = make_field(tmp_path / "oom", 8, n_sources=400, shape=(512, 512))
    job_id = create_batch_photometry_job(f.paths, f.coords, settings=settings)
    worker = Worker(settings, concurrency=1)
    thread = threading.Thread(target=worker.run, kwargs={"once": True})
    thread.start()
    deadline = time.time() + 120
    while get_job(job_id, settings=settings).completed_items < 2 and time.time() < deadline:
        time.sleep(0.01)
    for child in multiprocessing.active_children():  # the worker's task processes
        os.kill(child.pid, signal.SIGKILL)
    thread.join(180)
    job = get_job(job_id, settings=settings)
    assert (job.status, job.completed_items) == ("completed", 8)
    assert len(_rows(settings)) == 8 * 400
    _assert_registry_follows_items(settings, job_id)


def _pending_folds(settings) -> list[tuple[str, int]]:
    with get_engine(settings).connect() as conn:
        rows = conn.execute(
            select(batch_job_items.c.data_id, batch_job_items.c.fold_pending).order_by(
                batch_job_items.c.id
            )
        ).all()
    return [tuple(r) for r in rows]


def _normalized(settings) -> int:
    with get_engine(settings).connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM image_normalization").scalar()


def _spy(worker, fail_batches: bool = False) -> list[list[str]]:
    """Record the worker's hook calls (the real hook still runs); optionally fail batches."""
    hook, calls = worker._hook, []

    def spy(data_ids, **kwargs):
        calls.append(list(data_ids))
        if fail_batches and len(data_ids) > 1:
            raise RuntimeError("a bug in the batch path")
        hook(data_ids, **kwargs)

    worker._hook = spy
    return calls


@pytest.mark.parametrize("fold_items, expected", [(16, [3]), (2, [2, 1]), (1, [1, 1, 1])])
def test_a_backlog_is_folded_in_passes_of_fold_items(jsettings, field, fold_items, expected):
    # one worker, one item at a time: while further items wait to be claimed, the finished
    # ones wait for one pass (at most fold_items); the last pass runs when the queue is empty.
    # The worker waits for its item however long it takes (a loaded machine's item finishing
    # after a short poll would otherwise be folded with the next step's)
    jsettings.jobs.fold_items = fold_items
    jsettings.jobs.poll_seconds = 600.0
    job_id = create_batch_photometry_job(field.paths, field.coords, normalize=True,
                                         settings=jsettings)  # fmt: skip
    w = Worker(jsettings, in_process=True, job_id=job_id)
    calls = _spy(w)
    assert w.run(once=True).completed == 3
    assert [len(c) for c in calls] == expected
    done = [i.data_id for i in job_items(job_id, settings=jsettings)]
    assert sorted(d for c in calls for d in c) == sorted(done)
    assert _normalized(jsettings) == 3  # each image went through the hook once


def test_a_failing_pass_is_run_again_one_item_at_a_time(jsettings, field):
    jsettings.jobs.poll_seconds = 600.0  # the worker waits for its item (as above)
    job_id = create_batch_photometry_job(field.paths, field.coords, normalize=True,
                                         settings=jsettings)  # fmt: skip
    w = Worker(jsettings, in_process=True, job_id=job_id)
    calls = _spy(w, fail_batches=True)
    assert w.run(once=True).completed == 3
    assert [len(c) for c in calls] == [3, 1, 1, 1]
    assert _normalized(jsettings) == 3


def _killed_before_its_pass(jsettings, field) -> tuple[Worker, int]:
    """A worker that stored a job's three items and was killed before their pass."""
    jsettings.jobs.poll_seconds = 600.0  # the worker waits for its item (as above)
    job_id = create_batch_photometry_job(field.paths, field.coords, normalize=True,
                                         settings=jsettings)  # fmt: skip
    first = Worker(jsettings, in_process=True, job_id=job_id)
    first._fold_finished = lambda: None  # killed between storing its items and their pass
    assert first.run(once=True).completed == 3
    assert [p for _, p in _pending_folds(jsettings)] == [1, 1, 1]
    assert _normalized(jsettings) == 0
    return first, job_id


def _last_heard(settings, worker: Worker, age: float) -> None:
    """The worker's row as a kill leaves it: running, its last heartbeat ``age`` s ago."""
    from dsa110_contimg.database.tables.products import workers

    with get_engine(settings).begin() as conn:
        conn.execute(workers.update().where(workers.c.worker_id == worker.worker_id)
                     .values(status="running", heartbeat_at=time.time() - age))  # fmt: skip


def test_items_a_killed_worker_stored_and_did_not_fold_are_folded_by_the_next(jsettings, field):
    from dsa110_contimg.jobs.queue import heartbeat_window

    first, job_id = _killed_before_its_pass(jsettings, field)
    _last_heard(jsettings, first, 0.0)  # still beating: its pending folds are its own
    nxt = Worker(jsettings, in_process=True)
    calls = _spy(nxt)
    nxt.run(once=True)
    assert calls == [] and [p for _, p in _pending_folds(jsettings)] == [1, 1, 1]

    _last_heard(jsettings, first, 2 * heartbeat_window(jsettings))  # silent: gone
    nxt = Worker(jsettings, in_process=True)
    calls = _spy(nxt)
    nxt.run(once=True)
    finished = [i.data_id for i in sorted(job_items(job_id, settings=jsettings),
                                           key=lambda i: (i.finished_at, i.item_id))]  # fmt: skip
    assert calls == [finished]  # one pass, in the order the items finished
    assert [p for _, p in _pending_folds(jsettings)] == [0, 0, 0]
    assert _normalized(jsettings) == 3
    nxt = Worker(jsettings, in_process=True)  # nothing left for a third
    calls = _spy(nxt)
    nxt.run(once=True)
    assert calls == []


def test_an_idle_worker_folds_what_a_worker_gone_meanwhile_left(jsettings, field):
    from dsa110_contimg.jobs.queue import heartbeat_window

    first, job_id = _killed_before_its_pass(jsettings, field)
    _last_heard(jsettings, first, 0.0)  # still beating when the second starts: nothing to take
    jsettings.jobs.poll_seconds = 0.02
    jsettings.jobs.heartbeat_seconds = 0.05
    second = Worker(jsettings, in_process=True)
    calls = _spy(second)
    thread = threading.Thread(target=second.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 120  # a bound for a loaded machine, not a timing assertion
        while second._adopt_after == 0.0 and time.time() < deadline:
            time.sleep(0.01)  # until the second worker has looked once (at its start)
        assert calls == []
        _last_heard(jsettings, first, 2 * heartbeat_window(jsettings))  # now silent: gone
        while any(p for _, p in _pending_folds(jsettings)) and time.time() < deadline:
            time.sleep(0.02)
    finally:
        second.stop()
        thread.join(60)
    assert [p for _, p in _pending_folds(jsettings)] == [0, 0, 0]
    assert len(calls) == 1 and sorted(calls[0]) == sorted(i.data_id for i in job_items(
        job_id, settings=jsettings))  # fmt: skip
    assert _normalized(jsettings) == 3


def test_a_worker_clears_the_folds_it_ran(jsettings, field):
    job_id = create_batch_photometry_job(field.paths, field.coords, normalize=True,
                                         settings=jsettings)  # fmt: skip
    assert Worker(jsettings, in_process=True, job_id=job_id).run(once=True).completed == 3
    assert [p for _, p in _pending_folds(jsettings)] == [0, 0, 0]
    assert _normalized(jsettings) == 3
