"""Reads of the per-source table: the source list, cones and names, the eta-V data.

None of these touches the photometry table except :func:`source_images` (one source's light
curve index). Sorted by a metric (or by name), a page's keys come from an index walk and only
those rows are joined; a cone reads the HEALPix ranges covering it and cuts on the exact
separation before any limit. Written by :mod:`dsa110_contimg.database.sources`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import and_, func, or_, select

from .tables import photometry, source_metrics, sources

__all__ = [
    "LIST_COLUMNS",
    "METRIC_SORTS",
    "SOURCE_SORTS",
    "eta_v_points",
    "largest_beam_deg",
    "list_sources",
    "source_images",
    "source_row",
]

#: Sort keys of the source list that are metrics (``source_metrics`` columns of the series).
METRIC_SORTS = ("eta", "v", "vs", "m", "n_points", "mean_flux_jy", "max_dip_sigma", "max_cusum")
#: Every sort key of the source list -> column.
SOURCE_SORTS = (
    "source_id",
    "ra_deg",
    "dec_deg",
    "n_measurements",
    "last_mjd",
    "catalog_flux_mjy",
    "ese_score",
    *METRIC_SORTS,
)
_METRIC_COLUMNS = (
    "n_points",
    "mean_flux_jy",
    "baseline_flux_jy",
    "eta",
    "v",
    "vs",
    "m",
    "max_dip_sigma",
    "max_dip_depth",
    "max_cusum",
)
#: Columns of a source-list row as served (JSON items, CSV and VOTable export), in order.
LIST_COLUMNS = [
    "catalog",
    "source_id",
    "ra_deg",
    "dec_deg",
    "separation_deg",
    "n_measurements",
    "n_clean",
    "first_mjd",
    "last_mjd",
    "last_flags",
    "catalog_flux_mjy",
    "is_reference",
    "ese_status",
    "ese_score",
    *_METRIC_COLUMNS,
]




def _select(series: str):
    m, s = source_metrics.c, sources.c
    cols = [s[c] for c in sources.c.keys() if c != "updated_at"]
    cols += [m[c] for c in _METRIC_COLUMNS]
    return cols, and_(m.catalog == s.catalog, m.source_id == s.source_id, m.series == series)


def list_sources(
    conn,
    *,
    series: str = "epoch",
    sort: str = "eta",
    order: str = "desc",
    limit: int = 50,
    offset: int = 0,
    eta_min: float | None = None,
    v_min: float | None = None,
    max_dip_sigma_min: float | None = None,
    ese_status: str | None = None,
    reference: bool | None = None,
    catalog: str | None = None,
    cone: tuple[float, float, float] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of sources with their metrics in one series, and the total matching.

    Parameters
    ----------
    conn : Connection
        An open connection.
    series : str
        The ``source_metrics`` series whose metrics are joined (``epoch``, ``image``, ...).
    sort, order : str
        A key of :data:`SOURCE_SORTS`, ``asc`` or ``desc``. Sorting by a metric lists only
        the sources that have it (at least two clean points in the series).
    limit, offset : int
        The page.
    eta_min, v_min, max_dip_sigma_min : float, optional
        Keep sources whose metric is at least this.
    ese_status : str, optional
        ``active``, ``confirmed``, ``dismissed``, or ``any`` (any candidate).
    reference : bool, optional
        Keep only references (True) or only non-references (False).
    catalog : str, optional
        Keep one catalog.
    cone : (ra_deg, dec_deg, radius_deg), optional
        Keep sources within the cone; rows then carry ``separation_deg`` and, when ``sort`` is
        ``separation``, come nearest first.

    Returns
    -------
    rows : list of dict
    total : int
    """
    if sort not in (*SOURCE_SORTS, "separation"):
        raise ValueError(f"unknown sort {sort!r}; expected one of {', '.join(SOURCE_SORTS)}")
    s, m = sources.c, source_metrics.c
    cols, on = _select(series)
    metric_sort = sort in METRIC_SORTS
    if metric_sort or eta_min is not None or v_min is not None or max_dip_sigma_min is not None:
        # driven from source_metrics: the (series, metric) index orders and filters
        stmt = select(*cols).select_from(source_metrics.join(sources, on))
    else:
        stmt = select(*cols).select_from(sources.outerjoin(source_metrics, on))
    conds = []
    if metric_sort:
        conds.append(m[sort].is_not(None))
    for col, lo in (("eta", eta_min), ("v", v_min), ("max_dip_sigma", max_dip_sigma_min)):
        if lo is not None:
            conds.append(m[col] >= lo)
    if ese_status == "any":
        conds.append(s.ese_status.is_not(None))
    elif ese_status:
        conds.append(s.ese_status == ese_status)
    if reference is not None:
        conds.append(s.is_reference == (1 if reference else 0))
    if catalog:
        conds.append(s.catalog == catalog)
    if cone is not None:
        from ..catalog.spatial import angular_separation_deg, cone_ranges

        ra0, dec0, rad = cone
        ranges = cone_ranges(ra0, dec0, rad)
        conds.append(or_(*[s.hpx.between(lo, hi) for lo, hi in ranges]))
        rows = [dict(r._mapping) for r in conn.execute(stmt.where(*conds))]
        if rows:
            sep = angular_separation_deg(
                np.array([r["ra_deg"] for r in rows]),
                np.array([r["dec_deg"] for r in rows]),
                ra0,
                dec0,
            )
            keep = []
            for r, d in zip(rows, sep, strict=True):
                if d <= rad:
                    r["separation_deg"] = float(d)
                    keep.append(r)
            rows = keep
        key = "separation_deg" if sort == "separation" else sort
        present = [r for r in rows if r.get(key) is not None]
        missing = [r for r in rows if r.get(key) is None]
        present.sort(key=lambda r: (r[key], r["source_id"]), reverse=(order == "desc"))
        if sort == "separation" and order == "desc":
            present.reverse()
        rows = present + missing
        return rows[offset : offset + limit], len(rows)
    if sort == "separation":
        sort = "source_id"
    desc = order == "desc"

    def _dir(c):
        return c.desc() if desc else c.asc()

    stmt = stmt.where(*conds)
    metric_only = ese_status is None and reference is None and not catalog
    if not conds:
        total = int(conn.execute(select(func.count()).select_from(sources)).scalar_one())
    elif metric_only:
        # metric conditions only: count on the (series, metric) index, no join (every metric
        # row has its sources row: both are written by the same metrics update)
        total = int(
            conn.execute(select(func.count()).where(m.series == series, *conds)).scalar_one()
        )
    else:
        total = int(conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())
    # Ties are broken on the primary key in the index's own order, so that the (series, metric)
    # index (whose entries end with the key) or the primary key itself gives the order, and a
    # page is an index range walk, never a sort of the whole table.
    if metric_sort and metric_only:
        # deferred join: walk the covering index for the page's keys, then join only those
        keys_stmt = (
            select(m.catalog, m.source_id)
            .where(m.series == series, *conds)
            .order_by(*[_dir(c) for c in _index_order(sort)])
            .limit(limit)
            .offset(offset)
        )
        keys = [tuple(r) for r in conn.execute(keys_stmt)]
        return _rows_for_keys(conn, series, keys), total
    if sort == "source_id" and not metric_sort and not conds:
        keys_stmt = (
            select(s.catalog, s.source_id)
            .order_by(_dir(s.catalog), _dir(s.source_id))
            .limit(limit)
            .offset(offset)
        )
        keys = [tuple(r) for r in conn.execute(keys_stmt)]
        return _rows_for_keys(conn, series, keys), total
    col = m[sort] if metric_sort else s[sort]
    key = _dir(col) if metric_sort else _dir(col).nulls_last()
    page = conn.execute(
        stmt.order_by(key, _dir(s.catalog), _dir(s.source_id)).limit(limit).offset(offset)
    ).all()
    return [dict(r._mapping) for r in page], total


