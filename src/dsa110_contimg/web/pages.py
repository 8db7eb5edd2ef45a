"""HTML pages: dashboard, image page, source page, source search, ESE candidates.

Pages are rendered on the server from the same read queries as the JSON API
(:mod:`dsa110_contimg.api.queries`); the light-curve plot and the ESE buttons are small
scripts (``static/app.js``) that call the JSON API. The plotting library, uPlot, is vendored
under ``static/vendor`` (see ``static/VENDORED.md``): no CDN is used at run time.
"""

import math
from pathlib import Path
from urllib.parse import quote, urlencode

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

__all__ = ["install"]

_HERE = Path(__file__).parent


def _fmt(value, digits: int = 4) -> str:
    """Format a number for a table cell (empty for None/NaN)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.{digits - 1}e}"
        return (
            f"{value:.{digits}g}"
            if abs(value) < 1
            else f"{value:.{digits}f}".rstrip("0").rstrip(".")
        )
    return str(value)


def _mjd(value) -> str:
    return "" if value is None else f"{value:.5f}"


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fixed(value, digits: int = 2) -> str:
    """Format a number with a fixed number of decimals (empty for None/NaN)."""
    return f"{value:.{digits}f}" if _finite(value) else ""


def _sig(value, digits: int = 3) -> str:
    """Format a number with ``digits`` significant digits (for values spanning decades)."""
    return f"{value:.{digits}g}" if _finite(value) else ""


def _mjy(value_jy, digits: int = 2) -> str:
    """Format a flux density in Jy as mJy with ``digits`` decimals (the pages' one unit)."""
    return f"{value_jy * 1e3:.{digits}f}" if _finite(value_jy) else ""


def _iso(unix_s) -> str:
    """Format a wall-clock time (Unix seconds) as ISO 8601 UTC (empty for None/NaN).

    Examples
    --------
    >>> _iso(0.0), _iso(1796553000.0), _iso(None)
    ('1970-01-01T00:00:00Z', '2026-12-06T10:30:00Z', '')
    """
    if not _finite(unix_s):
        return ""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mjd_iso(mjd) -> str:
    """Format an observation MJD (UTC) as ISO 8601 UTC.

    Examples
    --------
    >>> _mjd_iso(60735.25)
    '2025-03-01T06:00:00Z'
    """
    if not _finite(mjd):
        return ""
    return _iso((mjd - 40587.0) * 86400.0)


def _spread(items: list, n: int) -> list:
    """Pick ``n`` items spread evenly over a list (first and last included)."""
    if len(items) <= n:
        return items
    idx = sorted({round(i * (len(items) - 1) / (n - 1)) for i in range(n)})
    return [items[i] for i in idx]


def render_markdown(path: Path) -> str:
    """Render a packaged Markdown page (``web/docs``) to HTML, headings given their anchors.

    ``## Title {#anchor}`` gives the heading ``id="anchor"`` so pages can link to a section.
    """
    import re

    from markdown_it import MarkdownIt
    from markupsafe import Markup

    text = path.read_text(encoding="utf-8")
    title, _, rest = text.partition("\n")
    if title.startswith("# "):  # the page's h1 is the page title
        text = rest
    anchors: dict[str, str] = {}

    def strip(m):
        anchors[m.group(1).strip()] = m.group(2)
        return m.group(1).rstrip()

    text = re.sub(r"^(#{1,6} .*?)\s*\{#([\w-]+)\}\s*$", strip, text, flags=re.M)
    html = MarkdownIt("commonmark").enable("table").render(text)
    for heading, anchor in anchors.items():
        level = len(heading) - len(heading.lstrip("#"))
        title = heading[level:].strip()
        html = html.replace(
            f"<h{level}>{title}</h{level}>", f'<h{level} id="{anchor}">{title}</h{level}>', 1
        )
    return Markup(html)


def _source_pager(listing, result: dict, cursor: str | None) -> dict:
    """Return the /sources pager: by cursor for the list, by offset for a search's results."""
    n = len(result["items"])
    if result.get("query") is not None:
        return {**listing.page_urls(result["total"], n), "n_items": n}
    return listing.cursor_page_urls(result["total"], n, result, cursor)


def install(app) -> None:
    """Add the pages and the ``/static`` files to ``app``."""
    from fastapi.staticfiles import StaticFiles
    from fastapi.templating import Jinja2Templates
    from starlette.concurrency import run_in_threadpool

    from ..api import queries
    from ..api.deps import Page
    from ..database import get_engine
    from ..errors import ContimgError, NotFoundError
    from .definitions import DEFINITIONS
    from .listing import BadListRequest, Listing, read_listing
    from .source_context import source_context

    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.filters["fmt"] = _fmt
    templates.env.filters["mjd"] = _mjd
    templates.env.filters["fixed"] = _fixed
    templates.env.filters["sig"] = _sig
    templates.env.filters["mjy"] = _mjy
    templates.env.filters["iso"] = _iso
    templates.env.filters["mjd_iso"] = _mjd_iso
    templates.env.filters["q"] = lambda s: quote(str(s), safe="")
    templates.env.globals["token_required"] = app.state.settings.api.token is not None
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")

    def engine(request: Request):
        return get_engine(request.app.state.settings)

    def render(request: Request, name: str, http_status: int = 200, **context) -> HTMLResponse:
        context.setdefault("defs", DEFINITIONS)
        return templates.TemplateResponse(request, name, context, status_code=http_status)

    def not_found(request: Request, message: str) -> HTMLResponse:
        return render(request, "error.html", http_status=404, title="Not found", message=message)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(request: Request):
        eng = engine(request)
        from ..api.routes.health import _workers
        from ..database.caltables import calibration_summary

        ctx = {
            "stream": queries.stream_status(request.app.state.settings),
            "jobs": queries.count_by_status(eng),
            "recent_jobs": queries.list_jobs(request.app.state.settings, Page(10, 0))["items"],
            "images": queries.list_images(eng, Page(15, 0), kind="image", sort="created"),
            "mosaics": queries.list_images(eng, Page(10, 0), kind="mosaic", sort="created"),
            "workers": _workers(request.app.state.settings),
            "rate": queries.measurements_per_minute(eng),
            "calibration": calibration_summary(settings=request.app.state.settings),
        }
        from ..catalog.coverage import reference_report  # issue 14: too few references

        ctx["references"] = reference_report(settings=request.app.state.settings)
        return render(request, "dashboard.html", title="Dashboard", **ctx)

    def bad_request(request: Request, message: str) -> HTMLResponse:
        return render(request, "error.html", http_status=400, title="Bad request", message=message)

    def _image_page(request: Request, data_id: str, kind: str):
        eng = engine(request)
        try:
            rec = queries.get_image_record(eng, data_id, kind=kind)
        except NotFoundError as exc:
            return not_found(request, str(exc))
        try:
            listing = read_listing(
                request,
                sorts=queries.MEASUREMENT_COLUMNS,
                default_sort="flux_jy",
                default_limit=100,
                filters=("search",),
            )
            rows = queries.image_photometry(
                eng,
                data_id,
                Page(listing.limit, listing.offset),
                sort=listing.sort,
                order=listing.order,
                search=listing.filters.get("search"),
            )
        except BadListRequest as exc:
            return bad_request(request, str(exc))
        prefix = "/api/mosaics" if kind == "mosaic" else "/api/images"
        return render(
            request,
            "image.html",
            title=f"{kind.title()} {data_id}",
            rec=rec,
            rows=rows,
            listing=listing,
            api=f"{prefix}/{quote(data_id, safe='')}",
        )

    def _image_list(request: Request, kind: str):
        try:
            listing = read_listing(
                request,
                sorts=queries.IMAGE_SORTS,
                default_sort="mjd",
                filters=("status", "qa_status"),
            )
        except BadListRequest as exc:
            return bad_request(request, str(exc))
        result = queries.list_images(
            engine(request),
            Page(listing.limit, listing.offset),
            kind=kind,
            sort=listing.sort,
            order=listing.order,
            status=listing.filters.get("status"),
            qa_status=listing.filters.get("qa_status"),
        )
        title = "Mosaics" if kind == "mosaic" else "Images"
        return render(
            request, "images.html", title=title, kind=kind, listing=listing, result=result
        )

    @app.get("/images", response_class=HTMLResponse, include_in_schema=False)
    def images_list(request: Request):
        return _image_list(request, "image")

    @app.get("/mosaics", response_class=HTMLResponse, include_in_schema=False)
    def mosaics_list(request: Request):
        return _image_list(request, "mosaic")

    @app.get("/jobs", response_class=HTMLResponse, include_in_schema=False)
    def jobs_list(request: Request):
        try:
            listing = read_listing(
                request, sorts=queries.JOB_SORTS, default_sort="id", filters=("status",)
            )
        except BadListRequest as exc:
            return bad_request(request, str(exc))
        result = queries.list_jobs_table(
            engine(request),
            Page(listing.limit, listing.offset),
            sort=listing.sort,
            order=listing.order,
            status=listing.filters.get("status"),
        )
        return render(request, "jobs.html", title="Jobs", listing=listing, result=result)

    @app.get("/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
    def job_page(request: Request, job_id: str):
        if not job_id.isdigit() or int(job_id) > 2**62:
            return not_found(request, f"job {job_id!r} does not exist (job ids are numbers)")
        try:
            job = queries.get_job(request.app.state.settings, int(job_id))
        except NotFoundError as exc:
            return not_found(request, str(exc))
        return render(request, "job.html", title=f"Job {job_id}", job=job)

    @app.get("/images/{data_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def image_page(request: Request, data_id: str):
        if not data_id:
            return images_list(request)
        return _image_page(request, data_id, "image")

    @app.get("/mosaics/{data_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def mosaic_page(request: Request, data_id: str):
        if not data_id:
            return mosaics_list(request)
        return _image_page(request, data_id, "mosaic")

    @app.get("/sources", response_class=HTMLResponse, include_in_schema=False)
    def source_search(request: Request):
        from ..catalog.names import QueryParseError
        from ..database.source_lists import METRIC_SORTS, SOURCE_SORTS, BadCursor

        filters = (
            "q",
            "radius",
            "series",
            "eta_min",
            "v_min",
            "median_min_mjy",
            "median_max_mjy",
            "ese_status",
            "reference",
        )
        series = request.query_params.get("series") or "epoch"
        ctx = dict(
            title="Sources",
            result=None,
            error=None,
            series=series,
            defs=DEFINITIONS,
            metric_sorts=METRIC_SORTS,
        )
        searching = bool((request.query_params.get("q") or "").strip())
        try:
            listing = read_listing(
                request,
                sorts=("separation", *SOURCE_SORTS),
                default_sort="separation" if searching else "eta",
                default_order="asc" if searching else "desc",
                filters=filters,
            )
        except BadListRequest as exc:
            listing = Listing("/sources", "eta", "desc", 50, 0)
            return render(
                request, "sources.html", 400, listing=listing, **{**ctx, "error": str(exc)}
            )
        ctx["listing"] = listing
        f = listing.filters
        try:
            if series not in ("epoch", "image", "mosaic"):
                raise BadListRequest(f"series must be epoch, image or mosaic, not {series!r}")
            nums = {}
            # the page's fluxes are in mJy, the list's in Jy
            numeric = {
                "eta_min": ("eta_min", 1.0),
                "v_min": ("v_min", 1.0),
                "median_min_mjy": ("median_flux_min", 1e-3),
                "median_max_mjy": ("median_flux_max", 1e-3),
            }
            for k, (arg, scale) in numeric.items():
                if f.get(k):
                    try:
                        nums[arg] = float(f[k]) * scale
                    except ValueError:
                        raise BadListRequest(f"{k} must be a number, not {f[k]!r}") from None
                    if not math.isfinite(nums[arg]):
                        raise BadListRequest(f"{k} must be a finite number")
            if f.get("ese_status") not in (None, "any", "active", "confirmed", "dismissed"):
                raise BadListRequest(f"unknown ESE status {f['ese_status']!r}")
            if f.get("reference") not in (None, "true", "false"):
                raise BadListRequest("reference must be true or false")
            ref = None if f.get("reference") is None else f["reference"] == "true"
            if listing.sort == "separation" and not searching:
                raise BadListRequest("sorting by separation needs a search (q=...)")
            cursor = request.query_params.get("cursor") or None
            if cursor is not None and searching:
                cursor = None  # a search pages by offset
            result = queries.source_list(
                engine(request),
                Page(listing.limit, listing.offset),
                q=f.get("q"),
                radius=f.get("radius"),
                series=series,
                sort=listing.sort,
                order=listing.order,
                ese_status=f.get("ese_status"),
                reference=ref,
                cursor=cursor,
                **nums,
            )
            limit = request.app.state.settings.api.max_cone_radius_deg
            if result.get("query") and result["query"]["radius_deg"] > limit:
                raise BadListRequest(f"the radius is larger than the maximum of {limit} degrees")
        except (BadListRequest, QueryParseError, BadCursor) as exc:
            return render(request, "sources.html", 400, **{**ctx, "error": str(exc)})
        ctx["pager"] = _source_pager(listing, result, cursor)
        params = {k: v for k, v in f.items() if v}
        for k, (arg, scale) in numeric.items():  # the export link speaks the API's units
            if k in params and scale != 1.0:
                params[arg] = repr(nums[arg])
                del params[k]
        params.update(sort=listing.sort, order=listing.order)
        export = "/api/sources?" + urlencode(params)
        ctx.update(result=result, export_url=export)
        return render(request, "sources.html", **ctx)

    @app.get(
        "/sources/{catalog}/{source_id:path}", response_class=HTMLResponse, include_in_schema=False
    )
    async def source_page(request: Request, catalog: str, source_id: str):
        settings = request.app.state.settings
        eng = engine(request)
        try:
            rec = await run_in_threadpool(queries.source_summary, eng, catalog, source_id)
        except NotFoundError as exc:
            return not_found(request, str(exc))
        from ..api.routes.sources import _ese_status, _metrics

        metrics = ese = None
        problems = []
        try:
            metrics = await run_in_threadpool(_metrics, catalog, source_id, settings)
        except ContimgError as exc:
            problems.append(f"metrics: {exc}")
        try:
            ese = await run_in_threadpool(_ese_status, catalog, source_id, settings)
        except ContimgError as exc:
            problems.append(f"ESE status: {exc}")
        ctx = await run_in_threadpool(source_context, eng, settings, rec, metrics)
        base = f"/api/sources/{quote(catalog, safe='')}/{quote(source_id, safe='')}"
        return render(
            request,
            "source.html",
            title=f"{catalog} {source_id}",
            rec=rec,
            metrics=metrics,
            ese=ese,
            problems=problems,
            api=base,
            **ctx,
        )

    @app.get("/variability", response_class=HTMLResponse, include_in_schema=False)
    def variability_page(request: Request):
        q = request.query_params
        series = q.get("series") or request.app.state.settings.normalize.ese_series
        if series not in ("epoch", "image", "mosaic"):
            return bad_request(request, f"series must be epoch, image or mosaic, not {series!r}")
        try:
            sigma = float(q.get("sigma") or 3.0)
        except ValueError:
            return bad_request(request, f"sigma must be a number, not {q.get('sigma')!r}")
        if not 0 < sigma <= 10:
            return bad_request(request, "sigma must be between 0 and 10")
        return render(
            request,
            "variability.html",
            title="η–V diagnostic",
            series=series,
            sigma=sigma,
            kept=request.app.state.settings.normalize.metric_series,
        )

    @app.get("/docs/{name}", response_class=HTMLResponse, include_in_schema=False)
    def doc_page(request: Request, name: str):
        path = _HERE / "docs" / f"{name}.md"
        if not name.isidentifier() or not path.is_file():
            return not_found(request, f"no documentation page {name!r}")
        first = path.read_text(encoding="utf-8").partition("\n")[0]
        title = first[2:].strip() if first.startswith("# ") else name.title()
        return render(request, "doc.html", title=title, body=render_markdown(path))

    @app.get("/ese", response_class=HTMLResponse, include_in_schema=False)
    def ese_page(
        request: Request,
        status: str | None = Query(None, pattern="^(active|dismissed|confirmed)$"),
        preset: str | None = Query(None, pattern="^(conservative|moderate|sensitive)$"),
    ):
        from ..api.routes.ese import candidate_rows

        rows = candidate_rows(request.app.state.settings, preset=preset, status=status)
        return render(
            request, "ese.html", title="ESE candidates", rows=rows, status=status, preset=preset
        )
