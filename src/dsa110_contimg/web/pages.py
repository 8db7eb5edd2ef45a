"""HTML pages: dashboard, image page, source page, source search, ESE candidates.

Pages are rendered on the server from the same read queries as the JSON API
(:mod:`dsa110_contimg.api.queries`); the light-curve plot and the ESE buttons are small
scripts (``static/app.js``) that call the JSON API. The plotting library, uPlot, is vendored
under ``static/vendor`` (see ``static/VENDORED.md``): no CDN is used at run time.
"""

import math
from pathlib import Path
from urllib.parse import quote

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


def _spread(items: list, n: int) -> list:
    """Pick ``n`` items spread evenly over a list (first and last included)."""
    if len(items) <= n:
        return items
    idx = sorted({round(i * (len(items) - 1) / (n - 1)) for i in range(n)})
    return [items[i] for i in idx]


def install(app) -> None:
    """Add the pages and the ``/static`` files to ``app``."""
    from fastapi.staticfiles import StaticFiles
    from fastapi.templating import Jinja2Templates
    from starlette.concurrency import run_in_threadpool

    from ..api import queries
    from ..api.deps import Page
    from ..database import get_engine
    from ..errors import ContimgError, NotFoundError

    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.filters["fmt"] = _fmt
    templates.env.filters["mjd"] = _mjd
    templates.env.filters["q"] = lambda s: quote(str(s), safe="")
    templates.env.globals["token_required"] = app.state.settings.api.token is not None
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")

    def engine(request: Request):
        return get_engine(request.app.state.settings)

    def render(request: Request, name: str, http_status: int = 200, **context) -> HTMLResponse:
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
            "images": queries.list_images(eng, Page(15, 0), kind="image"),
            "mosaics": queries.list_images(eng, Page(10, 0), kind="mosaic"),
            "workers": _workers(request.app.state.settings),
            "rate": queries.measurements_per_minute(eng),
            "calibration": calibration_summary(settings=request.app.state.settings),
        }
        from ..catalog.coverage import reference_report  # issue 14: too few references

        ctx["references"] = reference_report(settings=request.app.state.settings)
        return render(request, "dashboard.html", title="Dashboard", **ctx)

    def _image_page(request: Request, data_id: str, kind: str):
        eng = engine(request)
        try:
            rec = queries.get_image_record(eng, data_id, kind=kind)
        except NotFoundError as exc:
            return not_found(request, str(exc))
        rows = queries.image_photometry(eng, data_id, Page(2000, 0))
        prefix = "/api/mosaics" if kind == "mosaic" else "/api/images"
        return render(
            request,
            "image.html",
            title=f"{kind.title()} {data_id}",
            rec=rec,
            rows=rows,
            api=f"{prefix}/{quote(data_id, safe='')}",
        )

    @app.get("/images/{data_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def image_page(request: Request, data_id: str):
        return _image_page(request, data_id, "image")

    @app.get("/mosaics/{data_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def mosaic_page(request: Request, data_id: str):
        return _image_page(request, data_id, "mosaic")

    @app.get("/sources", response_class=HTMLResponse, include_in_schema=False)
    def source_search(
        request: Request,
        ra_deg: float | None = Query(None, ge=-360, le=360, allow_inf_nan=False),
        dec_deg: float | None = Query(None, ge=-90, le=90, allow_inf_nan=False),
        radius_deg: float = Query(0.5, gt=0, le=10, allow_inf_nan=False),
    ):
        result = None
        if ra_deg is not None and dec_deg is not None:
            result = queries.cone_search(
                engine(request),
                Page(200, 0),
                ra_deg=ra_deg % 360,
                dec_deg=dec_deg,
                radius_deg=radius_deg,
            )
        return render(
            request,
            "sources.html",
            title="Sources",
            result=result,
            ra_deg=ra_deg,
            dec_deg=dec_deg,
            radius_deg=radius_deg,
        )

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
        epochs = sorted(
            (x for x in rec["images"] if x.get("kind", "image") == "image"),
            key=lambda x: x["mjd"] if x["mjd"] is not None else -1,
        )
        cutouts = _spread(epochs, 4)
        base = f"/api/sources/{quote(catalog, safe='')}/{quote(source_id, safe='')}"
        return render(
            request,
            "source.html",
            title=f"{catalog} {source_id}",
            rec=rec,
            metrics=metrics,
            ese=ese,
            problems=problems,
            cutouts=cutouts,
            api=base,
        )

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
