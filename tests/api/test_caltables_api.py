"""``GET /api/caltables`` (list, one, summary), ``contimg caltables list/show``, dashboard card."""

from __future__ import annotations

import json

import pytest

from dsa110_contimg.cli import main
from dsa110_contimg.database import register_image
from dsa110_contimg.database.caltables import (
    register_caltable,
    set_image_calibration,
    supersede_product,
)
from dsa110_contimg.simulation import make_fits_image


@pytest.fixture
def filled(settings, tmp_path):
    good = register_caltable(
        calibrator="3C286",
        transit_mjd=61000.25,
        validity_hours=12,
        tables={"K": tmp_path / "a.K", "B": tmp_path / "a.B", "G": tmp_path / "a.G"},
        snr_median=85.0,
        flagged_fraction=0.03,
        antennas_flagged=[7],
        n_antennas=24,
        delay_scatter_ns=0.04,
        group_key="2026-01-01T06:00:00",
        settings=settings,
    )
    bad = register_caltable(
        calibrator="3C48",
        transit_mjd=61000.5,
        validity_hours=12,
        tables={"K": tmp_path / "b.K"},
        status="refused",
        reason="median SNR 4 < 10",
        snr_median=4.0,
        settings=settings,
    )
    ids = []
    for name in ("u", "c", "p"):
        path = tmp_path / f"{name}-image-pb.fits"
        make_fits_image(path, shape=(64, 64), n_sources=1)
        ids.append(register_image(path, settings=settings))
    set_image_calibration(ids[0], "uncalibrated", settings=settings)
    set_image_calibration(ids[1], "calibrated", good.id, settings=settings)
    supersede_product(ids[0], ids[1], settings=settings)
    return settings, good, bad, ids


def test_api_list_one_and_summary(filled):
    from fastapi.testclient import TestClient

    from dsa110_contimg.api import create_app

    settings, good, bad, ids = filled
    with TestClient(create_app(settings)) as c:
        r = c.get("/api/caltables")
        assert r.status_code == 200
        body = r.json()
        assert body["total"] == 2 and [x["id"] for x in body["items"]] == [bad.id, good.id]
        r = c.get("/api/caltables", params={"status": "refused"})
        assert [x["reason"] for x in r.json()["items"]] == ["median SNR 4 < 10"]
        assert c.get("/api/caltables", params={"status": "bogus"}).status_code == 422
        one = c.get(f"/api/caltables/{good.id}").json()
        assert one["calibrator"] == "3C286" and one["antennas_flagged"] == [7]
        assert one["n_images"] == 1 and one["images"][0]["data_id"] == ids[1]
        assert one["b_path"].endswith("a.B")
        r = c.get("/api/caltables/999")
        assert r.status_code == 404 and "999" in r.json()["error"]["message"]
        s = c.get("/api/caltables/summary").json()
        assert s["latest_valid"]["id"] == good.id and s["latest_refused"]["id"] == bad.id
        assert s["images"] == {"calibrated": 1, "precalibrated": 1, "uncalibrated": 1}
        assert s["superseded"] == 1 and s["waiting_groups"] == 0
        # the dashboard card
        html = c.get("/").text
        assert 'id="calibration-card"' in html and "median SNR 4 &lt; 10" in html
        assert "3C286" in html


def test_cli_list_and_show(filled, capsys):
    settings, good, bad, ids = filled
    base = ["--state-dir", str(settings.state_dir)]
    assert main([*base, "caltables", "list", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"] == 2 and out["items"][0]["status"] == "refused"
    assert main([*base, "caltables", "list", "--status", "valid"]) == 0
    text = capsys.readouterr().out
    assert "3C286" in text and "3C48" not in text
    assert main([*base, "caltables", "show", str(good.id)]) == 0
    text = capsys.readouterr().out
    assert "G table" in text and ids[1] in text and "images calibrated" in text
    assert main([*base, "caltables", "show", str(good.id), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["g_path"].endswith("a.G") and out["n_images"] == 1
    assert main([*base, "caltables", "show", "999"]) == 2
    assert "no calibration solution set 999" in capsys.readouterr().err
    assert main([*base, "caltables", "list", "--status", "nope"]) == 2
