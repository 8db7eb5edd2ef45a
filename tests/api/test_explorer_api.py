"""The explorer's endpoints: the source list (sort, filter, search by name or position, export)
and the eta-V data, over the pipeline-filled database."""

from __future__ import annotations

import base64
import csv
import io
from urllib.parse import quote

import numpy as np
import pytest

from dsa110_contimg.catalog.names import parse_source_name
from dsa110_contimg.web.source_context import sexagesimal

from .pipeline import CATALOG, N_EPOCHS


def test_list_without_cone_sorted_and_paginated(client, pipeline):
    r = client.get("/api/sources", params={"limit": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(pipeline.truth) and len(body["items"]) == 5
    assert body["sort"] == "eta" and body["order"] == "desc"
    etas = [x["eta"] for x in body["items"]]
    assert etas == sorted(etas, reverse=True)
    assert body["items"][0]["source_id"] == pipeline.dipper  # the dip is the most variable
    nxt = client.get("/api/sources", params={"limit": 5, "offset": body["next_offset"]}).json()
    assert not {x["source_id"] for x in nxt["items"]} & {x["source_id"] for x in body["items"]}
    asc = client.get("/api/sources", params={"sort": "source_id", "order": "asc", "limit": 50})
    ids = [x["source_id"] for x in asc.json()["items"]]
    assert ids == sorted(t["source_id"] for t in pipeline.truth)
    one = asc.json()["items"][0]
    for key in ("ra_deg", "dec_deg", "n_points", "mean_flux_jy", "v", "vs", "m", "max_dip_sigma"):
        assert one[key] is not None, key
    assert one["n_measurements"] == N_EPOCHS + 1  # ten images and the mosaic


def test_filters(client, pipeline):
    every = client.get("/api/sources", params={"limit": 50}).json()["items"]
    cut = sorted(x["eta"] for x in every)[-3]
    got = client.get("/api/sources", params={"eta_min": cut}).json()
    assert got["total"] == 3
    vcut = sorted(x["v"] for x in every)[-2]
    assert client.get("/api/sources", params={"v_min": vcut}).json()["total"] == 2
    ese = client.get("/api/sources", params={"ese_status": "any"}).json()
    assert [x["source_id"] for x in ese["items"]] == [pipeline.dipper]
    refs = client.get("/api/sources", params={"reference": "true", "limit": 50}).json()
    assert {x["source_id"] for x in refs["items"]} <= set(pipeline.references)
    assert refs["total"] >= 3


@pytest.mark.parametrize("form", ["nvss", "j", "bare"])
def test_name_search_finds_the_ese_source(client, pipeline, form):
    sid = pipeline.dipper
    text = {"nvss": f"NVSS {sid}", "j": sid, "bare": sid[1:]}[form]
    r = client.get("/api/sources", params={"q": text})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"]["kind"] == "name"
    assert body["items"][0]["source_id"] == sid
    assert body["items"][0]["ese_status"] == "active"


def test_position_searches(client, pipeline):
    t = next(x for x in pipeline.truth if x["source_id"] == pipeline.dipper)
    sexa = sexagesimal(t["ra_deg"], t["dec_deg"])
    for q in (sexa, f"{t['ra_deg']:.5f} {t['dec_deg']:+.5f}"):
        body = client.get("/api/sources", params={"q": q, "radius": '5"'}).json()
        assert body["query"]["kind"] == "position", q
        assert [x["source_id"] for x in body["items"]] == [pipeline.dipper], q
        assert body["items"][0]["separation_deg"] < 5 / 3600
    wide = client.get("/api/sources", params={"q": "12:00:00 +55:00:00", "radius": "0.2"}).json()
    assert wide["total"] == len(pipeline.truth)
    seps = [x["separation_deg"] for x in wide["items"]]
    assert seps == sorted(seps)
    # the name's cell: a J-name truncated to whole seconds still finds the source
    coarse = parse_source_name(pipeline.dipper).source_id.split(".")[0] + "+"  # not a name
    assert client.get("/api/sources", params={"q": coarse}).status_code == 422


@pytest.mark.parametrize(
    "params, words",
    [
        ({"q": "M31"}, "neither a source name"),
        ({"q": "25:00:00 +10:00:00"}, "neither a source name"),
        ({"q": "180 55", "radius": "1 parsec"}, "cannot read the angle"),
        ({"q": "180 55", "radius": "50"}, "maximum"),
        ({"sort": "colour"}, None),
        ({"ra_deg": 10}, "both ra_deg and dec_deg"),
    ],
)
def test_bad_queries_are_422_with_a_message(client, params, words):
    r = client.get("/api/sources", params=params)
    assert r.status_code == 422
    msg = r.json()["error"]["message"]
    if words:
        assert words in msg, msg


def test_exports(client, pipeline):
    r = client.get("/api/sources", params={"eta_min": 0, "format": "csv", "limit": 2})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(pipeline.truth)  # the whole selection, not one page
    assert {"source_id", "eta", "v", "ese_status", "is_reference"} <= set(rows[0])
    v = client.get("/api/sources", params={"q": pipeline.dipper, "format": "votable"})
    assert v.status_code == 200
    from astropy.io.votable import parse_single_table

    table = parse_single_table(io.BytesIO(v.content)).to_table()
    assert list(table["source_id"]) == [pipeline.dipper]


def test_eta_v_data(client, pipeline):
    body = client.get("/api/variability/eta-v", params={"series": "epoch", "sigma": 2}).json()
    for key in ("eta", "v"):
        body[key] = np.frombuffer(base64.b64decode(body[key]), "<f4").tolist()
    assert body["count"] == len(pipeline.truth)
    assert len(body["eta"]) == len(body["v"]) == len(body["source_id"]) == body["count"]
    assert body["catalogs"] == [CATALOG]
    th = body["thresholds"]
    assert th["n_sigma"] == 2 and th["eta"] > 0 and th["v"] > 0
    i = body["source_id"].index(pipeline.dipper)
    assert body["eta"][i] == max(body["eta"])
    # the same values as the metrics, to float32 precision
    metrics = client.get(f"/api/sources/{CATALOG}/{quote(pipeline.dipper, safe='')}/metrics")
    epoch = next(m for m in metrics.json()["metrics"] if m["series"] == "epoch")
    assert body["eta"][i] == pytest.approx(epoch["eta"], rel=1e-6)
    assert body["v"][i] == pytest.approx(epoch["v"], rel=1e-6)
    assert body["ese_status"][i] == "active"
    assert client.get("/api/variability/eta-v", params={"sigma": -1}).status_code == 422
    # single-image metrics are opt-in (normalize.metric_series): none kept here
    image = client.get("/api/variability/eta-v", params={"series": "image"}).json()
    assert image["count"] == 0 and image["thresholds"]["eta"] is None


def test_median_flux_column_sorts_filters_and_exports(client, pipeline):
    body = client.get(
        "/api/sources", params={"sort": "median_flux_jy", "order": "asc", "limit": 100}
    ).json()
    meds = [x["median_flux_jy"] for x in body["items"]]
    assert None not in meds and meds == sorted(meds) and len(meds) == body["total"] > 3
    # the stored median is the median of the source's epoch light curve
    one = body["items"][len(meds) // 2]
    lc = client.get(
        f"/api/sources/{one['catalog']}/{quote(one['source_id'], safe='')}/lightcurve",
        params={"series": "epoch"},
    ).json()
    rows = lc["rows"] if "rows" in lc else lc["data"]
    f = [r["normalized_flux_jy"] for r in rows if r["normalized_flux_jy"] is not None]
    assert one["median_flux_jy"] == pytest.approx(float(np.median(f)), rel=1e-9)
    lo, hi = meds[1], meds[-2]
    got = client.get(
        "/api/sources", params={"median_flux_min": lo, "median_flux_max": hi, "limit": 100}
    ).json()
    assert got["total"] == len(meds) - 2
    assert all(lo <= x["median_flux_jy"] <= hi for x in got["items"])
    csv_rows = list(
        csv.DictReader(
            io.StringIO(
                client.get("/api/sources", params={"sort": "median_flux_jy", "format": "csv"}).text
            )
        )
    )
    assert float(csv_rows[0]["median_flux_jy"]) == pytest.approx(meds[-1])


@pytest.mark.parametrize("sort", ["eta", "median_flux_jy", "ese_score", "source_id"])
def test_cursor_pages_walk_every_source_once(client, pipeline, sort):
    full = client.get("/api/sources", params={"sort": sort, "limit": 100}).json()
    want = [x["source_id"] for x in full["items"]]
    assert len(want) == full["total"]
    got, cursor, n = [], None, 0
    while True:
        params = {"sort": sort, "limit": 4, **({"cursor": cursor} if cursor else {})}
        r = client.get("/api/sources", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        got += [x["source_id"] for x in page["items"]]
        cursor, n = page["next_cursor"], n + 1
        if cursor is None:
            break
    assert got == want and n == -(-len(want) // 4)
    # an offset page hands out cursors too: jump by offset, walk on by cursor
    mid = client.get("/api/sources", params={"sort": sort, "limit": 4, "offset": 4}).json()
    assert [x["source_id"] for x in mid["items"]] == want[4:8]
    on = client.get(
        "/api/sources", params={"sort": sort, "limit": 4, "cursor": mid["next_cursor"]}
    ).json()
    assert [x["source_id"] for x in on["items"]] == want[8:12]
    before = client.get(
        "/api/sources", params={"sort": sort, "limit": 4, "cursor": mid["prev_cursor"]}
    ).json()
    assert [x["source_id"] for x in before["items"]] == want[:4]
    assert before["prev_cursor"] is None
    back = client.get(
        "/api/sources", params={"sort": sort, "limit": 4, "cursor": page["prev_cursor"]}
    ).json()
    assert [x["source_id"] for x in back["items"]] == want[
        -len(page["items"]) - 4 : -len(page["items"])
    ]


@pytest.mark.parametrize(
    "extra, words",
    [
        ({"sort": "v"}, "sorted by eta desc"),
        ({"q": "12:00:00 +55:00:00"}, "offset, not by cursor"),
        ({"offset": 4}, "either a cursor or an offset"),
    ],
)
def test_misused_cursor_is_422(client, pipeline, extra, words):
    first = client.get("/api/sources", params={"limit": 2}).json()
    r = client.get("/api/sources", params={"limit": 2, "cursor": first["next_cursor"], **extra})
    assert r.status_code == 422
    assert words in r.json()["error"]["message"]
    junk = client.get("/api/sources", params={"cursor": "zz"})
    assert junk.status_code == 422 and "cannot be read" in junk.json()["error"]["message"]
