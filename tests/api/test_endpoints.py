"""Every endpoint against a database filled by a real (small) pipeline run."""

from __future__ import annotations

import io
from urllib.parse import quote

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.wcs import WCS

from .pipeline import CATALOG, DIP_DEPTH, DIP_EPOCHS, N_EPOCHS


def _src(p, sid):
    return next(t for t in p.truth if t["source_id"] == sid)


def test_health_and_metrics(client):
    h = client.get("/api/health").json()
    assert h["database"]["reachable"] is True
    assert h["jobs"]["completed"] == 2
    assert h["workers"]["alive"] == 0
    assert h["status"] == "ok"  # nothing waits, so no worker is needed
    m = client.get("/metrics")
    assert m.status_code == 200
    assert m.headers["content-type"].startswith("text/plain")
    lines = m.text.splitlines()
    assert 'contimg_jobs{status="completed"} 2' in lines
    assert 'contimg_jobs{status="failed"} 0' in lines
    rate = next(x for x in lines if x.startswith("contimg_measurements_per_minute "))
    # 11 images x 12 sources measured within the last 5 minutes
    assert float(rate.split()[1]) == pytest.approx(11 * 12 / 5)
    assert any(x.startswith("contimg_stream_lag_seconds ") for x in lines)
    assert any(x.startswith('contimg_http_requests_total{code="2xx"}') for x in lines)


def test_openapi_lists_the_endpoints(client):
    spec = client.get("/api/openapi.json").json()
    paths = set(spec["paths"])
    for p in (
        "/api/photometry/measure",
        "/api/photometry/measure-batch",
        "/api/photometry/normalize",
        "/api/batch",
        "/api/batch/{job_id}",
        "/api/batch/{job_id}/cancel",
        "/api/batch/{job_id}/retry",
        "/api/data",
        "/api/data/{data_id}",
        "/api/images",
        "/api/mosaics",
        "/api/images/{data_id}/preview.png",
        "/api/images/{data_id}/cutout.fits",
        "/api/sources",
        "/api/sources/{catalog}/{source_id}/lightcurve",
        "/api/sources/{catalog}/{source_id}/metrics",
        "/api/ese/candidates",
        "/api/ese/candidates/{candidate_id}/confirm",
        "/api/ese/candidates/{candidate_id}/reopen",
        "/api/health",
        "/metrics",
    ):
        assert p in paths, p
    assert client.get("/api/docs").status_code == 200


def test_registry_list_filters_and_pages(client, pipeline):
    r = client.get("/api/data", params={"limit": 4}).json()
    assert r["total"] == N_EPOCHS + 1 and len(r["items"]) == 4 and r["next_offset"] == 4
    seen = [x["data_id"] for x in r["items"]]
    offset = r["next_offset"]
    while offset is not None:
        r = client.get("/api/data", params={"limit": 4, "offset": offset}).json()
        seen += [x["data_id"] for x in r["items"]]
        offset = r["next_offset"]
    assert sorted(seen) == sorted([x["data_id"] for x in pipeline.images] + [pipeline.mosaic_id])
    mos = client.get("/api/data", params={"type": "mosaic"}).json()
    assert [x["data_id"] for x in mos["items"]] == [pipeline.mosaic_id]
    done = client.get("/api/data", params={"photometry_status": "completed"}).json()
    assert done["total"] == N_EPOCHS + 1
    assert client.get("/api/data", params={"photometry_status": "failed"}).json()["total"] == 0


def test_registry_detail(client, pipeline):
    d = pipeline.images[0]["data_id"]
    r = client.get(f"/api/data/{quote(d, safe='')}").json()
    assert r["data_id"] == d
    assert r["photometry_status"] == "completed"
    assert r["photometry_job"]["status"] == "completed"
    assert r["photometry_job_id"] == pipeline.job_ids[0]
    assert r["n_measurements"] == 12
    assert r["image"]["mjd_mid"] == pytest.approx(pipeline.images[0]["mjd"], abs=1e-6)


def test_jobs_list_and_detail(client, pipeline):
    r = client.get("/api/batch").json()
    assert [j["job_id"] for j in r["items"]] == sorted(pipeline.job_ids, reverse=True)
    assert client.get("/api/batch", params={"status": "failed"}).json()["total"] == 0
    j = client.get(f"/api/batch/{pipeline.job_ids[0]}").json()
    assert j["status"] == "completed"
    assert j["item_counts"] == {"completed": N_EPOCHS}
    assert j["errors"] == []
    assert "sources" not in j["params"]  # the job's source list is not served


