"""The variability explorer in headless Chromium: list pages, the source list and its searches,
the eta-V plot, the source page's strip, the ESE review, the offline API docs."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from dsa110_contimg.web.source_context import sexagesimal

from ..api.pipeline import CATALOG, N_EPOCHS
from .conftest import TOKEN

pytestmark = pytest.mark.slow


def _no_problems(page):
    assert page.external == [], page.external  # nothing fetched from outside (no CDN)
    assert page.errors == [], page.errors


def _pages(pipe):
    src = f"/sources/{CATALOG}/{quote(pipe.dipper, safe='')}"
    return [
        "/",
        "/images",
        "/mosaics",
        "/jobs",
        f"/jobs/{pipe.job_ids[0]}",
        "/sources",
        "/variability",
        "/ese",
        "/docs/variability",
        src,
        f"/images/{quote(pipe.images[0]['data_id'], safe='')}",
        f"/mosaics/{quote(pipe.mosaic_id, safe='')}",
    ]


def test_every_page_loads_without_errors_or_external_requests(page, server):
    base, pipe = server
    for path in _pages(pipe):
        r = page.goto(base + path)
        assert r.status == 200, path
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").count() == 1, path
        _no_problems(page)


def test_api_docs_render_offline(page, server):
    base, _ = server
    page.goto(base + "/api/docs")
    page.wait_for_selector("#swagger-ui .info .title")
    assert "DSA-110" in page.locator("#swagger-ui .info .title").inner_text()
    page.wait_for_selector("#swagger-ui .opblock")  # the operations rendered from openapi.json
    _no_problems(page)


def test_images_list_paginates_and_sorts(page, server):
    base, pipe = server
    page.goto(base + "/images?limit=4")
    rows = page.locator("#images-list tbody tr")
    assert rows.count() == 4
    assert f"1–4 of {N_EPOCHS}" in page.locator("#pager-top").inner_text()
    first = rows.all_inner_texts()
    page.locator("#pager-top a[rel=next]").click()
    page.wait_for_url("**offset=4**")
    second = page.locator("#images-list tbody tr").all_inner_texts()
    assert len(second) == 4 and not set(first) & set(second)
    # sort by observation time, oldest first
    page.locator("#images-list th[data-sort=mjd] a").click()
    page.wait_for_url("**sort=mjd**")
    if "order=desc" in page.url:
        page.locator("#images-list th[data-sort=mjd] a").click()
        page.wait_for_url("**order=asc**")
    mjds = [float(x.split()[0]) for x in page.locator("#images-list .mjd").all_inner_texts()]
    assert mjds == sorted(mjds)
    ids = page.locator("#images-list tbody tr td:first-child").all_inner_texts()
    assert ids[0] == pipe.images[0]["data_id"]
    # the normalization factor column is filled, wall-clock time is ISO 8601 UTC
    assert "refs" in page.locator("#images-list tbody tr").first.inner_text()
    assert page.locator("#images-list time").first.inner_text().endswith("Z")
    _no_problems(page)


def test_mosaics_and_jobs_lists(page, server):
    base, pipe = server
    page.goto(base + "/mosaics")
    assert page.locator("#mosaics-list tbody tr").count() == 1
    assert pipe.mosaic_id in page.locator("#mosaics-list").inner_text()
    page.goto(base + "/jobs?limit=1")
    assert page.locator("#jobs-list tbody tr").count() == 1
    assert "1–1 of 2" in page.locator("#pager-top").inner_text()
    page.locator("#jobs-list th[data-sort=id] a").click()  # toggles newest-first to oldest
    page.wait_for_url("**order=asc**")
    assert page.locator("#jobs-list tbody tr td").first.inner_text() == str(pipe.job_ids[0])
    page.locator("#jobs-list tbody tr a").first.click()
    page.wait_for_url(f"**/jobs/{pipe.job_ids[0]}")
    assert "completed" in page.locator("#job-meta").inner_text()
    _no_problems(page)


def test_sources_table_sorts_and_paginates(page, server):
    base, pipe = server
    page.goto(base + "/sources?limit=5")
    rows = page.locator("#sources-table tbody tr")
    assert rows.count() == 5
    assert pipe.dipper in rows.first.inner_text()  # highest eta first
    assert "1–5 of 12" in page.locator("#pager-top").inner_text()
    first = page.locator("#sources-table tbody tr td:first-child").all_inner_texts()
    page.locator("#pager-top a[rel=next]").click()
    page.wait_for_url("**cursor=**")  # the list pages by cursor
    second = page.locator("#sources-table tbody tr td:first-child").all_inner_texts()
    assert len(second) == 5 and not set(first) & set(second)
    second_url = page.url
    page.locator("#pager-top a[rel=prev]").click()
    page.wait_for_url(lambda u: u != second_url and "cursor=" in u)
    assert page.locator("#sources-table tbody tr td:first-child").all_inner_texts() == first
    assert page.locator("th[data-sort=median_flux_jy]").count() == 1
    page.locator("#sources-table th[data-sort=source_id] a").click()
    page.wait_for_url("**sort=source_id**")
    cells = page.locator("#sources-table tbody tr td:first-child").all_inner_texts()
    names = [t.split()[1] for t in cells]
    assert names == sorted(names, reverse=True)
    # the export link carries the selection
    href = page.get_attribute("#export-csv", "href")
    csv = page.request.get(base + href)
    assert csv.ok and csv.text().count("\n") == 13
    _no_problems(page)


@pytest.mark.parametrize("form", ["nvss name", "bare name", "sexagesimal"])
def test_searches_find_the_ese_source(page, server, form):
    base, pipe = server
    t = next(x for x in pipe.truth if x["source_id"] == pipe.dipper)
    text = {
        "nvss name": f"NVSS {pipe.dipper}",
        "bare name": pipe.dipper[1:],
        "sexagesimal": sexagesimal(t["ra_deg"], t["dec_deg"]),
    }[form]
    page.goto(base + "/sources")
    page.fill("#q", text)
    if form == "sexagesimal":
        page.fill("#radius", '10"')
    page.click("#source-search button[type=submit]")
    page.wait_for_url("**q=**")
    first = page.locator("#sources-table tbody tr").first
    assert pipe.dipper in first.inner_text()
    assert "active" in first.inner_text()
    first.locator("a").first.click()
    page.wait_for_selector("#lc-plot canvas")
    _no_problems(page)


def test_bad_search_shows_a_readable_message(page, server):
    base, _ = server
    r = page.goto(base + "/sources?q=somewhere+over+the+rainbow")
    assert r.status == 400
    msg = page.locator("#search-error").inner_text()
    assert "neither a source name" in msg and "{" not in msg
    assert page.locator("#source-search").is_visible()  # the form is still there to fix it
    r = page.goto(base + "/sources?q=180+55&radius=2+parsecs")
    assert r.status == 400 and "angle" in page.locator("#search-error").inner_text()


def test_eta_v_plot_draws_and_click_opens_the_source(page, server):
    base, pipe = server
    page.goto(base + "/variability")
    page.wait_for_function("document.getElementById('etav').dataset.drawn === '12'")
    drawn = page.evaluate(
        """() => { const c = document.getElementById('etav');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0;
                   for (let i = 0; i < d.length; i += 4) if (d[i] < 200) n++;
                   return n; }"""
    )
    assert drawn > 1000  # axes, points and threshold lines are on the canvas
    assert "thresholds at 3" in page.locator("#etav-status").inner_text()
    pt = page.evaluate(f"contimgEtaV.pointOf({pipe.dipper!r})")
    page.mouse.move(pt["x"], pt["y"])
    assert pipe.dipper in page.locator("#etav-tip").inner_text()
    page.mouse.click(pt["x"], pt["y"])
    page.wait_for_url(f"**/sources/{CATALOG}/**")
    assert pipe.dipper in page.locator("h1").inner_text()
    # another sigma redraws with other thresholds
    page.goto(base + "/variability?sigma=1")
    page.wait_for_function("document.getElementById('etav').dataset.drawn === '12'")
    assert "thresholds at 1" in page.locator("#etav-status").inner_text()
    _no_problems(page)


def test_source_page_strip_dip_and_units(page, server):
    base, pipe = server
    page.goto(f"{base}/sources/{CATALOG}/{quote(pipe.dipper, safe='')}")
    page.wait_for_function("document.getElementById('cutouts').dataset.loaded === '10'")
    page.wait_for_function(
        "[...document.querySelectorAll('#cutouts img')]"
        ".every(i => i.complete && i.naturalWidth >= 128)"
    )
    assert page.evaluate("LC_OPTS.dip !== null && LC_OPTS.dip.start < LC_OPTS.dip.end")
    metrics = page.locator("#metrics").inner_text()
    assert "mean flux (mJy)" in metrics and "Jy" not in metrics.replace("mJy", "")
    assert page.locator("#neighbours tbody tr").count() >= 1
    assert (
        "not ingested" in page.locator("#catalog-facts").inner_text()
        or page.locator("#spectral-index").count()
    )
    _no_problems(page)


def test_ese_review_thumbnail_note_and_csv(page, server):
    base, pipe = server
    page.goto(base + "/ese")
    page.wait_for_function(
        "document.querySelector('#ese-table canvas.thumb').dataset.points !== undefined"
    )
    assert page.get_attribute("#ese-table canvas.thumb", "data-points") == str(N_EPOCHS)
    heads = page.locator("#ese-table thead th[title]").count()
    assert heads >= 6  # statistics in columns, each with its definition on hover
    csv = page.request.get(base + page.get_attribute("#ese-csv", "href"))
    assert csv.ok and pipe.dipper in csv.text()
    # a decision with a typed note is stored with it
    page.fill("form.token input[name=token]", TOKEN)
    page.click("form.token button")
    row = page.locator("#ese-table tbody tr").first
    status = row.get_attribute("data-status")
    note = "scintillation? compare with VLASS epoch 3"
    row.locator(".note-box").fill(note)
    button = "button.reopen" if status != "active" else "button.dismiss"
    row.locator(button).click()
    page.wait_for_function(
        "document.querySelector('#ese-table tbody tr').dataset.status !== " + repr(status)
    )
    stored = page.request.get(base + "/api/ese/candidates").json()["items"][0]
    assert stored["note"] == note
    # put it back as it was for the other tests
    back = "button.dismiss" if status != "active" else "button.reopen"
    page.locator("#ese-table tbody tr").first.locator(back).click()
    page.wait_for_function(
        "document.querySelector('#ese-table tbody tr').dataset.status === 'active'"
        if status == "active"
        else "document.querySelector('#ese-table tbody tr').dataset.status !== 'active'"
    )
    _no_problems(page)
