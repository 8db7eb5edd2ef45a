"""Retention: ``contimg prune`` and the disk watermark at which the stream pauses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import insert

from dsa110_contimg.cli import main
from dsa110_contimg.conversion.streaming import Streamer
from dsa110_contimg.conversion.streaming.retention import disk_low, prune
from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.database.stream_state import list_stream_states
from dsa110_contimg.database.tables.stream import stream_groups


def _group(settings, tmp_path, key, finished_at, status="completed"):
    out = tmp_path / "out" / key
    ms = out / f"{key}.ms"
    (ms / "table").mkdir(parents=True)
    (ms / "table" / "data").write_bytes(b"\0" * 1000)
    prefix = out / key
    for suffix in ("-image.fits", "-beam.fits", "-residual.fits", "-image-pb.fits"):
        (out / f"{key}{suffix}").write_bytes(b"\0" * 100)
    with write_transaction(get_engine(settings)) as conn:
        conn.execute(insert(stream_groups).values(
            group_key=key, group_time=0.0, input_dir=str(tmp_path), status=status, n_files=16,
            expected_files=16, first_seen_at=0.0, last_file_at=0.0, finished_at=finished_at,
            ms_path=str(ms), image_path=f"{prefix}-image-pb.fits",
            updated_at=finished_at))  # fmt: skip
    return ms, prefix


def test_prune_keeps_recent_running_and_registered_images(settings, tmp_path):
    now = 1_800_000_000.0
    old_ms, old = _group(settings, tmp_path, "old", now - 3 * 86400)
    new_ms, _ = _group(settings, tmp_path, "new", now - 3600)
    run_ms, _ = _group(settings, tmp_path, "run", now - 9 * 86400, status="running")
    rep = prune(older_than_days=1, intermediate=True, dry_run=True, now=now, settings=settings)
    assert rep.groups == 1 and old_ms in rep.paths and old_ms.exists()  # dry run
    rep = prune(older_than_days=1, intermediate=True, now=now, settings=settings)
    assert not old_ms.exists() and rep.bytes >= 1300
    assert not (old.parent / "old-image.fits").exists()
    assert (old.parent / "old-image-pb.fits").exists()  # the registered image stays
    assert new_ms.exists() and run_ms.exists()


def test_prune_command(settings, tmp_path, capsys):
    ms, _ = _group(settings, tmp_path, "g1", time.time() - 10 * 86400)
    code = main(["--database-url", settings.database_url, "prune", "--older-than-days", "1"])
    assert code == 0 and not ms.exists()
    assert "1 path(s) of 1 group(s)" in capsys.readouterr().out


def test_stream_pauses_below_the_watermark_and_resumes(settings, tmp_path, caplog):
    settings.retention.min_free_gb = 10.0
    assert "below the watermark" in disk_low(tmp_path, settings, lambda p: int(5e9))
    assert disk_low(tmp_path, settings, lambda p: int(20e9)) is None
    (tmp_path / "in").mkdir()
    s = Streamer(tmp_path / "in", tmp_path / "out", settings=settings)
    s.free_bytes = lambda p: int(1e9)  # injected: the disk is nearly full
    assert s.run(once=True) == []
    assert "paused" in s.paused and "contimg prune" in caplog.text
    s.free_bytes = lambda p: int(50e9)
    s.run(once=True)
    assert s.paused is None and "stream resumed" in caplog.text


def _wait_for_state(settings, state: str, deadline_s: float = 120.0) -> dict:
    """Poll the database until the stream's row says ``state`` (a generous bound, no timing)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        rows = list_stream_states(settings)
        if rows and rows[0]["state"] == state:
            return rows[0]
        time.sleep(0.02)
    raise AssertionError(f"the stream never became {state}: {list_stream_states(settings)}")


def _status_from_another_process(settings) -> dict:
    env = dict(os.environ, CONTIMG_DATABASE_URL=settings.database_url or "")
    if not settings.database_url:
        env.pop("CONTIMG_DATABASE_URL")
    out = subprocess.run(
        [str(Path(sys.executable).parent / "contimg"), "--state-dir", str(settings.state_dir),
         "stream", "--status"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    return json.loads(out)


def test_the_watermark_pause_is_in_stream_status_of_another_process(db_settings, tmp_path):
    """A running stream paused at the watermark: ``contimg stream --status`` (another process,
    the real database) says "paused: disk ... below the watermark ..."; then running, stopped."""
    settings = db_settings
    settings.retention.min_free_gb = 10.0
    settings.stream.poll_interval_seconds = 0.05
    (tmp_path / "in").mkdir()
    s = Streamer(tmp_path / "in", tmp_path / "out", settings=settings)
    s.free_bytes = lambda p: int(1e9)  # injected: the disk is nearly full
    stop = threading.Event()
    t = threading.Thread(target=s.run, kwargs={"stop_event": stop}, daemon=True)
    t.start()
    try:
        row = _wait_for_state(settings, "paused")
        assert row["input_dir"] == str(tmp_path / "in") and row["pid"] == os.getpid()
        status = _status_from_another_process(settings)
        assert status["state"].startswith("paused: disk nearly full, 1.00 GB free")
        assert "below the watermark retention.min_free_gb = 10 GB" in status["state"]
        assert [r["state"] for r in status["streams"]] == ["paused"]
        since = row["since"]
        s.free_bytes = lambda p: int(50e9)  # space is back
        row = _wait_for_state(settings, "running")
        assert row["reason"] is None and row["since"] >= since
        assert _status_from_another_process(settings)["state"] == "running"
    finally:
        stop.set()
        t.join(60)
    assert not t.is_alive()
    assert list_stream_states(settings)[0]["state"] == "stopped"


def test_a_once_run_that_paused_says_so_when_stopped(settings, tmp_path):
    from dsa110_contimg.conversion.streaming import stream_status

    settings.retention.min_free_gb = 10.0
    (tmp_path / "in").mkdir()
    s = Streamer(tmp_path / "in", tmp_path / "out", settings=settings)
    assert stream_status(settings)["state"] is None  # no stream ever ran
    s.free_bytes = lambda p: int(1e9)
    s.run(once=True)
    state = stream_status(settings)["state"]
    assert state.startswith("stopped (its last pass paused: disk nearly full")
    s.free_bytes = lambda p: int(50e9)
    s.run(once=True)
    assert stream_status(settings)["state"] == "stopped"


def test_a_stream_killed_while_paused_is_not_shown_as_paused(settings, tmp_path):
    from dsa110_contimg.conversion.streaming import stream_status
    from dsa110_contimg.database.stream_state import set_stream_state

    set_stream_state(str(tmp_path / "in"), "paused", "paused: disk nearly full, 1.00 GB free",
                     settings=settings)  # fmt: skip
    assert stream_status(settings)["state"] == "paused: disk nearly full, 1.00 GB free"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    with write_transaction(get_engine(settings)) as conn:  # as if that process had written it
        from dsa110_contimg.database.tables.stream import stream_state

        conn.execute(stream_state.update().values(pid=int(gone.stdout)))
    status = stream_status(settings)
    assert status["state"] == (
        f"died (process {int(gone.stdout)} on {status['streams'][0]['hostname']} is gone; its "
        "last state: paused: disk nearly full, 1.00 GB free)"
    )
    assert status["streams"][0]["alive"] is False
