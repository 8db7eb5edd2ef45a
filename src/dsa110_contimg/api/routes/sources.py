"""Source endpoints: the source list (search, sort, filter, export), detail, light curve, metrics.

A source is addressed by its catalog and its ``source_id``, URL-encoded in the path
(``/api/sources/nvss/J123456%2B420000``); ids containing ``/`` are allowed.
"""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Depends, Query

from ...catalog.names import QueryParseError
from ...config import Settings
from ...database.source_lists import SOURCE_SORTS, BadCursor
from ..deps import Page, engine_dep, page_params, settings_dep
from ..encoding import SafeJSONResponse, clean_json, table_response
from ..errors import ApiError
from ..queries import SOURCE_LIST_COLUMNS, source_list, source_summary

router = APIRouter(prefix="/api/sources", tags=["sources"])

_CATALOG = r"^[A-Za-z0-9_\-.]{1,32}$"


def _as_dict(obj):
    if obj is None:
        return None
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if hasattr(obj, "_mapping"):
        return dict(obj._mapping)
    return dict(obj)


SORT_PATTERN = "^(" + "|".join(("separation",) + SOURCE_SORTS) + ")$"
#: Rows in one CSV/VOTable export of a selection.
MAX_EXPORT_ROWS = 200_000


@router.get("")
def search(
    q: str | None = Query(
        None,
        max_length=200,
        description="A source name as typed (`NVSS J131517+463004`, `J131517+463004`, "
        "`131517+463004`) or a position, decimal (`197.32 46.5`) or sexagesimal "
        "(`13:15:17.2 +46:30:04`, `13h15m17.2s +46d30m04s`).",
    ),
    radius: str | None = Query(
        None,
        max_length=40,
        description="Search radius of `q`: `0.1` (degrees), `2'`, `2arcmin`, `30\"`. "
        "Default: 2 arcmin for a position, the name's cell for a name.",
    ),
    ra_deg: float | None = Query(None, ge=-360.0, le=360.0, allow_inf_nan=False),
    dec_deg: float | None = Query(None, ge=-90.0, le=90.0, allow_inf_nan=False),
    radius_deg: float = Query(0.1, gt=0.0, le=180.0, allow_inf_nan=False),
    catalog: str | None = Query(None, pattern=_CATALOG),
    series: str = Query("epoch", pattern="^(epoch|image|mosaic)$"),
    sort: str | None = Query(
        None, pattern=SORT_PATTERN, description="Default: eta (separation for a search)."
    ),
    order: str = Query("desc", pattern="^(asc|desc)$"),
    eta_min: float | None = Query(None, ge=0.0, allow_inf_nan=False),
    v_min: float | None = Query(None, ge=0.0, allow_inf_nan=False),
    max_dip_sigma_min: float | None = Query(None, allow_inf_nan=False),
    median_flux_min: float | None = Query(
        None, allow_inf_nan=False, description="Median flux at least this (Jy)."
    ),
    median_flux_max: float | None = Query(
        None, allow_inf_nan=False, description="Median flux at most this (Jy)."
    ),
    cursor: str | None = Query(
        None,
        max_length=2000,
        description="`next_cursor` or `prev_cursor` of a page of the same sort and order: "
        "keyset pagination (stable, every source once), instead of `offset`. Not for searches.",
    ),
    ese_status: str | None = Query(None, pattern="^(any|active|confirmed|dismissed)$"),
    reference: bool | None = Query(None, description="Only references (true) or not (false)."),
    format: str = Query("json", pattern="^(json|csv|votable)$"),
    page: Page = Depends(page_params),
    settings: Settings = Depends(settings_dep),
    engine=Depends(engine_dep),
):
    """List measured sources from the per-source table: sort, filter, search, paginate, export.

    Without ``q`` or a cone every measured source is listed with its metrics in ``series``,
    sorted by ``sort`` (sorting by a metric lists the sources that have it), paginated by
    ``offset`` or by ``cursor`` (each page's ``next_cursor``/``prev_cursor``; ties are broken
    by catalog and source_id). ``q`` searches a name or a position within ``radius``;
    ``ra_deg``/``dec_deg``/``radius_deg`` is the same cone in degrees. ``format=csv|votable``
    exports the whole selection (up to 200,000 rows). Never reads the photometry table.
    """
    cone = None
    if (ra_deg is None) != (dec_deg is None):
        raise ApiError(422, "give both ra_deg and dec_deg for a cone (or q=...)")
    if ra_deg is not None:
        if radius_deg > settings.api.max_cone_radius_deg:
            raise ApiError(
                422,
                f"radius {radius_deg} deg exceeds the maximum {settings.api.max_cone_radius_deg}",
            )
        cone = (ra_deg % 360.0, dec_deg, radius_deg)
    if format != "json":
        page = Page(MAX_EXPORT_ROWS, 0)
    try:
        out = source_list(
            engine,
            page,
            q=q,
            radius=radius,
            cone=cone,
            series=series,
            sort=sort,
            order=order,
            eta_min=eta_min,
            v_min=v_min,
            max_dip_sigma_min=max_dip_sigma_min,
            median_flux_min=median_flux_min,
            median_flux_max=median_flux_max,
            ese_status=ese_status,
            reference=reference,
            catalog=catalog,
            cursor=cursor,
        )
    except (QueryParseError, BadCursor) as exc:
        raise ApiError(422, str(exc)) from None
    radius_max = settings.api.max_cone_radius_deg
    if out.get("query") and out["query"]["radius_deg"] > radius_max:
        raise ApiError(422, f"radius exceeds the maximum {radius_max} deg")
    if format == "json":
        return SafeJSONResponse(out)
    from astropy.table import Table

    cols = SOURCE_LIST_COLUMNS
    table = Table(
        rows=[[x.get(c) for c in cols] for x in out["items"]] or None,
        names=cols,
        dtype=[_COLUMN_DTYPES.get(c, float) for c in cols],
        masked=True,
    )
    for c in cols:
        col = table[c]
        col.mask = [x.get(c) is None for x in out["items"]]
    return table_response(table, format, filename=f"sources-{series}")


