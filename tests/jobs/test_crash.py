"""Kill a real ``contimg worker`` process with SIGKILL at several moments, restart it: every
item ends measured exactly once and the registry agrees with the jobs."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dsa110_contimg.database import get_data, get_engine
from dsa110_contimg.database.tables.products import batch_job_items, photometry
from dsa110_contimg.jobs import create_batch_photometry_job, get_job, job_items

from .conftest import make_field

CONTIMG = str(Path(sys.executable).with_name("contimg"))


def _env(settings):
    env = dict(os.environ)
    env.update(
        CONTIMG_DATABASE_URL=str(settings.database_url),
        CONTIMG_STATE_DIR=str(settings.state_dir),
        CONTIMG_JOB_LEASE_SECONDS="1",
        CONTIMG_JOBS__MAX_ATTEMPTS="50",  # every kill costs the items in flight an attempt
        CONTIMG_JOBS__POLL_SECONDS="0.02",
        CONTIMG_JOBS__RETRY_BACKOFF_SECONDS="0.05",
    )
    env.pop("CONTIMG_CONFIG", None)
    return env


def _processes_with(env_entry: str) -> list[int]:
    """Processes (other than this one) whose environment holds ``env_entry``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if env_entry.encode() in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _completed(settings) -> int:
    with get_engine(settings).connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(batch_job_items)
            .where(batch_job_items.c.status == "completed")
        ).scalar_one()


@pytest.mark.slow
def test_sigkilled_worker_restarts_and_measures_every_item_exactly_once(db_settings, tmp_path):
    n_images, n_sources = 16, 30
    f = make_field(tmp_path / "imgs", n_images, n_sources=n_sources, shape=(96, 96))
    job_id = create_batch_photometry_job(f.paths, f.coords, settings=db_settings)
    env = _env(db_settings)
    cmd = [CONTIMG, "worker", "--concurrency", "2"]
    with open(tmp_path / "worker.log", "ab") as log:
        # kill at several moments: before anything finished, early, mid-way
        for target, extra_delay in ((0, 0.0), (3, 0.01), (8, 0.05)):
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
            deadline = time.time() + 120
            while (
                _completed(db_settings) < target + (1 if target else 0) and time.time() < deadline
            ):
                if proc.poll() is not None:
                    pytest.fail(
                        f"worker exited early with {proc.returncode}: see {tmp_path / 'worker.log'}"
                    )
                time.sleep(0.005)
            if target == 0:
                time.sleep(2.0)  # mid-start-up / first claims
            time.sleep(extra_delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        gone = time.monotonic() + 120  # the killed workers' task processes notice and exit
        while _processes_with(f"CONTIMG_STATE_DIR={db_settings.state_dir}") and (
            time.monotonic() < gone
        ):
            time.sleep(0.1)
        assert _processes_with(f"CONTIMG_STATE_DIR={db_settings.state_dir}") == []
        assert _completed(db_settings) < n_images, "the kills came too late to test anything"
        # two workers drain the rest side by side (claims never overlap)
        drains = [
            subprocess.Popen(cmd + ["--once"], env=env, stdout=log, stderr=log) for _ in range(2)
        ]
        codes = [p.wait(300) for p in drains]
        assert codes == [0, 0], (tmp_path / "worker.log").read_text()[-3000:]

    job = get_job(job_id, settings=db_settings)
    assert (job.status, job.completed_items, job.failed_items) == ("completed", n_images, 0)
    items = job_items(job_id, settings=db_settings)
    assert all(i.status == "completed" and i.rows_written == n_sources for i in items)
    assert max(i.attempts for i in items) >= 2  # some items were lost with a killed worker
    with get_engine(db_settings).connect() as conn:
        total = conn.execute(select(func.count()).select_from(photometry)).scalar_one()
        per_image = conn.execute(
            select(photometry.c.data_id, func.count()).group_by(photometry.c.data_id)
        ).all()
    assert total == n_images * n_sources
    assert sorted(c for _, c in per_image) == [n_sources] * n_images
    assert {d for d, _ in per_image} == {i.data_id for i in items}
    for item in items:
        rec = get_data(item.data_id, settings=db_settings)
        assert (rec.photometry_status, rec.photometry_job_id) == ("completed", job_id)


@pytest.mark.slow
def test_sigterm_stops_the_worker_gracefully(settings, tmp_path):
    from dsa110_contimg.jobs import alive_workers, list_workers

    env = _env(settings)
    with open(tmp_path / "worker.log", "ab") as log:
        proc = subprocess.Popen([CONTIMG, "worker"], env=env, stdout=log, stderr=log)
        deadline = time.time() + 120
        while not alive_workers(settings=settings) and time.time() < deadline:
            time.sleep(0.05)
        assert [w.pid for w in alive_workers(settings=settings)] == [proc.pid]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    assert alive_workers(settings=settings) == []
    assert [w.status for w in list_workers(settings=settings)] == ["stopped"]
    assert _processes_with(f"CONTIMG_STATE_DIR={settings.state_dir}") == []
