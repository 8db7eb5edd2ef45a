"""The worker under faults: a full database, stop signals, errors that cannot change, lost
workers. Real processes and a real SQLite database made full with ``PRAGMA max_page_count``;
no sleeps against timeouts (states are polled with generous bounds).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, func, insert, select, update

from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.database.tables.products import batch_job_items, photometry, workers
from dsa110_contimg.jobs import (
    Worker,
    alive_workers,
    create_batch_photometry_job,
    get_job,
    job_items,
)
from dsa110_contimg.jobs.queue import claim_items, heartbeat
from tests.polling import poll as _poll

from .conftest import make_field

REPO = Path(__file__).parents[2]
BOUND = 180.0
HEADROOM = 80  # pages: a claim or a release fits (the job row, ~58 pages, is rewritten), the
# 3000 photometry rows of new positions of one image do not (~113 pages in the compact layout
# of migration 0009, ~250 in the old one)


def _many_positions(field, n=3000, seed=3):
    """The field's sources plus ``n`` random positions on the image (rows need new pages)."""
    rng = np.random.default_rng(seed)
    ra0, dec0 = field.coords[0]
    extra = [(ra0 + dx, dec0 + dy) for dx, dy in rng.uniform(-0.15, 0.15, size=(n, 2))]
    return field.coords + extra


class DiskFull:
    """Make the SQLite database refuse to grow (a genuine 'database or disk is full')."""

    def __init__(self, engine):
        self.engine = engine
        self.full = False
        self.headroom = 0
        self.cap: int | None = None

        @event.listens_for(engine, "connect")
        def _cap(dbapi_conn, _rec):  # noqa: ANN001
            if self.full:
                cur = dbapi_conn.cursor()
                if self.cap is None:  # the file's size when the cap was set, plus headroom
                    (pages,) = cur.execute("PRAGMA page_count").fetchone()
                    self.cap = pages + self.headroom
                cur.execute(f"PRAGMA max_page_count = {self.cap}")
                cur.close()

    def set(self, full: bool, headroom: int = 0) -> None:
        """Cap the file at its size plus ``headroom`` pages (claims fit, results do not).

        The cap is fixed when set: a connection opened later (the worker's pool) does not
        move it up by the pages written since.
        """
        self.full, self.headroom, self.cap = full, headroom, None
        self.engine.dispose()  # new connections get (or lose) the cap


@pytest.fixture
def qsettings(settings):
    settings.jobs.retry_backoff_seconds = 0.02
    settings.jobs.poll_seconds = 0.02
    settings.jobs.write_backoff_seconds = 0.0
    settings.jobs.write_retries = 2
    return settings


def _count_rows(settings):
    with get_engine(settings).connect() as conn:
        total = conn.execute(select(func.count()).select_from(photometry)).scalar_one()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(photometry.c.data_id, photometry.c.source_id).distinct().subquery()
            )
        ).scalar_one()
    return total, distinct


def test_disk_full_releases_items_and_once_exits_then_all_complete_exactly_once(
    qsettings, tmp_path
):
    field = make_field(tmp_path / "images", 3)
    coords = _many_positions(field)
    job_id = create_batch_photometry_job(field.paths, coords, settings=qsettings)
    disk = DiskFull(get_engine(qsettings))
    disk.set(True, headroom=0)  # not even a claim can be written
    stats = Worker(qsettings, in_process=True).run(once=True)  # returns: --once exits
    assert stats.completed == 0 and "database or disk is full" in stats.degraded
    assert all(i.status == "pending" for i in job_items(job_id, settings=qsettings))
    disk.set(True, headroom=HEADROOM)  # claims fit, results do not
    stats = Worker(qsettings, in_process=True).run(once=True)
    assert stats.completed == 0 and stats.released >= 1
    assert "database or disk is full" in stats.degraded
    items = job_items(job_id, settings=qsettings)
    assert all(i.status == "pending" for i in items), [i.status for i in items]
    assert all(i.attempts == 0 for i in items)  # uncharged
    assert any("result not stored" in (i.error or "") for i in items)
    disk.set(False)  # space returns
    stats = Worker(qsettings, in_process=True).run(once=True)
    assert (stats.completed, stats.failed, stats.degraded) == (3, 0, None)
    items = job_items(job_id, settings=qsettings)
    assert [(i.status, i.attempts) for i in items] == [("completed", 1)] * 3
    assert get_job(job_id, settings=qsettings).status == "completed"
    assert _count_rows(qsettings) == (3 * len(coords), 3 * len(coords))


