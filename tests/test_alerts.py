"""Alerts reach a webhook (a real HTTP receiver on 127.0.0.1) and an SMTP server (a real SMTP
receiver on 127.0.0.1, written here with the standard library): new ESE candidate, stalled
stream, degraded worker, refused calibration; delivery failures never raise."""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
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


class _SmtpHandler(socketserver.StreamRequestHandler):
    """The server side of RFC 5321, just enough for :mod:`smtplib` (no ESMTP extensions)."""

    def _reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self):
        self._reply("220 127.0.0.1 test SMTP receiver")
        envelope: dict = {"from": None, "to": []}
        while line := self.rfile.readline():
            verb = line.decode().strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 127.0.0.1")
            elif verb == "MAIL":
                envelope = {"from": line.decode().strip()[10:], "to": []}
                self._reply("250 OK")
            elif verb == "RCPT":
                envelope["to"].append(line.decode().strip()[8:])
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 end data with <CR><LF>.<CR><LF>")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    chunk = chunk[1:] if chunk.startswith(b"..") else chunk  # dot-unstuffing
                    data += chunk.replace(b"\r\n", b"\n")  # stored as a mailbox would
                self.server.mails.append(  # type: ignore[attr-defined]
                    (envelope, email.message_from_bytes(data, policy=email.policy.default))
                )
                self._reply("250 OK queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")


@pytest.fixture
def smtp_receiver():
    """A real SMTP server on 127.0.0.1: yields (port, list of (envelope, message))."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.mails = []  # type: ignore[attr-defined]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.server_address[1], server.mails  # type: ignore[attr-defined]
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


def test_alert_is_mailed_with_subject_and_body(settings, smtp_receiver):
    port, mails = smtp_receiver
    settings.alerts.smtp_host = "127.0.0.1"
    settings.alerts.smtp_port = port
    settings.alerts.smtp_from = "contimg@dsa110.example"
    settings.alerts.smtp_to = ["operator@dsa110.example", "night@dsa110.example"]
    settings.alerts.timeout_s = 30.0
    n = send_alert("calibration_refused", "calibration of 3C286 transit refused (SNR 3)",
                   {"calibrator": "3C286", "snr": 3.0}, settings=settings)  # fmt: skip
    assert n == 1
    assert len(mails) == 1
    envelope, mail = mails[0]
    assert "contimg@dsa110.example" in envelope["from"]
    assert len(envelope["to"]) == 2 and "night@dsa110.example" in envelope["to"][1]
    # a subject over 78 characters is folded onto a continuation line; unfolded, its value
    # starts after the folding white space (Python's parser keeps that space)
    assert mail["Subject"].lstrip() == (
        "[contimg] calibration_refused: calibration of 3C286 transit refused (SNR 3)"
    )
    assert mail["From"] == "contimg@dsa110.example"
    assert mail["To"] == "operator@dsa110.example, night@dsa110.example"
    body = mail.get_content()
    assert body.startswith("calibration of 3C286 transit refused (SNR 3)\n")
    assert json.loads(body.split("\n\n", 1)[1]) == {"calibrator": "3C286", "snr": 3.0}


def test_undeliverable_mail_never_raises(settings, caplog):
    settings.alerts.smtp_host = "127.0.0.1"
    settings.alerts.smtp_port = 1  # nothing listens
    settings.alerts.smtp_to = ["operator@dsa110.example"]
    settings.alerts.timeout_s = 5.0
    assert send_alert("stream_stalled", "x", settings=settings) == 0
    assert "not delivered by e-mail" in caplog.text and "ALERT stream_stalled" in caplog.text


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
    w._alert_new_candidates(since, "image day11")
    assert [g["kind"] for g in got] == ["ese_candidate"]
    assert "J150730+461718" in got[0]["message"] and got[0]["details"]["score"] == 18.1
    assert "score 18.1 at first flagging" in got[0]["message"]
    assert "after image day11;" in got[0]["message"]


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


def _solution(snr: float):
    from dsa110_contimg.calibration.solve import CalSolution, SolutionQA

    qa = SolutionQA(snr_median=snr, flagged_fraction=0.02, antennas_flagged=(3,),
                    delay_scatter_ns=1.0, n_antennas=96)  # fmt: skip
    return CalSolution(tables={}, calibrator="3C286", transit_mjd=61000.25, qa=qa,
                       channel_mask=None)  # fmt: skip


def test_refused_calibration_alerts(asettings, receiver, tmp_path, caplog):
    """The stream's policy path (no CASA: a synthetic solution) alerts on a refused set only."""
    from dsa110_contimg.conversion.streaming.calibration import CalibrationStep
    from dsa110_contimg.database.caltables import list_caltables

    _, got = receiver
    step = CalibrationStep(asettings, tmp_path)
    low = asettings.calibration.min_snr / 4
    rec = step.register_solution(_solution(low), "2026-01-01T06:00:00", tmp_path / "cal.ms",
                                 tmp_path / "caltables")  # fmt: skip
    assert rec.status == "refused"
    assert [g["kind"] for g in got] == ["calibration_refused"]
    alert = got[0]
    assert alert["details"]["id"] == rec.id and alert["details"]["calibrator"] == "3C286"
    assert alert["details"]["reason"] == rec.reason and "SNR" in rec.reason
    assert f"solution {rec.id} of 3C286" in alert["message"] and "refused" in alert["message"]
    assert [c.status for c in list_caltables(settings=asettings)] == ["refused"]
    # the log line explains itself too (issue 15)
    assert "never applied: groups use the previous valid solution" in caplog.text

    good = step.register_solution(_solution(asettings.calibration.min_snr * 10),
                                  "2026-01-01T12:00:00", tmp_path / "cal2.ms",
                                  tmp_path / "caltables")  # fmt: skip
    assert good.status == "valid"
    assert len(got) == 1  # a valid set sends nothing