def test_images_list_detail_and_measurements(client, pipeline):
    r = client.get("/api/images", params={"limit": 100}).json()
    assert r["total"] == N_EPOCHS
    assert all(x["kind"] == "image" for x in r["items"])
    mjds = [x["mjd_mid"] for x in r["items"]]
    assert mjds == sorted(mjds, reverse=True)
    assert client.get("/api/mosaics").json()["items"][0]["data_id"] == pipeline.mosaic_id
    img = pipeline.images[3]
    d = quote(img["data_id"], safe="")
    det = client.get(f"/api/images/{d}").json()
    assert det["photometry_status"] == "completed" and det["n_measurements"] == 12
    assert client.get(f"/api/mosaics/{d}").status_code == 404  # an image is not a mosaic
    rows = client.get(f"/api/images/{d}/photometry", params={"limit": 100}).json()["items"]
    assert len(rows) == 12
    # injection-recovery: each measured flux within 5 sigma of the simulated one
    for row in rows:
        t = _src(pipeline, row["source_id"])
        true = t["flux_jy"] * img["gain"]
        assert abs(row["flux_jy"] - true) < 5 * row["flux_err_jy"], row
    csv = client.get(f"/api/images/{d}/photometry", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("catalog,source_id,ra_deg,dec_deg")
    assert len(lines) == 13


def test_preview_png(client, pipeline):
    d = quote(pipeline.images[0]["data_id"], safe="")
    r = client.get(f"/api/images/{d}/preview.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
    again = client.get(f"/api/images/{d}/preview.png", params={"overlay": False, "max_side": 64})
    assert again.content[:8] == b"\x89PNG\r\n\x1a\n" and again.content != r.content


def test_fits_cutout_keeps_wcs(client, pipeline):
    t = pipeline.truth[0]
    d = quote(pipeline.images[0]["data_id"], safe="")
    r = client.get(
        f"/api/images/{d}/cutout.fits",
        params={"ra_deg": t["ra_deg"], "dec_deg": t["dec_deg"], "size_arcmin": 2},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/fits"
    with fits.open(io.BytesIO(r.content)) as hdul:
        data = hdul[0].data
        w = WCS(hdul[0].header)
        assert hdul[0].header["BUNIT"].upper() == "JY/BEAM"
        assert "BMAJ" in hdul[0].header and "DATE-OBS" in hdul[0].header
    assert data.shape == (40, 40)  # 2 arcmin at 3 arcsec/pixel
    # the cutout's WCS maps a sky position to the same pixel value as the original image's
    with fits.open(pipeline.images[0]["path"]) as orig:
        full = np.asarray(orig[0].data, dtype=float).squeeze()
        w0 = WCS(orig[0].header).celestial
    for dx, dy in ((0.0, 0.0), (0.004, -0.003), (-0.006, 0.005)):
        ra, dec = t["ra_deg"] + dx, t["dec_deg"] + dy
        x, y = (int(round(float(v))) for v in w.world_to_pixel_values(ra, dec))
        x0, y0 = (int(round(float(v))) for v in w0.world_to_pixel_values(ra, dec))
        assert data[y, x] == pytest.approx(full[y0, x0], rel=1e-6)
    x, y = (int(round(float(v))) for v in w.world_to_pixel_values(t["ra_deg"], t["dec_deg"]))
    assert data[y - 1 : y + 2, x - 1 : x + 2].max() == pytest.approx(
        t["flux_jy"] * pipeline.images[0]["gain"], rel=0.06
    )
    png = client.get(
        f"/api/images/{d}/cutout.png",
        params={"ra_deg": t["ra_deg"], "dec_deg": t["dec_deg"], "size_arcmin": 2},
    )
    assert png.content[:4] == b"\x89PNG"
    far = client.get(f"/api/images/{d}/cutout.fits", params={"ra_deg": 10, "dec_deg": -30})
    assert far.status_code == 422 and "outside" in far.json()["error"]["message"]
    big = client.get(
        f"/api/images/{d}/cutout.fits",
        params={"ra_deg": t["ra_deg"], "dec_deg": t["dec_deg"], "size_arcmin": 600},
    )
    assert big.status_code == 422 and "maximum" in big.json()["error"]["message"]


def test_cone_search(client, pipeline):
    t = pipeline.truth[2]
    r = client.get(
        "/api/sources", params={"ra_deg": t["ra_deg"], "dec_deg": t["dec_deg"], "radius_deg": 0.01}
    ).json()
    assert r["items"][0]["source_id"] == t["source_id"]
    assert r["items"][0]["separation_deg"] < 1e-4
    assert r["items"][0]["n_measurements"] == N_EPOCHS + 1  # ten images and the mosaic
    allsrc = client.get(
        "/api/sources", params={"ra_deg": 180, "dec_deg": 55, "radius_deg": 0.2, "limit": 5}
    ).json()
    assert allsrc["total"] == 12 and len(allsrc["items"]) == 5
    seps = [x["separation_deg"] for x in allsrc["items"]]
    assert seps == sorted(seps)


def test_source_detail_and_metrics(client, pipeline):
    sid = quote(pipeline.dipper, safe="")
    r = client.get(f"/api/sources/{CATALOG}/{sid}").json()
    assert r["source_id"] == pipeline.dipper and r["n_measurements"] == N_EPOCHS + 1
    assert r["ese"]["status"] == "active"
    m = client.get(f"/api/sources/{CATALOG}/{sid}/metrics").json()
    series = {x["series"]: x for x in m["metrics"]}
    assert series["epoch"]["n_points"] == N_EPOCHS
    assert series["epoch"]["max_dip_depth"] > 0.25


def test_lightcurve_formats(client, pipeline):
    sid = quote(pipeline.dipper, safe="")
    base = f"/api/sources/{CATALOG}/{sid}/lightcurve"
    lc = client.get(base).json()
    assert lc["count"] == N_EPOCHS
    assert {
        "mjd",
        "image",
        "flux_jy",
        "flux_err_jy",
        "normalized_flux_jy",
        "normalized_flux_err_jy",
    } <= set(lc["columns"])
    mjd = [r["mjd"] for r in lc["rows"]]
    assert mjd == sorted(mjd)
    norm = np.array([r["normalized_flux_jy"] for r in lc["rows"]], dtype=float)
    base_flux = np.median(norm[: min(DIP_EPOCHS)])
    dip = np.median(norm[list(DIP_EPOCHS)])
    assert dip / base_flux == pytest.approx(1 - DIP_DEPTH, abs=0.05)
    img = client.get(base, params={"series": "image"}).json()
    assert img["count"] == N_EPOCHS and "flags" in img["columns"]
    mos = client.get(base, params={"series": "mosaic"}).json()
    assert mos["count"] == 1 and mos["rows"][0]["image"] == pipeline.mosaic_id
    csv = client.get(base, params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("mjd,image,flux_jy")
    assert len(csv.text.strip().splitlines()) == N_EPOCHS + 1
    vo = client.get(base, params={"format": "votable"})
    assert vo.headers["content-type"].startswith("application/x-votable+xml")
    table = parse_single_table(io.BytesIO(vo.content)).to_table()
    assert len(table) == N_EPOCHS
    assert np.allclose(table["mjd"], mjd)


def test_source_id_with_slash_and_plus_is_addressable(client, pipeline):
    sid = pipeline.truth[0]["source_id"]
    assert "+" in sid
    r = client.get(f"/api/sources/{CATALOG}/{quote(sid, safe='')}")
    assert r.status_code == 200 and r.json()["source_id"] == sid
    missing = client.get(f"/api/sources/{CATALOG}/{quote('a/b c', safe='')}/lightcurve")
    assert missing.status_code == 404 and "a/b c" in missing.json()["error"]["message"]


def test_measure_one_position(client, pipeline):
    t = pipeline.truth[1]
    img = pipeline.images[2]
    rel = img["path"].relative_to(pipeline.data_root)
    for ref in (
        {"image_path": str(rel)},
        {"image_path": str(img["path"])},
        {"data_id": img["data_id"]},
    ):
        r = client.post(
            "/api/photometry/measure", json={**ref, "ra_deg": t["ra_deg"], "dec_deg": t["dec_deg"]}
        )
        assert r.status_code == 200, r.text
        m = r.json()
        assert abs(m["flux_jy"] - t["flux_jy"] * img["gain"]) < 5 * m["flux_err_jy"]
        assert m["flags"] == ""
    bad = client.post(
        "/api/photometry/measure", json={"data_id": "no-such", "ra_deg": 1.0, "dec_deg": 2.0}
    )
    assert bad.status_code == 404


def test_measure_on_a_non_fits_file_is_422(client, pipeline):
    junk = pipeline.data_root / "junk.fits"
    junk.write_bytes(b"this is not FITS")
    r = client.post(
        "/api/photometry/measure", json={"image_path": "junk.fits", "ra_deg": 1.0, "dec_deg": 2.0}
    )
    assert r.status_code == 422
    assert r.json()["error"]["type"] == "InvalidImageError"


def test_normalize_a_raw_measurement(client, pipeline):
    d = pipeline.images[4]["data_id"]
    r = client.post(
        "/api/photometry/normalize", json={"data_id": d, "flux_jy": 0.1, "flux_err_jy": 0.001}
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["normalized_flux_jy"] == pytest.approx(0.1 / out["factor"], rel=1e-9)
    assert out["factor"] == pytest.approx(pipeline.images[4]["gain"], abs=0.02)
    assert out["n_references"] >= 3
    missing = client.post(
        "/api/photometry/normalize", json={"data_id": "nope", "flux_jy": 0.1, "flux_err_jy": 0.001}
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["type"] == "NormalizationError"


def test_ese_candidates_list(client, pipeline):
    r = client.get("/api/ese/candidates").json()
    assert [c["source_id"] for c in r["items"]] == [pipeline.dipper]
    assert client.get("/api/ese/candidates", params={"status": "dismissed"}).json()["total"] == 0
    assert client.post("/api/ese/candidates/999/confirm").status_code == 404
    assert client.post("/api/ese/candidates/999/reopen").status_code == 404
