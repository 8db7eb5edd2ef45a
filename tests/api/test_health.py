"""Health and metrics report waiting jobs without workers, stream lag, live workers."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import insert

from dsa110_contimg.api import create_app
from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.database.tables import stream_groups
from dsa110_contimg.jobs import Worker, create_batch_photometry_job
from dsa110_contimg.simulation import make_fits_image


def test_degraded_when_jobs_wait_and_stream_stuck(db_settings, tmp_path):
    s = db_settings
    img = tmp_path / "a.fits"
    make_fits_image(img, shape=(64, 64), n_sources=2, seed=1)
    create_batch_photometry_job([str(img)], [(180.0, 55.0)], settings=s)
    now = time.time()
    with write_transaction(get_engine(s)) as conn:
        conn.execute(
            insert(stream_groups).values(
                group_key="2025-01-01T00:00:00",
                group_time=now - 7200,
                input_dir=str(tmp_path),
                status="collecting",
                n_files=3,
                expected_files=16,
                first_seen_at=now - 7200,
                last_file_at=now - 7000,
                updated_at=now - 7000,
            )
        )
    with TestClient(create_app(s), raise_server_exceptions=False) as c:
        h = c.get("/api/health").json()
        assert h["status"] == "degraded"
        assert any("no worker is alive" in w for w in h["warnings"])
        assert any("stream group" in w for w in h["warnings"])
        assert h["stream"]["groups"] == {"collecting": 1}
        assert h["stream"]["lag_seconds"] > 7000
        m = c.get("/metrics").text.splitlines()
        assert 'contimg_jobs{status="pending"} 1' in m
        lag = next(x for x in m if x.startswith("contimg_stream_lag_seconds "))
        assert float(lag.split()[1]) > 7000
        assert 'contimg_stream_groups{state="collecting"} 1' in m
        assert "contimg_workers_alive 0" in m
        # a live worker (heartbeat registered) clears the job warning once it drains the queue
        Worker(s).run(once=True)
        h = c.get("/api/health").json()
        assert not any("no worker" in w for w in h["warnings"])
        assert h["jobs"].get("completed") == 1


def test_unreachable_database_is_503(postgres_admin_url, postgres_url, tmp_path):
    from sqlalchemy import create_engine, text

    from dsa110_contimg.config import Settings
    from dsa110_contimg.database import dispose_engine

    s = Settings(state_dir=tmp_path / "state", database_url=postgres_url)
    with TestClient(create_app(s), raise_server_exceptions=False) as c:
        assert c.get("/api/health").status_code == 200
        name = postgres_url.rsplit("/", 1)[1]
        admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
        r = c.get("/api/health")
        assert r.status_code == 503
        assert r.json()["error"]["type"] == "DatabaseError"
        assert "unreachable" in r.json()["error"]["message"]
        r = c.get("/api/data")
        assert r.status_code == 503
        assert r.json()["error"]["type"] == "DatabaseError"
    dispose_engine(s)


def test_a_stream_paused_at_the_disk_watermark_is_a_health_warning(settings, tmp_path):
    from dsa110_contimg.conversion.streaming import Streamer

    settings.retention.min_free_gb = 10.0
    (tmp_path / "in").mkdir()
    s = Streamer(tmp_path / "in", tmp_path / "out", settings=settings)
    s.free_bytes = lambda p: int(2e9)  # injected: the disk is nearly full
    s.run(once=True)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        h = c.get("/api/health").json()
        assert h["stream"]["state"].startswith("stopped (its last pass paused: disk nearly full")
    from dsa110_contimg.database.stream_state import set_stream_state

    set_stream_state(str(tmp_path / "in"), "paused", s.paused, settings=settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        h = c.get("/api/health").json()
        assert h["status"] == "degraded"
        assert any(w.startswith("paused: disk nearly full, 2.00 GB free") for w in h["warnings"])
        assert h["stream"]["streams"][0]["state"] == "paused"