def test_running_worker_reports_degraded_and_recovers(qsettings, tmp_path):
    field = make_field(tmp_path / "images", 2)
    coords = _many_positions(field)
    qsettings.jobs.heartbeat_seconds = 0.05
    job_id = create_batch_photometry_job(field.paths, coords, settings=qsettings)
    disk = DiskFull(get_engine(qsettings))
    disk.set(True, headroom=HEADROOM)
    w = Worker(qsettings, in_process=True)
    t = threading.Thread(target=w.run, daemon=True)
    t.start()
    try:

        def worker_status():
            with get_engine(qsettings).connect() as conn:
                return conn.execute(
                    select(workers.c.status).where(workers.c.worker_id == w.worker_id)
                ).scalar_one_or_none()

        _poll(lambda: worker_status() == "degraded", "worker row says degraded")
        _poll(
            lambda: any(
                "result not stored" in (i.error or "")
                for i in job_items(job_id, settings=qsettings)
            ),
            "an item given back",
        )
        assert get_job(job_id, settings=qsettings).completed_items == 0
        disk.set(False)
        _poll(lambda: get_job(job_id, settings=qsettings).status == "completed", "job completed")
        _poll(lambda: worker_status() in ("idle", "running"), "worker no longer degraded")
    finally:
        w.stop()
        t.join(BOUND)
    assert not t.is_alive()
    assert all(i.attempts == 1 for i in job_items(job_id, settings=qsettings))
    assert _count_rows(qsettings) == (2 * len(coords), 2 * len(coords))


def test_heartbeat_renews_only_the_items_still_worked_on(qsettings, tmp_path):
    field = make_field(tmp_path / "images", 2)
    job_id = create_batch_photometry_job(field.paths, field.coords, settings=qsettings)
    engine = get_engine(qsettings)
    claimed, _ = claim_items(engine, qsettings, "w1", 2)
    assert len(claimed) == 2
    with write_transaction(engine) as conn:
        conn.execute(update(batch_job_items).values(lease_expires_at=0.0))
    heartbeat(
        engine,
        qsettings,
        "w1",
        status="running",
        current_job_id=job_id,
        item_ids=[claimed[0].item_id],
    )
    leases = {i.item_id: i.lease_expires_at for i in job_items(job_id, settings=qsettings)}
    assert leases[claimed[0].item_id] > 0 and leases[claimed[1].item_id] == 0.0


def test_workers_whose_heartbeat_expired_are_marked_lost(qsettings):
    engine = get_engine(qsettings)
    now = time.time()
    old = now - 100 * qsettings.jobs.lease_seconds  # injected: long expired
    with write_transaction(engine) as conn:
        for wid, beat, status in (
            ("dead", old, "running"),
            ("live", now, "idle"),
            ("gone", old, "stopped"),
        ):
            conn.execute(
                insert(workers).values(
                    worker_id=wid,
                    hostname="h",
                    pid=1,
                    status=status,
                    started_at=beat,
                    heartbeat_at=beat,
                )
            )
    claim_items(engine, qsettings, "someone", 1)
    with engine.connect() as conn:
        states = dict(conn.execute(select(workers.c.worker_id, workers.c.status)).all())
    assert states == {"dead": "lost", "live": "idle", "gone": "stopped"}
    assert [w.worker_id for w in alive_workers(settings=qsettings)] == ["live"]


