"""The stream queue: grouping, bad files, time-outs, restarts (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from dsa110_contimg.conversion.streaming import (
    Streamer,
    get_group,
    list_groups,
    queue,
    stream_status,
)
from dsa110_contimg.database import get_engine
from dsa110_contimg.database.tables.stream import stream_files

from .conftest import copy_group, truncate


def _streamer(db_settings, tmp_path, **stream):
    db_settings.stream.file_settle_seconds = 0.0
    for k, v in stream.items():
        setattr(db_settings.stream, k, v)
    (tmp_path / "in").mkdir(exist_ok=True)
    return Streamer(tmp_path / "in", tmp_path / "out", settings=db_settings)


def _n_files(settings) -> int:
    with get_engine(settings).connect() as conn:
        return conn.execute(select(func.count()).select_from(stream_files)).scalar()


def test_group_collects_with_timestamp_tolerance(db_settings, small_group, tmp_path):
    s = _streamer(db_settings, tmp_path)
    copy_group(small_group.paths, tmp_path / "in", "2025-01-16T00:00:00", subbands=range(8))
    # the other half a second later: the same group within the 2 s tolerance
    copy_group(small_group.paths, tmp_path / "in", "2025-01-16T00:00:01", subbands=range(8, 16))
    assert s.ingest() == 16
    (g,) = list_groups(settings=db_settings)
    assert (g.status, g.n_files, g.group_key) == ("pending", 16, "2025-01-16T00:00:00")
    assert [sb for sb, _ in queue.group_files(g.id, settings=db_settings)] == list(range(16))


def test_restart_in_the_middle_of_a_group(db_settings, small_group, tmp_path):
    first = _streamer(db_settings, tmp_path)
    copy_group(small_group.paths, tmp_path / "in", "2025-01-16T01:00:00", subbands=range(9))
    assert first.ingest() == 9
    del first  # the process dies while the group is collecting
    copy_group(small_group.paths, tmp_path / "in", "2025-01-16T01:00:00", subbands=range(9, 16))
    second = _streamer(db_settings, tmp_path)
    assert second.ingest() == 7  # the first nine are known: never queued twice
    assert second.ingest() == 0
    (g,) = list_groups(settings=db_settings)
    assert (g.status, g.n_files) == ("pending", 16)
    assert _n_files(db_settings) == 16

    # it dies again while the group is running: the group goes back to pending once ...
    claimed = queue.claim_next_group(settings=db_settings)
    assert claimed.id == g.id and claimed.attempts == 1
    assert queue.claim_next_group(settings=db_settings) is None
    assert queue.recover_running(settings=db_settings) == [g.id]
    assert get_group(g.id, settings=db_settings).status == "pending"
    # ... and after max_attempts interruptions it is failed instead of looping
    queue.claim_next_group(settings=db_settings)
    queue.recover_running(settings=db_settings)
    g2 = get_group(g.id, settings=db_settings)
    assert g2.status == "failed" and "interrupted 2 times" in g2.error

    # a completed group is never processed again, even if its files reappear
    queue.finish_group(g.id, status="completed", settings=db_settings)
    third = _streamer(db_settings, tmp_path)
    assert third.ingest() == 0 and queue.claim_next_group(settings=db_settings) is None


def test_bad_files_fail_only_their_group(db_settings, small_group, tmp_path):
    s = _streamer(db_settings, tmp_path, group_timeout_seconds=0.0)
    good = "2025-01-16T02:00:00"
    copy_group(small_group.paths, tmp_path / "in", good)
    trunc = copy_group(small_group.paths, tmp_path / "in", "2025-01-16T03:00:00")
    truncate(trunc[4])
    nonh5 = copy_group(small_group.paths, tmp_path / "in", "2025-01-16T04:00:00")
    nonh5[2].write_text("not HDF5\n")
    copy_group(
        small_group.paths,
        tmp_path / "in",
        "2025-01-16T05:00:00",
        subbands=[i for i in range(16) if i != 7],
    )
    (tmp_path / "in" / "README.txt").write_text("ignored")
    s.ingest()
    queue.check_timeouts(settings=db_settings)
    by_key = {g.group_key: g for g in list_groups(settings=db_settings)}
    assert by_key[good].status == "pending"
    t = by_key["2025-01-16T03:00:00"]
    assert (
        t.status == "failed"
        and "subband 04" in t.error
        and ("truncated" in t.error or "unreadable" in t.error)
    )
    n = by_key["2025-01-16T04:00:00"]
    assert n.status == "failed" and "not an HDF5 file" in n.error
    m = by_key["2025-01-16T05:00:00"]
    assert m.status == "failed" and "sb07" in m.error and "15 of 16" in m.error
    status = stream_status(db_settings)
    assert status["counts"]["failed"] == 3 and status["counts"]["pending"] == 1
    assert status["lag_seconds"] >= 0.0 and status["files_seen"] == 63
    json.dumps(status)


def test_timeout_can_process_what_is_there(db_settings, small_group, tmp_path):
    s = _streamer(
        db_settings, tmp_path, group_timeout_seconds=600.0, process_incomplete=True, min_subbands=14
    )
    copy_group(
        small_group.paths,
        tmp_path / "in",
        "2025-01-16T06:00:00",
        subbands=[i for i in range(16) if i != 3],
    )
    s.ingest()
    (first_seen,) = [g.first_seen_at for g in list_groups(settings=db_settings)]
    # time is injected (no sleep against the timeout): just before and just after it
    assert queue.check_timeouts(settings=db_settings, now=first_seen + 599.0) == []  # not yet
    (gid,) = queue.check_timeouts(settings=db_settings, now=first_seen + 601.0)
    g = get_group(gid, settings=db_settings)
    assert g.status == "pending" and "sb03" in g.error


def test_late_file_of_a_finished_group_is_not_queued(db_settings, small_group, tmp_path):
    s = _streamer(db_settings, tmp_path, group_timeout_seconds=0.0)
    copy_group(small_group.paths, tmp_path / "in", "2025-01-16T07:00:00", subbands=range(15))
    s.ingest()
    queue.check_timeouts(settings=db_settings)
    copy_group(small_group.paths, tmp_path / "in", "2025-01-16T07:00:00", subbands=[15])
    s.ingest()
    (g,) = list_groups(settings=db_settings)
    assert g.status == "failed" and g.n_files == 15
    with get_engine(db_settings).connect() as conn:
        st = conn.execute(
            select(stream_files.c.status).where(stream_files.c.subband == 15)
        ).scalar()
    assert st == "late"


def test_input_dir_must_exist(settings, tmp_path):
    from dsa110_contimg.errors import ConfigError

    with pytest.raises(ConfigError, match="input directory"):
        Streamer(tmp_path / "nope", tmp_path / "out", settings=settings)


def test_watcher_wakes_on_new_files(tmp_path):
    import threading

    from dsa110_contimg.conversion.streaming.watcher import DirectoryWatcher

    w = DirectoryWatcher(tmp_path, pattern="*_sb[0-9][0-9].hdf5", settle_seconds=0.0)
    try:
        assert w.ready_files(set()) == []
        target = tmp_path / "2025-01-16T00:00:00_sb00.hdf5"
        threading.Timer(0.3, target.write_bytes, args=(b"x",)).start()
        t0 = time.monotonic()
        w.wait(10.0)
        if w.using_watchdog:
            assert time.monotonic() - t0 < 5.0
        time.sleep(0.1)
        assert w.ready_files(set()) == [target]
        assert w.ready_files({str(target)}) == []
    finally:
        w.close()


def test_live_stream_fails_a_bad_group_and_keeps_running(settings, small_group, tmp_path):
    import threading

    from dsa110_contimg.conversion.streaming import run_stream

    settings.stream.file_settle_seconds = 0.2
    settings.stream.poll_interval_seconds = 0.5
    settings.stream.group_timeout_seconds = 600.0
    (tmp_path / "in").mkdir()
    stop = threading.Event()
    runner = threading.Thread(
        target=run_stream,
        args=(tmp_path / "in", tmp_path / "out"),
        kwargs={"settings": settings, "stop_event": stop},
    )
    runner.start()
    try:
        paths = copy_group(small_group.paths, tmp_path / "in", "2025-01-16T08:00:00")
        paths[3].write_text("garbage")
        deadline = time.monotonic() + 30
        while stream_status(settings)["counts"]["failed"] < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert runner.is_alive()
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()
    (g,) = list_groups(settings=settings)
    assert g.status == "failed" and "not an HDF5 file" in g.error


def test_stream_warns_when_jobs_wait_without_a_worker(settings, tmp_path, caplog):
    import logging

    from dsa110_contimg.conversion.streaming import StreamOptions
    from dsa110_contimg.jobs import create_batch_photometry_job
    from dsa110_contimg.simulation import make_fits_image

    img = tmp_path / "a-image-pb.fits"
    make_fits_image(img, shape=(64, 64), center=(10.0, 40.0), n_sources=1, seed=1)
    create_batch_photometry_job([img], [(10.0, 40.0)], settings=settings)
    (tmp_path / "in").mkdir()
    s = Streamer(
        tmp_path / "in",
        tmp_path / "out",
        settings=settings,
        options=StreamOptions(enable_photometry=True),
    )
    with caplog.at_level(logging.WARNING):
        s.step()
    assert "no worker is alive" in caplog.text


def test_jittered_names_make_one_group(db_settings, small_group, tmp_path):
    """Each node dates its file when it opens it: the 16 names of a group differ by seconds."""
    s = _streamer(db_settings, tmp_path)
    jitter = {sb: (sb * 7) % 5 for sb in range(16)}  # 0-4 s
    copy_group(small_group.paths, tmp_path / "in", "2025-01-16T09:00:00", jitter_s=jitter)
    assert len({p.name[:19] for p in (tmp_path / "in").iterdir()}) == 5
    assert s.ingest() == 16
    (g,) = list_groups(settings=db_settings)
    assert (g.status, g.n_files, g.group_key) == ("pending", 16, "2025-01-16T09:00:00")


def test_incomplete_files_wait_for_their_rename(db_settings, small_group, tmp_path):
    s = _streamer(db_settings, tmp_path)
    inc = copy_group(
        small_group.paths, tmp_path / "in", "2025-01-16T10:00:00", suffix="_incomplete.hdf5"
    )
    assert s.ingest() == 0 and list_groups(settings=db_settings) == []
    for p in inc[:10]:
        p.rename(p.with_name(p.name.replace("_incomplete", "")))
    assert s.ingest() == 10
    for p in inc[10:]:
        p.rename(p.with_name(p.name.replace("_incomplete", "")))
    assert s.ingest() == 6
    (g,) = list_groups(settings=db_settings)
    assert (g.status, g.n_files) == ("pending", 16)


def _never_wait(monkeypatch):
    """A bounded run that would wait for more files fails at once (no timing involved)."""
    from dsa110_contimg.conversion.streaming import streamer

    def wait(self, timeout):  # noqa: ANN001
        raise AssertionError("the bounded stream waited for files that cannot arrive")

    monkeypatch.setattr(streamer.DirectoryWatcher, "wait", wait)


def _two_bad_groups(small_group, tmp_path):
    a = copy_group(small_group.paths, tmp_path / "in", "2025-01-16T11:00:00")
    truncate(a[2])
    b = copy_group(small_group.paths, tmp_path / "in", "2025-01-16T12:00:00")
    b[5].write_text("not HDF5\n")


def test_max_groups_counts_groups_that_failed_their_file_check(
    settings, small_group, tmp_path, monkeypatch
):
    """``contimg stream --max-groups 2`` whose two groups failed the file check returns."""
    from dsa110_contimg.conversion.streaming import run_stream

    settings.stream.file_settle_seconds = 0.0
    _two_bad_groups(small_group, tmp_path)
    _never_wait(monkeypatch)
    out = run_stream(tmp_path / "in", tmp_path / "out", settings=settings, max_groups=2)
    assert [o.status for o in out] == ["failed", "failed"]
    assert "truncated" in out[0].error or "unreadable" in out[0].error
    assert "not an HDF5 file" in out[1].error


def test_once_reports_failed_groups_too(settings, small_group, tmp_path, monkeypatch):
    from dsa110_contimg.cli import main
    from dsa110_contimg.conversion.streaming import run_stream

    settings.stream.file_settle_seconds = 0.0
    _two_bad_groups(small_group, tmp_path)
    _never_wait(monkeypatch)
    out = run_stream(tmp_path / "in", tmp_path / "out", settings=settings, once=True)
    assert sorted(o.group_key for o in out if o.status == "failed") == [
        "2025-01-16T11:00:00",
        "2025-01-16T12:00:00",
    ]
    # the same through the command line, on a fresh state directory
    cfg = tmp_path / "c.toml"
    cfg.write_text("[stream]\nfile_settle_seconds = 0\n")
    rc = main(
        [
            "--state-dir",
            str(tmp_path / "state2"),
            "--config",
            str(cfg),
            "stream",
            "--input-dir",
            str(tmp_path / "in"),
            "--output-dir",
            str(tmp_path / "out2"),
            "--max-groups",
            "2",
        ]
    )
    assert rc == 0


def test_once_right_after_files_land_waits_for_them_to_settle(db_settings, small_group, tmp_path):
    """``--once`` just after a copy finished ingests the files instead of exiting idle."""
    s = _streamer(db_settings, tmp_path)
    db_settings.stream.file_settle_seconds = 1.0
    copy_group(small_group.paths, tmp_path / "in", "2025-01-16T07:00:00", subbands=[0, 1])
    watcher_known: set[str] = set()
    from dsa110_contimg.conversion.streaming.watcher import DirectoryWatcher

    w = DirectoryWatcher(
        tmp_path / "in", pattern=db_settings.stream.file_pattern, settle_seconds=1.0,
        use_watchdog=False,
    )
    newest = max(p.stat().st_mtime for p in (tmp_path / "in").iterdir())
    # injected time: fresh files are not settled, the same files 1 s later are
    assert w.seconds_until_settled(watcher_known, now=newest) == pytest.approx(1.0)
    assert w.seconds_until_settled(watcher_known, now=newest + 1.0) == 0.0
    w.close()
    s.wait_until_settled()
    assert s.ingest() == 2  # both files settled and recorded, not skipped as too fresh