_COLUMN_DTYPES = {
    "catalog": str,
    "source_id": str,
    "last_flags": str,
    "ese_status": str,
    "is_reference": bool,
    "n_measurements": int,
    "n_clean": int,
    "n_points": int,
}


def _metrics(catalog: str, source_id: str, settings: Settings, series: str | None = None):
    from ...variability.pipeline import get_metrics

    return [_as_dict(m) for m in get_metrics(catalog, source_id, series=series, settings=settings)]


def _ese_status(catalog: str, source_id: str, settings: Settings):
    from ...database import get_engine
    from ..queries import ese_status

    return clean_json(ese_status(get_engine(settings), catalog, source_id))


@router.get("/{catalog}/{source_id:path}/lightcurve")
def lightcurve(
    catalog: str,
    source_id: str,
    series: str = Query("epoch", pattern="^(epoch|image|mosaic)$"),
    format: str = Query("json", pattern="^(json|csv|votable)$"),
    settings: Settings = Depends(settings_dep),
):
    """Light curve (raw and normalized flux, MJD UTC mid-exposure) as JSON, CSV or VOTable."""
    from ...variability.pipeline import get_lightcurve

    table = get_lightcurve(catalog, source_id, series=series, settings=settings)
    safe = "".join(c if c.isalnum() or c in "+-._" else "_" for c in source_id)
    return table_response(table, format, filename=f"{catalog}_{safe}_{series}")


#: Cutouts listed per request of the source page's strip.
MAX_CUTOUTS_PER_REQUEST = 20


