"""`contimg serve` in a real subprocess: prints the UI URL, serves, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from dsa110_contimg.cli import main
from dsa110_contimg.cli.serve import ui_url


def test_serve_prints_url_and_answers(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    exe = Path(sys.executable).with_name("contimg")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dsa110_contimg.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}
    env["CONTIMG_API__TOKEN"] = "from-env"
    proc = subprocess.Popen(
        [
            *cmd,
            "--state-dir",
            str(tmp_path / "state"),
            "serve",
            "--port",
            "0",
            "--data-root",
            str(root),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        url = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if line.startswith("contimg UI: "):
                url = line.split(": ", 1)[1].strip()
            elif not line and proc.poll() is not None:
                break
        assert url and url.startswith("http://127.0.0.1:"), url
        while time.monotonic() < deadline:
            try:
                r = httpx.get(url + "api/data", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert r.status_code == 200
        assert httpx.get(url, timeout=5).status_code == 200  # the dashboard
        # the token comes from the environment
        r = httpx.post(url + "api/batch/1/cancel", timeout=5)
        assert r.status_code == 401
        r = httpx.post(url + "api/batch/1/cancel", headers={"Authorization": "Bearer from-env"})
        assert r.status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert proc.returncode in (0, -signal.SIGTERM)


def test_serve_rejects_bad_data_root(tmp_path, capsys):
    rc = main(["--state-dir", str(tmp_path / "s"), "serve", "--data-root", str(tmp_path / "nope")])
    assert rc == 2
    assert "--data-root is not a directory" in capsys.readouterr().err


def test_ui_url():
    assert ui_url("0.0.0.0", 80) == "http://127.0.0.1:80/"
    assert ui_url("localhost", 8110) == "http://localhost:8110/"
