"""Write endpoints end to end on SQLite and PostgreSQL: measure-batch, cancel, retry, run."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app
from dsa110_contimg.config import Settings
from dsa110_contimg.database import dispose_engine
from dsa110_contimg.jobs import run_batch_photometry_job
from dsa110_contimg.simulation import make_fits_image

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def env(db_settings, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    truths = []
    for i in range(2):
        truths.append(
            make_fits_image(
                root / f"img{i}.fits",
                shape=(128, 128),
                n_sources=4,
                seed=i,
                noise_jy=1e-3,
                date_obs=f"2025-01-0{i + 1}T00:00:00",
                date_end=f"2025-01-0{i + 1}T00:05:00",
            )
        )
    (root / "broken.fits").write_bytes(b"SIMPLE  = nonsense")
    s = Settings(
        state_dir=tmp_path / "state",
        database_url=db_settings.database_url,
        api={"data_roots": [root], "token": TOKEN},
    )
    with TestClient(create_app(s), raise_server_exceptions=False) as c:
        yield c, s, root, truths
    dispose_engine(s)


def _positions(truth):
    return [{"ra_deg": float(r["ra_deg"]), "dec_deg": float(r["dec_deg"])} for r in truth]


def test_measure_batch_cancel_retry_run(env):
    c, s, root, truths = env
    body = {
        "image_paths": ["img0.fits", str(root / "img1.fits"), "broken.fits"],
        "positions": _positions(truths[0]),
    }
    r = c.post("/api/photometry/measure-batch", json=body, headers=AUTH)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert r.headers["location"].endswith(f"/api/batch/{job_id}")
    job = c.get(f"/api/batch/{job_id}").json()
    assert job["status"] == "pending" and job["item_counts"] == {"pending": 3}
    pending = c.get("/api/data", params={"photometry_status": "pending"}).json()
    assert pending["total"] >= 2

    r = c.post(f"/api/batch/{job_id}/cancel", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["item_counts"] == {"cancelled": 3}
    again = c.post(f"/api/batch/{job_id}/cancel", headers=AUTH)
    assert again.status_code == 409 and again.json()["error"]["type"] == "JobError"

    r = c.post(f"/api/batch/{job_id}/retry", headers=AUTH)
    assert r.status_code == 200 and r.json()["item_counts"] == {"pending": 3}
    run_batch_photometry_job(job_id, settings=s)

    job = c.get(f"/api/batch/{job_id}").json()
    assert job["status"] == "partial"
    assert job["item_counts"] == {"completed": 2, "failed": 1}
    assert len(job["errors"]) == 1 and "broken.fits" in job["errors"][0]["error"]
    images = c.get("/api/images").json()["items"]
    done = [x for x in images if x["photometry_status"] == "completed"]
    assert len(done) == 2
    rows = c.get(f"/api/images/{quote(done[0]['data_id'], safe='')}/photometry").json()
    assert rows["total"] == len(truths[0])
    assert c.post("/api/batch/999999/cancel", headers=AUTH).status_code == 404


def test_measure_batch_with_catalog_ids_and_data_ids(env):
    c, s, root, truths = env
    t = truths[1]
    pos = [
        {
            "ra_deg": float(r["ra_deg"]),
            "dec_deg": float(r["dec_deg"]),
            "catalog": "nvss",
            "source_id": f"S{i}",
        }
        for i, r in enumerate(t)
    ]
    pos.append({"ra_deg": float(t[0]["ra_deg"]) + 0.01, "dec_deg": float(t[0]["dec_deg"])})
    r = c.post(
        "/api/photometry/measure-batch",
        json={"image_paths": ["img1.fits"], "positions": pos},
        headers=AUTH,
    )
    assert r.status_code == 202, r.text
    run_batch_photometry_job(r.json()["job_id"], settings=s)
    src = c.get("/api/sources/nvss/S0").json()
    assert src["n_measurements"] == 1
    found = c.get(
        "/api/sources",
        params={
            "ra_deg": float(t[0]["ra_deg"]) + 0.01,
            "dec_deg": float(t[0]["dec_deg"]),
            "radius_deg": 0.001,
        },
    ).json()
    assert found["items"][0]["catalog"] == "position"
    data_id = c.get("/api/images").json()["items"][0]["data_id"]
    r = c.post(
        "/api/photometry/measure-batch",
        json={"data_ids": [data_id], "positions": pos[:1]},
        headers=AUTH,
    )
    assert r.status_code == 202, r.text
    assert c.get(f"/api/batch/{r.json()['job_id']}").json()["total_items"] == 1
