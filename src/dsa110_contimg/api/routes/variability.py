"""The eta-V diagnostic data: eta and V of every source of a series, with the thresholds.

Read from the explorer's copies of the metrics and of the per-source table (``metric_list``,
``source_list``; never the photometry table), as columns so that 100,000 sources travel in one
compact JSON document.
"""

from __future__ import annotations

import base64

import numpy as np
from fastapi import APIRouter, Depends, Query

from ...database.source_lists import eta_v_points
from ...variability.eta_v import eta_v_thresholds
from ..deps import engine_dep
from ..encoding import SafeJSONResponse

router = APIRouter(prefix="/api/variability", tags=["variability"])


def _f32(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode("ascii")


def eta_v_payload(engine, *, series: str, n_sigma: float) -> dict:
    """Return the eta-V document: sources as columns, thresholds at ``n_sigma``."""
    with engine.connect() as conn:
        pts = eta_v_points(conn, series=series)
    catalogs = sorted(set(pts["catalog"]))
    index = {c: i for i, c in enumerate(catalogs)}
    th = eta_v_thresholds(pts["eta"], pts["v"], n_sigma=n_sigma)
    return {
        "series": series,
        "count": len(pts["source_id"]),
        "thresholds": th.to_dict(),
        "catalogs": catalogs,
        "catalog_index": [index[c] for c in pts["catalog"]],
        "source_id": pts["source_id"],
        # float32, little-endian, base64: 7 significant digits (ample for a log-log plot) in
        # 5.3 bytes per value, decoded by the browser into a Float32Array without parsing
        "encoding": "eta and v: base64 of little-endian float32 arrays",
        "eta": _f32(pts["eta"]),
        "v": _f32(pts["v"]),
        "n_points": pts["n_points"].tolist(),
        "ese_status": pts["ese_status"],
        "is_reference": np.asarray(pts["is_reference"], dtype=int).tolist(),
    }


@router.get("/eta-v")
def eta_v(
    series: str = Query("epoch", pattern="^(epoch|image|mosaic)$"),
    sigma: float = Query(3.0, gt=0.0, le=10.0, allow_inf_nan=False),
    engine=Depends(engine_dep),
):
    """Eta and V of every source with both metrics in ``series``, and thresholds at ``sigma``.

    Sources are columns (``source_id``, ``catalog_index`` into ``catalogs``, ``eta``, ``v``,
    ``n_points``, ``ese_status``, ``is_reference``); ``eta`` and ``v`` are base64 strings of
    little-endian float32 arrays (``numpy.frombuffer(base64.b64decode(x), "<f4")``; in a
    browser ``new Float32Array(bytes.buffer)``). ``thresholds`` holds the robust centre and
    width of log10(eta) and log10(V) and the thresholds ``mean + sigma * std``.
    """
    return SafeJSONResponse(eta_v_payload(engine, series=series, n_sigma=sigma))