def test_errors_that_cannot_change_fail_at_once_with_the_reason(qsettings, tmp_path):
    field = make_field(tmp_path / "images", 1)
    notfits = tmp_path / "notfits.fits"
    notfits.write_text("hello\n" * 100)
    job_id = create_batch_photometry_job(
        [notfits, field.paths[0]], field.coords, settings=qsettings
    )
    stats = Worker(qsettings, in_process=True).run(once=True)
    assert (stats.completed, stats.failed, stats.retried) == (1, 1, 0)
    bad = job_items(job_id, settings=qsettings)[0]
    assert (bad.status, bad.attempts) == ("failed", 1)
    assert "not a readable FITS file" in bad.error


# -- signals, with real processes ------------------------------------------------------------


def _start_gated_worker(settings, tmp_path, config=None):
    gate = tmp_path / "gate.fifo"
    os.mkfifo(gate)
    log = tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}
    env.update(
        CONTIMG_TEST_GATE=str(gate),
        COLUMNS="200",
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]),
    )
    args = [sys.executable, "-m", "tests.jobs.gate", "--database-url", settings.database_url]
    if config is not None:
        args += ["--config", str(config)]
    args += ["worker", "--concurrency", "1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, gate, log


def _writer_when_task_waits(gate: Path) -> int:
    """Open the gate for writing once the task has opened it for reading (it is in flight)."""

    def try_open():
        try:
            return os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            return None

    return _poll(try_open, "the task is in flight, waiting at the gate")


def _no_reader(gate: Path) -> bool:
    try:
        os.close(os.open(gate, os.O_WRONLY | os.O_NONBLOCK))
        return False
    except OSError as exc:
        return exc.errno == errno.ENXIO


def _log_has(log: Path, text: str):
    return lambda: text in log.read_text(errors="replace")


def _wait_exit(proc) -> int:
    try:
        return proc.wait(BOUND)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def _one_item_job(settings, tmp_path):
    field = make_field(tmp_path / "images", 1)
    job_id = create_batch_photometry_job(field.paths, field.coords, settings=settings)
    return job_id, len(field.coords)


def test_first_signal_finishes_items_in_flight(qsettings, tmp_path):
    job_id, n = _one_item_job(qsettings, tmp_path)
    proc, gate, log = _start_gated_worker(qsettings, tmp_path)
    try:
        fd = _writer_when_task_waits(gate)
        os.killpg(proc.pid, signal.SIGTERM)  # the whole group, as systemd and Ctrl-C do
        _poll(_log_has(log, "finishing items in flight"), "the worker saw the signal")
        assert proc.poll() is None  # still finishing
        os.close(fd)  # open the gate: the task (still alive: it ignored SIGTERM) measures
        assert _wait_exit(proc) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    (item,) = job_items(job_id, settings=qsettings)
    assert (item.status, item.attempts, item.rows_written) == ("completed", 1, n)
    assert "died" not in (item.error or "")


@pytest.mark.parametrize("how", ["second signal", "grace period 0"])
def test_stop_returns_items_in_flight_uncharged(qsettings, tmp_path, how):
    job_id, _ = _one_item_job(qsettings, tmp_path)
    cfg = None
    if how == "grace period 0":
        cfg = tmp_path / "c.toml"
        cfg.write_text("[jobs]\nstop_grace_seconds = 0\n")
    proc, gate, log = _start_gated_worker(qsettings, tmp_path, cfg)
    try:
        fd = _writer_when_task_waits(gate)
        os.killpg(proc.pid, signal.SIGINT)
        if how == "second signal":
            _poll(_log_has(log, "finishing items in flight"), "the worker saw the signal")
            os.killpg(proc.pid, signal.SIGTERM)
        assert _wait_exit(proc) == 0, log.read_text()
        _poll(lambda: _no_reader(gate), "no task process left reading the gate (no orphan)")
        os.close(fd)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    (item,) = job_items(job_id, settings=qsettings)
    assert (item.status, item.attempts) == ("pending", 0), log.read_text()
    assert "given back" in log.read_text()
