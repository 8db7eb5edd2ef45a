"""Alerts reach a webhook (a real HTTP receiver on 127.0.0.1): new ESE candidate, stalled
stream, degraded worker, refused calibration; delivery failures never raise."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import insert

from dsa110_contimg.alerts import check_stream_stall, send_alert
from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.database.tables.normalization import ese_candidates
from dsa110_contimg.jobs import Worker, create_batch_photometry_job
from tests.jobs.conftest import make_field
from tests.jobs.test_faults import HEADROOM, DiskFull, _many_positions


@pytest.fixture
def receiver():
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            n = int(self.headers.get("Content-Length", 0))
            got.append(json.loads(self.rfile.read(n)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


@pytest.fixture
def asettings(settings, receiver):
    settings.alerts.webhook_url = receiver[0]
    settings.alerts.timeout_s = 30.0
    return settings


def test_alert_is_posted_as_json(asettings, receiver):
    _, got = receiver
    n = send_alert("calibration_refused", "calibration of 3C286 transit refused (SNR 3)",
                   {"calibrator": "3C286"}, settings=asettings)  # fmt: skip
    assert n == 1
    assert got[0]["kind"] == "calibration_refused" and got[0]["details"] == {"calibrator": "3C286"}
    assert "3C286" in got[0]["text"]


def test_undeliverable_alert_never_raises(settings, caplog):
    settings.alerts.webhook_url = "http://127.0.0.1:1/nothing-listens"
    settings.alerts.timeout_s = 5.0
    assert send_alert("stream_stalled", "x", settings=settings) == 0
    assert "not delivered" in caplog.text
    assert send_alert("stream_stalled", "x", settings=settings.model_copy()) == 0


def test_stalled_stream_alerts_once_per_stall(asettings, receiver):
    _, got = receiver
    state: dict = {}
    limit = asettings.alerts.stream_stall_seconds
    assert not check_stream_stall({"lag_seconds": limit - 1}, state=state, settings=asettings)
    assert check_stream_stall({"lag_seconds": limit + 1}, state=state, settings=asettings)
    assert check_stream_stall({"lag_seconds": limit + 50}, state=state, settings=asettings)
    assert [g["kind"] for g in got] == ["stream_stalled"]
    check_stream_stall({"lag_seconds": 0}, state=state, settings=asettings)
    check_stream_stall({"lag_seconds": limit + 1}, state=state, settings=asettings)
    assert [g["kind"] for g in got] == ["stream_stalled"] * 2


def test_new_ese_candidate_alerts(asettings, receiver):
    _, got = receiver
    w = Worker(asettings, in_process=True)
    since = w._last_candidate_id()
    now = time.time()
    with write_transaction(get_engine(asettings)) as conn:
        conn.execute(insert(ese_candidates).values(
            catalog="nvss", source_id="J150730+461718", series="epoch", preset="moderate",
            score=18.1, max_dip_sigma=6.2, max_dip_depth=0.3, status="active",
            created_at=now, updated_at=now))  # fmt: skip
    w._alert_new_candidates(since, "day11")
    assert [g["kind"] for g in got] == ["ese_candidate"]
    assert "J150730+461718" in got[0]["message"] and got[0]["details"]["score"] == 18.1


def test_degraded_worker_alerts(asettings, receiver, tmp_path):
    _, got = receiver
    asettings.jobs.write_retries = 0
    asettings.jobs.write_backoff_seconds = 0.0
    asettings.jobs.poll_seconds = 0.02
    field = make_field(tmp_path / "images", 1)
    create_batch_photometry_job(field.paths, _many_positions(field), settings=asettings)
    disk = DiskFull(get_engine(asettings))
    disk.set(True, headroom=HEADROOM)
    stats = Worker(asettings, in_process=True).run(once=True)
    disk.set(False)
    assert stats.degraded
    kinds = [g["kind"] for g in got]
    assert kinds.count("worker_degraded") == 1
    assert "database or disk is full" in got[kinds.index("worker_degraded")]["message"]