def epoch_cutouts(engine, settings: Settings, catalog: str, source_id: str, *, kind: str):
    """One image per epoch (the first of each transit window) with its cutout URL."""
    from urllib.parse import quote, urlencode

    from ...database.source_lists import source_images

    with engine.connect() as conn:
        imgs = source_images(conn, catalog, source_id, kind=kind)
    if not imgs:
        source_summary(engine, catalog, source_id)  # 404 for a source never measured
    window = settings.normalize.epoch_window_hours / 24.0
    epochs, start = [], None
    for im in imgs:
        mjd = im["mjd"]
        if kind == "image" and start is not None and mjd is not None and mjd - start < window:
            epochs[-1]["n_images"] += 1
            continue
        start = mjd
        epochs.append({**im, "n_images": 1})
    from ...database.source_lists import source_row

    with engine.connect() as conn:
        row = source_row(conn, catalog, source_id)
    pos = (row["ra_deg"], row["dec_deg"]) if row else None
    prefix = "/api/mosaics/" if kind == "mosaic" else "/api/images/"
    for e in epochs:
        beam_arcmin = (e["bmaj_deg"] or 1.0 / 60.0) * 60.0
        size = min(max(8.0 * beam_arcmin, 2.0), 30.0)
        mjd = e["mjd"]
        params = {
            "ra_deg": f"{pos[0]:.7f}" if pos else "",
            "dec_deg": f"{pos[1]:.7f}" if pos else "",
            "size_arcmin": f"{size:.3g}",
            "annotate": "true",
            "overlay": "true",
            "title": f"MJD {mjd:.3f}" if mjd is not None else e["data_id"][:30],
        }
        e["url"] = prefix + quote(e["data_id"], safe="") + "/cutout.png?" + urlencode(params)
        e["page"] = ("/mosaics/" if kind == "mosaic" else "/images/") + quote(e["data_id"], safe="")
        e.pop("bmaj_deg")
    return epochs


@router.get("/{catalog}/{source_id:path}/cutouts")
def cutouts(
    catalog: str,
    source_id: str,
    kind: str = Query("image", pattern="^(image|mosaic)$"),
    offset: int = Query(0, ge=0, le=10**9),
    limit: int = Query(MAX_CUTOUTS_PER_REQUEST, ge=1, le=MAX_CUTOUTS_PER_REQUEST),
    settings: Settings = Depends(settings_dep),
    engine=Depends(engine_dep),
):
    """List the source's cutouts, one per epoch in time order, at most 20 per request.

    Each item has the epoch's first image (``data_id``, ``mjd``, ``flags``, ``n_images`` in
    the epoch) and ``url``, its annotated PNG cutout (scale bar, beam, colour bar, the other
    sources circled), rendered on first request and cached.
    """
    epochs = epoch_cutouts(engine, settings, catalog, source_id, kind=kind)
    page = Page(limit, offset)
    return SafeJSONResponse(page.envelope(epochs[offset : offset + limit], len(epochs)))


@router.get("/{catalog}/{source_id:path}/metrics")
def metrics(
    catalog: str,
    source_id: str,
    series: str | None = Query(None, pattern="^(epoch|image|mosaic)$"),
    settings: Settings = Depends(settings_dep),
    engine=Depends(engine_dep),
):
    """Variability metrics of a source, one entry per series (eta, V, Vs/m, dip statistic...)."""
    source_summary(engine, catalog, source_id)  # 404 for a source never measured
    return SafeJSONResponse(
        {
            "catalog": catalog,
            "source_id": source_id,
            "metrics": clean_json(_metrics(catalog, source_id, settings, series)),
        }
    )


@router.get("/{catalog}/{source_id:path}")
def detail(
    catalog: str,
    source_id: str,
    settings: Settings = Depends(settings_dep),
    engine=Depends(engine_dep),
):
    """Describe a measured source: position, count, MJD range, metrics, ESE status."""
    rec = source_summary(engine, catalog, source_id)
    rec["metrics"] = clean_json(_metrics(catalog, source_id, settings))
    rec["ese"] = _ese_status(catalog, source_id, settings)
    return SafeJSONResponse(rec)
