"""What the source page shows besides the light curve: neighbours, blends, catalog facts.

Everything here reads the per-source table or the catalog store by position (index range
reads), never the photometry table; the page's first paint does not wait for any cutout
(the strip is loaded by the browser, 20 epochs per request).
"""

from __future__ import annotations

import logging
import math

log = logging.getLogger(__name__)

__all__ = ["sexagesimal", "source_context"]

#: Neighbours are listed within this many beams.
NEIGHBOUR_BEAMS = 3.0
#: Default beam FWHM (degrees) when no image of the source has one.
DEFAULT_BEAM_DEG = 1.5 / 60.0


def sexagesimal(ra_deg: float | None, dec_deg: float | None) -> str:
    """Return ``hh:mm:ss.ss +dd:mm:ss.s`` for a position (empty for None).

    Examples
    --------
    >>> sexagesimal(198.821667, -46.501111)
    '13:15:17.20 -46:30:04.0'
    """
    if ra_deg is None or dec_deg is None:
        return ""
    t = round((ra_deg % 360.0) / 15.0 * 3600.0, 2) % 86400.0
    h, rem = divmod(t, 3600.0)
    m, s = divmod(rem, 60.0)
    d = round(abs(dec_deg) * 3600.0, 1)
    dd, rem = divmod(d, 3600.0)
    dm, ds = divmod(rem, 60.0)
    sign = "-" if dec_deg < 0 else "+"
    return f"{int(h):02d}:{int(m):02d}:{s:05.2f} {sign}{int(dd):02d}:{int(dm):02d}:{ds:04.1f}"


def _beam_deg(conn, rec: dict) -> float:
    """Return the restoring beam FWHM (degrees) of the source's latest images."""
    from ..database.source_lists import largest_beam_deg

    beam = largest_beam_deg(conn, [im["data_id"] for im in rec.get("images", [])[:20]])
    return beam if beam is not None else DEFAULT_BEAM_DEG


def _catalog_facts(settings, ra: float, dec: float) -> dict:
    """Master-catalog entry and FIRST/VLASS matches at the source's position."""
    from ..catalog import list_catalogs, query_sources
    from ..errors import ContimgError

    radius = settings.catalog.match_radius_arcsec / 3600.0
    out: dict = {"master": None, "matches": {}, "missing": [], "radius_arcsec": radius * 3600}
    try:
        have = {c.name for c in list_catalogs(settings=settings)}
    except ContimgError as exc:
        log.info("catalog store unavailable: %s", exc)
        out["missing"] = ["master", "first", "vlass"]
        return out
    for name in ("master", "first", "vlass"):
        if name not in have:
            out["missing"].append(name)
            continue
        try:
            t = query_sources(name, ra, dec, radius, all_columns=True, settings=settings)
        except ContimgError as exc:
            log.info("catalog %s cone failed: %s", name, exc)
            out["missing"].append(name)
            continue
        rows = []
        for row in t:
            d = {}
            for col in t.colnames:
                v = row[col]
                v = v.item() if hasattr(v, "item") else v
                if isinstance(v, float) and not math.isfinite(v):
                    v = None
                d[col] = v
            rows.append(d)
        rows.sort(key=lambda r: r.get("sep_deg") or 0.0)
        if name == "master":
            out["master"] = rows[0] if rows else None
        else:
            out["matches"][name] = rows
    return out


def source_context(engine, settings, rec: dict, metrics: list | None) -> dict:
    """Return the page's extra context: source row, neighbours, blend story, catalog facts.

    Parameters
    ----------
    engine : Engine
        The database.
    settings : Settings
        Settings (catalog match radius, normalization series).
    rec : dict
        :func:`~dsa110_contimg.api.queries.source_summary` of the source.
    metrics : list of dict or None
        Its metrics, one per series.

    Returns
    -------
    dict
        ``row`` (the per-source table's row or None), ``sexa``, ``beam_arcsec``,
        ``neighbours`` (list), ``blend`` (explanation dict or None), ``facts``, ``series``
        (the series to plot first), ``dip`` (``start``/``end`` MJD of the dip window or None).
    """
    from ..database.source_lists import list_sources, source_row
    from ..photometry.forced import ForcedOptions

    catalog, source_id = rec["catalog"], rec["source_id"]
    with engine.connect() as conn:
        row = source_row(conn, catalog, source_id)
        ra = row["ra_deg"] if row else rec.get("ra_deg")
        dec = row["dec_deg"] if row else rec.get("dec_deg")
        beam = _beam_deg(conn, rec)
        near = []
        if ra is not None and dec is not None:
            near, _ = list_sources(
                conn,
                series=settings.normalize.ese_series,
                cone=(ra, dec, NEIGHBOUR_BEAMS * beam),
                sort="separation",
                order="asc",
                limit=50,
            )
    neighbours = [
        {**n, "beams": n["separation_deg"] / beam}
        for n in near
        if not (n["catalog"] == catalog and n["source_id"] == source_id)
    ]
    by_series = {m["series"]: m for m in (metrics or [])}
    epoch = by_series.get("epoch")
    flags = (row or {}).get("last_flags") or ""
    n_clean = (row or {}).get("n_clean")
    blend = None
    if "blended" in flags or (n_clean == 0 and (row or {}).get("n_measurements")):
        limit = ForcedOptions().blended_flag_beams
        partners = [n for n in neighbours if n["beams"] <= limit]
        reason_flags = sorted({f for f in flags.split(",") if f})
        blend = {
            "partners": partners,
            "limit_beams": limit,
            "flags": reason_flags,
            "n_clean": n_clean,
            "n_measurements": (row or {}).get("n_measurements"),
        }
    series = "epoch"
    if not epoch or not epoch.get("n_points"):
        series = "image"  # show what exists: the image series keeps flagged points
    dip = None
    ese_m = by_series.get(settings.normalize.ese_series)
    if ese_m and ese_m.get("dip_start_mjd") is not None:
        end = ese_m.get("dip_end_mjd") or ese_m.get("last_mjd")
        dip = {"start": ese_m["dip_start_mjd"], "end": end}
    facts = {"master": None, "matches": {}, "missing": [], "radius_arcsec": None}
    if ra is not None and dec is not None:
        facts = _catalog_facts(settings, ra, dec)
    return {
        "row": row,
        "sexa": sexagesimal(ra, dec),
        "beam_arcsec": beam * 3600.0,
        "neighbours": neighbours,
        "blend": blend,
        "facts": facts,
        "series": series,
        "dip": dip,
    }
