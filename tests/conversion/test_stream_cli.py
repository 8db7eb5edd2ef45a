"""``contimg simulate``, ``contimg stream`` and ``contimg run`` on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dsa110_contimg.cli import main
from dsa110_contimg.conversion.streaming import list_groups, stream_status
from tests.conftest import make_settings

from .conftest import copy_group, truncate


def test_simulate_writes_groups_with_a_synthetic_catalog(tmp_path):
    state = tmp_path / "state"
    rc = main(
        [
            "--state-dir",
            str(state),
            "simulate",
            "--output-dir",
            str(tmp_path / "in"),
            "--groups",
            "1",
            "--channels",
            "1",
            "--dec",
            "40",
        ]
    )
    assert rc == 0
    files = sorted((tmp_path / "in").glob("*_sb*.hdf5"))
    # the telescope's layout: names dated up to seconds apart, the earliest at the start
    assert len(files) == 16 and files[0].name.startswith("2025-01-15T12:00:00_sb")
    assert sorted(int(f.name[-7:-5]) for f in files) == list(range(16))
    from dsa110_contimg.catalog import catalog_info

    assert catalog_info("synthetic", settings=make_settings(state)).row_count > 100


def test_stream_once_records_bad_groups_and_status(small_group, tmp_path, monkeypatch):
    inp = tmp_path / "in"
    t = copy_group(small_group.paths, inp, "2025-02-01T00:00:00")
    truncate(t[0])
    copy_group(small_group.paths, inp, "2025-02-01T01:00:00", subbands=range(3))
    cfg = tmp_path / "c.toml"
    cfg.write_text("[stream]\ngroup_timeout_seconds = 0\nfile_settle_seconds = 0\n")
    state = tmp_path / "state"
    base = ["--state-dir", str(state), "--config", str(cfg)]
    assert (
        main(
            [
                *base,
                "stream",
                "--input-dir",
                str(inp),
                "--output-dir",
                str(tmp_path / "out"),
                "--once",
                "--enable-photometry",
            ]
        )
        == 0
    )
    settings = make_settings(state, config=cfg)
    assert {g.status for g in list_groups(settings=settings)} == {"failed"}
    assert stream_status(settings)["counts"]["failed"] == 2
    # the same through a real process: JSON status on stdout
    out = subprocess.run(
        [str(Path(sys.executable).parent / "contimg"), *base, "stream", "--status"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["counts"]["failed"] == 2


def test_stream_requires_directories(tmp_path):
    assert main(["--state-dir", str(tmp_path / "s"), "stream", "--once"]) == 2
    assert (
        main(
            [
                "--state-dir",
                str(tmp_path / "s"),
                "stream",
                "--input-dir",
                str(tmp_path / "none"),
                "--output-dir",
                str(tmp_path / "o"),
                "--once",
            ]
        )
        == 2
    )


def test_run_once_on_an_empty_directory(tmp_path):
    (tmp_path / "in").mkdir()
    rc = main(
        [
            "--state-dir",
            str(tmp_path / "s"),
            "run",
            "--input-dir",
            str(tmp_path / "in"),
            "--output-dir",
            str(tmp_path / "out"),
            "--once",
        ]
    )
    assert rc == 0


def test_run_stops_cleanly_on_sigint(tmp_path):
    """``contimg run`` (unbounded) runs stream, worker and orchestrator until Ctrl-C."""
    import signal
    import time

    (tmp_path / "in").mkdir()
    exe = str(Path(sys.executable).parent / "contimg")
    proc = subprocess.Popen(
        [
            exe,
            "--state-dir",
            str(tmp_path / "s"),
            "run",
            "--input-dir",
            str(tmp_path / "in"),
            "--output-dir",
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        db = tmp_path / "s" / "contimg.sqlite3"
        deadline = time.monotonic() + 60
        while not db.exists() and time.monotonic() < deadline:
            assert proc.poll() is None
            time.sleep(0.2)
        from dsa110_contimg.config import Settings
        from dsa110_contimg.jobs import alive_workers

        watch = Settings(state_dir=tmp_path / "s")
        while not alive_workers(settings=watch) and time.monotonic() < deadline + 120:
            assert proc.poll() is None  # threads starting: wait for the worker's heartbeat
            time.sleep(0.2)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "contimg run stopped" in err or "stopping" in err
