"""An imager never outlives the pipeline: killed with its parent, a stale one stopped on restart.

Real processes; the imager is stood in for by ``sleep`` (the mechanism under test is the tie
between processes, not WSClean, which ``test_imaging.py`` runs for real). No sleeps against
timeouts: states are polled with generous bounds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from dsa110_contimg.imaging.tool import _alive, _start_time, run_tied, stop_stale
from tests.polling import poll as _poll

REPO = Path(__file__).parents[2]
BOUND = 120.0


def test_child_dies_with_its_parent(tmp_path):
    pidfile = tmp_path / "grp.pid"
    code = (
        "from pathlib import Path; from dsa110_contimg.imaging.tool import run_tied; "
        f"run_tied(['sleep', '1000'], cwd=Path('{tmp_path}'), timeout=1e6, "
        f"pidfile=Path('{pidfile}'))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    parent = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        text = _poll(lambda: pidfile.exists() and pidfile.read_text().strip(), "pid file")
        child = int(text.split()[0])
        started = text.split()[1]
        assert _alive(child, started)
        assert os.getpgid(child) == child != os.getpgid(parent.pid)  # its own session
        parent.kill()  # SIGKILL: no cleanup code of the parent runs
        parent.wait(BOUND)
        _poll(lambda: not _alive(child, started), "the imager died with its parent")
    finally:
        if parent.poll() is None:
            parent.kill()


def test_stale_imager_is_stopped_before_imaging_again(tmp_path):
    stale = subprocess.Popen(["sleep", "1000"], start_new_session=True)  # no tie: an orphan
    try:
        pidfile = tmp_path / "grp.pid"
        pidfile.write_text(f"{stale.pid} {_start_time(stale.pid)}\n")
        assert stop_stale(pidfile) is True
        assert stale.wait(BOUND) == -signal.SIGKILL
        assert not pidfile.exists()
        # a pid file naming a process that is gone (or a reused pid) kills nothing
        pidfile.write_text(f"{os.getpid()} 1\n")
        assert stop_stale(pidfile) is False
    finally:
        if stale.poll() is None:
            stale.kill()


def test_timeout_kills_the_group(tmp_path):
    import pytest

    with pytest.raises(subprocess.TimeoutExpired):
        run_tied(["sh", "-c", "sleep 1000 & wait"], cwd=tmp_path, timeout=0.0,
                 pidfile=tmp_path / "t.pid")  # fmt: skip
    assert not (tmp_path / "t.pid").exists()
    out = run_tied(["sh", "-c", "echo ok"], cwd=tmp_path, timeout=BOUND)
    assert out.returncode == 0 and out.stdout.strip() == "ok"
