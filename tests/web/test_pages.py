"""Each page in headless Chromium against a server over a pipeline-filled database."""

from __future__ import annotations

from urllib.parse import quote

from ..api.pipeline import CATALOG, N_EPOCHS
from .conftest import TOKEN

pytestmark = __import__("pytest").mark.slow


def _no_problems(page):
    assert page.external == [], page.external  # nothing fetched from outside (no CDN)
    assert page.errors == [], page.errors


def test_dashboard(page, server):
    base, pipe = server
    page.goto(base + "/")
    rows = page.locator("#images-table tbody tr")
    assert rows.count() == N_EPOCHS
    assert page.locator("#images-table .s-completed").count() == N_EPOCHS
    assert page.locator("#mosaics-table tbody tr").count() == 1
    completed = page.locator("#jobs-by-status tr", has_text="completed").locator("td")
    assert completed.inner_text() == "2"
    assert page.locator("#stream-card").is_visible()
    assert page.locator("#recent-jobs tbody tr").count() == 2
    # the newest image links to its page
    page.locator("#images-table tbody tr a").first.click()
    page.wait_for_url("**/images/**")
    assert page.locator("#measurements tbody tr").count() == 12
    _no_problems(page)


def test_image_page(page, server):
    base, pipe = server
    d = pipe.images[0]["data_id"]
    page.goto(f"{base}/images/{quote(d, safe='')}")
    page.wait_for_function("document.getElementById('preview').complete")
    width = page.eval_on_selector("#preview", "img => img.naturalWidth")
    assert width > 200  # the server-rendered preview arrived and decoded
    assert page.locator("#measurements tbody tr").count() == 12
    assert page.locator("#image-meta").inner_text().count(d) >= 1
    # sorting (on the server, whole list) and filtering work
    page.locator("#measurements th[data-sort=flux_jy] a").click()
    page.wait_for_url("**order=asc**")
    cells = page.locator("#measurements tbody tr td:nth-child(5)").all_inner_texts()
    fluxes = [float(c) for c in cells]
    assert fluxes == sorted(fluxes) and len(fluxes) == 12
    page.fill("#filter", pipe.truth[0]["source_id"])
    page.press("#filter", "Enter")
    page.wait_for_url("**search=**")
    visible = page.locator("#measurements tbody tr:visible")
    assert visible.count() == 1
    # CSV export
    href = page.get_attribute("#csv-export", "href")
    csv = page.request.get(base + href)
    assert csv.ok and csv.text().count("\n") == 13
    _no_problems(page)


