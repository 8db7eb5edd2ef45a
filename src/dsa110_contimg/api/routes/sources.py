"""Source endpoints: cone search over measured sources, detail, light curve, metrics.

A source is addressed by its catalog and its ``source_id``, URL-encoded in the path
(``/api/sources/nvss/J123456%2B420000``); ids containing ``/`` are allowed.
"""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Depends, Query

from ...config import Settings
from ..deps import Page, engine_dep, page_params, settings_dep
from ..encoding import SafeJSONResponse, clean_json, table_response
from ..errors import ApiError
from ..queries import cone_search, source_summary

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


@router.get("")
def search(
    ra_deg: float = Query(ge=-360.0, le=360.0, allow_inf_nan=False),
    dec_deg: float = Query(ge=-90.0, le=90.0, allow_inf_nan=False),
    radius_deg: float = Query(0.1, gt=0.0, le=180.0, allow_inf_nan=False),
    catalog: str | None = Query(None, pattern=_CATALOG),
    page: Page = Depends(page_params),
    settings: Settings = Depends(settings_dep),
    engine=Depends(engine_dep),
):
    """Cone search over measured sources, nearest first (paginated)."""
    if radius_deg > settings.api.max_cone_radius_deg:
        raise ApiError(
            422, f"radius {radius_deg} deg exceeds the maximum {settings.api.max_cone_radius_deg}"
        )
    return SafeJSONResponse(
        cone_search(
            engine,
            page,
            ra_deg=ra_deg % 360.0,
            dec_deg=dec_deg,
            radius_deg=radius_deg,
            catalog=catalog,
        )
    )


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
