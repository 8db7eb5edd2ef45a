"""Issue 15: long path components are 4xx, cross-site / unknown-Host writes are refused,
responses show paths relative to the data roots."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app
from dsa110_contimg.config import Settings
from dsa110_contimg.database import dispose_engine
from dsa110_contimg.jobs import create_batch_photometry_job
from dsa110_contimg.simulation import make_fits_image


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.delenv("CONTIMG_API__ALLOWED_HOSTS", raising=False)
    root = tmp_path / "data"
    (root / "night1").mkdir(parents=True)
    img = root / "night1" / "img.fits"
    truth = make_fits_image(img, shape=(64, 64), n_sources=2, seed=4)
    s = Settings(state_dir=tmp_path / "state", api={"data_roots": [root]})
    coords = [(float(r), float(d)) for r, d in zip(truth["ra_deg"], truth["dec_deg"], strict=False)]
    job_id = create_batch_photometry_job([img], coords, settings=s)
    yield s, root, img, job_id
    dispose_engine(s)


def _client(s, host="127.0.0.1:8110"):
    return TestClient(create_app(s), base_url=f"http://{host}", raise_server_exceptions=False)


def test_path_component_over_255_chars_is_a_4xx(setup):
    s, *_ = setup
    with _client(s) as c:
        body = {"image_path": "a" * 300 + ".fits", "ra_deg": 1.0, "dec_deg": 2.0}
        r = c.post("/api/photometry/measure", json=body)
        assert 400 <= r.status_code < 500, r.text
        assert "255" in r.json()["error"]["message"]
        r = c.post("/api/photometry/measure", json={**body, "image_path": "night1/" + "b" * 300})
        assert 400 <= r.status_code < 500
        r = c.get("/api/data/" + "c" * 300)
        assert 400 <= r.status_code < 500


@pytest.mark.parametrize(
    "headers,status",
    [
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Host": "evil.example"}, 421),
        ({"Host": "evil.example:8110", "Origin": "http://evil.example:8110"}, 421),
    ],
)
def test_cross_site_and_unknown_host_writes_are_refused(setup, headers, status):
    s, _, _, job_id = setup
    with _client(s) as c:
        r = c.post(f"/api/batch/{job_id}/cancel", headers=headers)
        assert r.status_code == status, r.text
        assert r.json()["error"]["status"] == status
        assert c.get(f"/api/batch/{job_id}").json()["status"] == "pending"  # not cancelled


@pytest.mark.parametrize(
    "host,headers",
    [
        ("127.0.0.1:8110", {"Origin": "http://127.0.0.1:8110", "Sec-Fetch-Site": "same-origin"}),
        ("localhost:8110", {}),
        ("[::1]:8110", {"Origin": "http://[::1]:8110"}),
    ],
)
def test_same_origin_writes_pass(setup, host, headers):
    s, _, _, job_id = setup
    with _client(s, host) as c:
        r = c.post(f"/api/batch/{job_id}/cancel", headers=headers)
        assert r.status_code == 200, r.text
        assert c.get(f"/api/batch/{job_id}").json()["status"] == "cancelled"


def test_allowed_hosts_setting_adds_names(setup, monkeypatch):
    s, root, _, job_id = setup
    with _client(s, "pipeline.ovro.example") as c:
        assert c.post(f"/api/batch/{job_id}/cancel").status_code == 421
    monkeypatch.setenv("CONTIMG_API__ALLOWED_HOSTS", '["pipeline.ovro.example"]')
    s2 = Settings(state_dir=s.state_dir, api={"data_roots": [root]})
    assert s2.api.allowed_hosts == ["pipeline.ovro.example"]
    with _client(s2, "pipeline.ovro.example") as c:
        assert c.post(f"/api/batch/{job_id}/cancel").status_code == 200
    dispose_engine(s2)


def test_reads_are_not_affected(setup):
    s, *_ = setup
    with _client(s, "anything.example") as c:
        assert c.get("/api/batch").status_code == 200


def test_responses_give_paths_relative_to_the_data_root(setup):
    s, root, img, job_id = setup
    with _client(s) as c:
        listed = c.get("/api/data").text
        assert str(root.resolve()) not in listed and "night1/img.fits" in listed
        # a path read from a response can be sent back
        body = {"image_path": "night1/img.fits", "ra_deg": 1.0, "dec_deg": 2.0}
        assert c.post("/api/photometry/measure", json=body).status_code in (200, 422)