def test_source_page_plot_zoom_and_series(page, server):
    base, pipe = server
    page.goto(f"{base}/sources/{CATALOG}/{quote(pipe.dipper, safe='')}")
    page.wait_for_selector("#lc-plot canvas")
    page.wait_for_function("document.getElementById('lc-plot').dataset.points !== undefined")
    assert page.get_attribute("#lc-plot", "data-points") == str(N_EPOCHS)
    # both series drawn: raw and normalized, with their legend
    legend = page.locator("#lc-plot .u-legend").inner_text()
    assert "raw (mJy)" in legend and "normalized (mJy)" in legend
    n_norm = page.evaluate("window.__lcPlot.data[2].filter(v => v !== null).length")
    assert n_norm == N_EPOCHS
    # the canvas has drawn pixels (not blank)
    drawn = page.evaluate(
        """() => { const c = document.querySelector('#lc-plot canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0;
                   for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                   return n; }"""
    )
    assert drawn > 1000
    # drag-zoom on x, then double-click to reset
    x0 = page.evaluate("[window.__lcPlot.scales.x.min, window.__lcPlot.scales.x.max]")
    page.locator("#lc-plot").scroll_into_view_if_needed()
    box = page.locator("#lc-plot .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y + 2, steps=8)
    page.mouse.up()
    x1 = page.evaluate("[window.__lcPlot.scales.x.min, window.__lcPlot.scales.x.max]")
    assert x1[1] - x1[0] < 0.6 * (x0[1] - x0[0])
    page.locator("#lc-plot .u-over").dblclick()
    x2 = page.evaluate("[window.__lcPlot.scales.x.min, window.__lcPlot.scales.x.max]")
    assert abs((x2[1] - x2[0]) - (x0[1] - x0[0])) < 1e-6
    # switch to the mosaic series: one point
    page.select_option("#series", "mosaic")
    page.wait_for_function("document.getElementById('lc-plot').dataset.series === 'mosaic'")
    assert page.get_attribute("#lc-plot", "data-points") == "1"
    # metrics, ESE status, cutouts
    assert page.locator("#metrics tbody tr").count() >= 5
    assert "active" in page.locator("#ese-status").inner_text()
    page.wait_for_function("document.getElementById('cutouts').dataset.loaded !== undefined")
    imgs = page.locator("#cutouts img")
    assert imgs.count() == N_EPOCHS  # one per epoch (one transit a day here)
    page.wait_for_function(
        "[...document.querySelectorAll('#cutouts img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    _no_problems(page)


def test_unknown_source_page_is_404(page, server):
    base, _ = server
    r = page.goto(f"{base}/sources/{CATALOG}/J000000%2B000000")
    assert r.status == 404
    assert "no measurements" in page.locator("main").inner_text()


def test_source_search(page, server):
    base, pipe = server
    t = pipe.truth[3]
    page.goto(f"{base}/sources?q={t['ra_deg']}+{t['dec_deg']}&radius=0.01")
    first = page.locator("#sources-table tbody tr").first
    assert t["source_id"] in first.inner_text()
    first.locator("a").click()
    page.wait_for_selector("#lc-plot canvas")
    _no_problems(page)


def test_ese_presets(page, server):
    base, pipe = server
    for preset in ("conservative", "moderate", "sensitive"):
        page.goto(f"{base}/ese?preset={preset}")
        assert page.locator("#ese-table tbody tr[data-id]").count() == 1
        assert page.locator("a.current").inner_text() == preset
    _no_problems(page)


def test_ese_confirm_dismiss_and_reopen(page, server):
    base, pipe = server
    page.goto(base + "/ese")
    rows = page.locator("#ese-table tbody tr")
    assert rows.count() == 1
    row = rows.first
    assert pipe.dipper in row.inner_text()
    assert "active" in row.locator(".status-cell").inner_text()
    # without the token the API refuses, and the page says so
    row.locator("button.confirm").click()
    page.wait_for_function("document.getElementById('ese-message').textContent.length > 0")
    assert "Bearer" in page.locator("#ese-message").inner_text()
    assert "active" in row.locator(".status-cell").inner_text()
    assert page.errors == [
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ]
    page.errors.clear()
    # with the token set in the header form
    page.fill("form.token input[name=token]", TOKEN)
    page.click("form.token button")
    row.locator(".note-box").fill("confirmed from the web UI")
    row.locator("button.confirm").click()
    page.wait_for_function(
        "document.querySelector('#ese-table .status-cell').textContent.includes('confirmed')"
    )
    page.reload()
    assert "confirmed" in page.locator("#ese-table .status-cell").first.inner_text()
    assert "confirmed from the web UI" in page.locator("#ese-table .note").first.inner_text()
    # a confirmed candidate offers only "Reopen"
    assert page.locator("#ese-table button.dismiss").first.is_hidden()
    assert page.locator("#ese-table button.confirm").first.is_hidden()
    page.locator("#ese-table button.reopen").first.click()
    page.wait_for_function(
        "document.querySelector('#ese-table .status-cell').textContent.includes('active')"
    )
    page.locator("#ese-table button.dismiss").first.click()
    page.wait_for_function(
        "document.querySelector('#ese-table .status-cell').textContent.includes('dismissed')"
    )
    page.goto(base + "/ese?status=dismissed")
    assert page.locator("#ese-table tbody tr").count() == 1
    page.locator("#ese-table .note-box").first.fill("reopened from the web UI")
    page.locator("#ese-table button.reopen").first.click()  # dismissed by mistake
    page.wait_for_function(
        "document.querySelector('#ese-table .status-cell').textContent.includes('active')"
    )
    page.goto(base + "/ese?status=active")
    assert "reopened from the web UI" in page.locator("#ese-table .note").first.inner_text()
    _no_problems(page)
