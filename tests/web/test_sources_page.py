"""The /sources page without a browser: its pager walks the list by cursor (every source once,
in order, and back), the median flux column and its filter (mJy on the page, Jy in the API)."""

from __future__ import annotations

import html
import re

import pytest

from dsa110_contimg.photometry.normalize import normalize_all
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry


@pytest.fixture
def client(settings):
    from fastapi.testclient import TestClient

    from dsa110_contimg.api import create_app

    sim = simulate_lightcurves(n_epochs=10, n_references=10, targets=[{"snr": 60}] * 7, seed=4)
    write_simulated_photometry(sim, settings=settings)
    normalize_all(settings=settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _ids(page: str) -> list[str]:
    body = page.split('id="sources-table"', 1)[1]
    return re.findall(r'<a href="/sources/nvss/([^"]+)">', body)


def _link(page: str, rel: str) -> str | None:
    m = re.search(
        rf'<nav class="pager" id="pager-top">.*?<a rel="{rel}" href="([^"]+)"', page, re.S
    )
    return html.unescape(m.group(1)) if m else None


def test_pager_walks_by_cursor_and_back(client):
    every = client.get("/api/sources", params={"sort": "median_flux_jy", "limit": 100}).json()
    want = [x["source_id"].replace("+", "%2B") for x in every["items"]]
    first = client.get("/sources", params={"sort": "median_flux_jy", "limit": 4})
    assert first.status_code == 200
    assert "1–4 of 17" in first.text
    assert _link(first.text, "prev") is None
    got, pages, page = _ids(first.text), [first.text], first.text
    while (nxt := _link(page, "next")) is not None:
        assert "cursor=" in nxt and "offset" not in nxt
        page = client.get(nxt).text
        pages.append(page)
        got += _ids(page)
    assert got == want and len(pages) == 5
    back = client.get(_link(pages[-1], "prev")).text
    assert _ids(back) == _ids(pages[-2])
    assert "4 of 17" in back


def test_median_column_and_filter(client):
    every = client.get("/api/sources", params={"sort": "median_flux_jy", "limit": 100}).json()
    meds = sorted(x["median_flux_jy"] for x in every["items"])
    page = client.get("/sources", params={"sort": "median_flux_jy", "order": "asc"}).text
    assert "median flux (mJy)" in page
    assert f"{meds[0] * 1e3:.2f}" in page
    lo_mjy = meds[3] * 1e3
    got = client.get("/sources", params={"median_min_mjy": f"{lo_mjy:.9f}", "limit": 100})
    assert got.status_code == 200
    assert len(_ids(got.text)) == len(meds) - 3
    export = re.search(r'id="export-csv" href="([^"]+)"', got.text).group(1)
    assert "median_flux_min=" in html.unescape(export)
    bad = client.get("/sources", params={"median_min_mjy": "lots"})
    assert bad.status_code == 400 and "must be a number" in bad.text
    stale = client.get("/sources", params={"sort": "eta", "cursor": "zz"})
    assert stale.status_code == 400 and "cannot be read" in stale.text