def _index_order(sort: str) -> list:
    """ORDER BY of a metric sort in the order of the index that serves it (ties on the key)."""
    m = source_metrics.c
    second = {"eta": [m.v], "v": [m.eta]}.get(sort, [])
    return [m[sort], *second, m.catalog, m.source_id]


def _rows_for_keys(conn, series: str, keys: list[tuple[str, str]]) -> list[dict]:
    """Return the list rows of the given sources, in the order of ``keys``."""
    if not keys:
        return []
    cols, on = _select(series)
    s = sources.c
    # catalog IN (...) AND source_id IN (...): primary-key lookups on both backends (a row-value
    # IN list is a table scan on SQLite); the few extra combinations are dropped below
    stmt = (
        select(*cols)
        .select_from(sources.outerjoin(source_metrics, on))
        .where(
            s.catalog.in_(sorted({k[0] for k in keys})),
            s.source_id.in_(sorted({k[1] for k in keys})),
        )
    )
    by_key = {(r.catalog, r.source_id): dict(r._mapping) for r in conn.execute(stmt)}
    return [by_key[k] for k in keys if k in by_key]


def eta_v_points(conn, *, series: str = "epoch") -> dict[str, np.ndarray | list]:
    """Return eta, V and the identity of every source with both metrics in a series.

    Two reads, no join: the series' metric rows in table order (a sequential scan: ~100 k rows
    read in order beat 100 k index lookups), then the few sources that are references or ESE
    candidates through their indexes; the flags are attached in Python.

    Returns
    -------
    dict
        ``catalog``, ``source_id`` (lists), ``eta``, ``v``, ``n_points`` (arrays),
        ``ese_status`` (list, None where not a candidate), ``is_reference`` (bool array).
    """
    from .rawsql import fetch_raw

    s = sources.c
    # "series || ''" keeps the planner off the (series, metric) indexes: a scan in table order;
    # plain driver tuples (100 000 SQLAlchemy rows would cost more than the read itself)
    rows = fetch_raw(
        conn,
        "SELECT catalog, source_id, eta, v, n_points FROM source_metrics "
        "WHERE series || '' = ? AND eta IS NOT NULL AND v IS NOT NULL",
        (series,),
    )
    special = {
        (r[0], r[1]): (r[2], bool(r[3]))
        for r in conn.execute(
            select(s.catalog, s.source_id, s.ese_status, s.is_reference).where(
                or_(s.ese_status.is_not(None), s.is_reference == 1)
            )
        )
    }
    cols = list(zip(*rows, strict=True)) if rows else [()] * 5
    cat, sid = list(cols[0]), list(cols[1])
    flags = [special.get(k, (None, False)) for k in zip(cat, sid, strict=True)]
    return {
        "catalog": cat,
        "source_id": sid,
        "eta": np.array(cols[2], dtype=float),
        "v": np.array(cols[3], dtype=float),
        "n_points": np.array(cols[4], dtype=np.int64),
        "ese_status": [f[0] for f in flags],
        "is_reference": np.array([f[1] for f in flags], dtype=bool),
    }


def source_images(conn, catalog: str, source_id: str, *, kind: str = "image") -> list[dict]:
    """Return the images (or mosaics) a source was measured on, in time order.

    One light-curve read (the ``(source_id, mjd)`` index of photometry), with each image's
    beam and the measurement's flags: what the source page's cutout strip needs.
    """
    from .tables import images

    p, i = photometry.c, images.c
    rows = conn.execute(
        select(p.data_id, p.mjd, p.flags, i.bmaj_deg, i.kind)
        .select_from(photometry.outerjoin(images, i.data_id == p.data_id))
        .where(p.catalog == catalog, p.source_id == source_id)
        .order_by(p.mjd, p.data_id)
    ).all()
    return [
        {"data_id": r[0], "mjd": r[1], "flags": r[2], "bmaj_deg": r[3]}
        for r in rows
        if (r[4] or "image") == kind
    ]


def source_row(conn, catalog: str, source_id: str) -> dict | None:
    """Return one source's row of the per-source table, or None."""
    row = conn.execute(
        select(sources).where(sources.c.catalog == catalog, sources.c.source_id == source_id)
    ).first()
    return dict(row._mapping) if row is not None else None


def largest_beam_deg(conn, data_ids: Sequence[str]) -> float | None:
    """Return the largest restoring-beam major axis (degrees) among some images, or None."""
    from .tables import images

    if not data_ids:
        return None
    value = conn.execute(
        select(func.max(images.c.bmaj_deg)).where(
            images.c.data_id.in_(list(data_ids)), images.c.bmaj_deg > 0
        )
    ).scalar()
    return float(value) if value is not None else None
