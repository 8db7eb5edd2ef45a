"""Reads of the per-source table: the source list, cones and names, the eta-V data.

None of these touches the photometry table except :func:`source_images` (one source's light
curve index). They read the explorer's copies of the per-source tables (``source_list``,
``metric_list``: the tables' indexes per sort key live there, see
:mod:`dsa110_contimg.database.listing`), which every write transaction refreshes after it
commits. Sorted by a metric (or by name), a page's keys come from an index walk and only
those rows are joined; a cone reads the HEALPix ranges covering it and cuts on the exact
separation before any limit. Written by :mod:`dsa110_contimg.database.sources`.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import String, and_, func, literal, or_, select, tuple_

from .tables import LISTED_METRICS, metric_list, photometry, source_list, sources

__all__ = [
    "LIST_COLUMNS",
    "BadCursor",
    "SourcePage",
    "METRIC_SORTS",
    "SOURCE_SORTS",
    "eta_v_points",
    "largest_beam_deg",
    "list_sources",
    "page_sources",
    "row_cursor",
    "source_images",
    "source_row",
    "source_summary",
]

#: Sort keys of the source list that are metrics (``source_metrics`` columns of the series).
METRIC_SORTS = (
    "eta",
    "v",
    "vs",
    "m",
    "n_points",
    "mean_flux_jy",
    "median_flux_jy",
    "max_dip_sigma",
    "max_cusum",
)
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
_METRIC_COLUMNS = LISTED_METRICS  # the metric columns a list row shows (metric_list's)
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
    m, s = metric_list.c, source_list.c
    cols = [s[c] for c in source_list.c.keys() if c != "updated_at"]
    cols += [m[c] for c in _METRIC_COLUMNS]
    return cols, and_(m.catalog == s.catalog, m.source_id == s.source_id, m.series == series)


@dataclass(frozen=True)
class _Plan:
    """The parts of a source-list query shared by the offset and the cursor pages."""

    stmt: Any  # rows of the list, filtered (no order, no limit)
    conds: list
    metric_sort: bool
    metric_only: bool  # only metric conditions: the (series, metric) index alone answers


def _plan(
    series: str,
    sort: str,
    *,
    eta_min: float | None = None,
    v_min: float | None = None,
    max_dip_sigma_min: float | None = None,
    median_flux_min: float | None = None,
    median_flux_max: float | None = None,
    ese_status: str | None = None,
    reference: bool | None = None,
    catalog: str | None = None,
) -> _Plan:
    if sort not in (*SOURCE_SORTS, "separation"):
        raise ValueError(f"unknown sort {sort!r}; expected one of {', '.join(SOURCE_SORTS)}")
    s, m = source_list.c, metric_list.c
    cols, on = _select(series)
    metric_sort = sort in METRIC_SORTS
    lows = (
        ("eta", eta_min),
        ("v", v_min),
        ("max_dip_sigma", max_dip_sigma_min),
        ("median_flux_jy", median_flux_min),
    )
    metric_filter = any(v is not None for _, v in lows) or median_flux_max is not None
    if metric_sort or metric_filter:
        # driven from source_metrics: the (series, metric) index orders and filters
        stmt = select(*cols).select_from(metric_list.join(source_list, on))
    else:
        stmt = select(*cols).select_from(source_list.outerjoin(metric_list, on))
    conds = []
    if metric_sort:
        # the sort column and its companion in the index order are both present (eta and V
        # come together), so that the order is a plain index walk on both backends
        conds += [c.is_not(None) for c in _index_order(sort)[:-2]]
    for col, lo in lows:
        if lo is not None:
            conds.append(m[col] >= lo)
    if median_flux_max is not None:
        conds.append(m.median_flux_jy <= median_flux_max)
    if ese_status == "any":
        conds.append(s.ese_status.is_not(None))
    elif ese_status:
        conds.append(s.ese_status == ese_status)
    if reference is not None:
        conds.append(s.is_reference == (1 if reference else 0))
    if catalog:
        conds.append(s.catalog == catalog)
    metric_only = ese_status is None and reference is None and not catalog
    return _Plan(stmt, conds, metric_sort, metric_only)


def _total(conn, plan: _Plan, series: str) -> int:
    m = metric_list.c
    if not plan.conds:
        return int(conn.execute(select(func.count()).select_from(source_list)).scalar_one())
    if plan.metric_only:
        # metric conditions only: count on the (series, metric) index, no join (every metric
        # row has its sources row: both are written by the same metrics update)
        return int(
            conn.execute(select(func.count()).where(m.series == series, *plan.conds)).scalar_one()
        )
    stmt = plan.stmt.where(*plan.conds)
    return int(conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())


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
    median_flux_min: float | None = None,
    median_flux_max: float | None = None,
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
        The metric series whose metrics are joined (``epoch``, ``image``, ...).
    sort, order : str
        A key of :data:`SOURCE_SORTS`, ``asc`` or ``desc``. Sorting by a metric lists only
        the sources that have it (at least two clean points in the series; eta and V come
        together). Ties are broken by (catalog, source_id) in the same direction; sources
        without a value of a per-source column (e.g. ``ese_score``) come last.
    limit, offset : int
        The page (see :func:`page_sources` for the cursor).
    eta_min, v_min, max_dip_sigma_min, median_flux_min : float, optional
        Keep sources whose metric is at least this (fluxes in Jy).
    median_flux_max : float, optional
        Keep sources whose median flux (Jy) is at most this.
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
    plan = _plan(
        series,
        sort,
        eta_min=eta_min,
        v_min=v_min,
        max_dip_sigma_min=max_dip_sigma_min,
        median_flux_min=median_flux_min,
        median_flux_max=median_flux_max,
        ese_status=ese_status,
        reference=reference,
        catalog=catalog,
    )
    s, m = source_list.c, metric_list.c
    stmt, conds, metric_sort = plan.stmt, list(plan.conds), plan.metric_sort
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
    total = _total(conn, plan, series)
    # Ties are broken on the primary key in the index's own order, so that the (series, metric)
    # index (whose entries end with the key) or the primary key itself gives the order, and a
    # page is an index range walk, never a sort of the whole table.
    if metric_sort and plan.metric_only:
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
    if metric_sort:
        order_by = [_dir(c) for c in _index_order(sort)]
        page = conn.execute(stmt.order_by(*order_by).limit(limit).offset(offset)).all()
        return [dict(r._mapping) for r in page], total
    # a per-source column: the rows with a value (in the column's index order), then those
    # without (in key order). Two index walks rather than ``NULLS LAST``, which PostgreSQL's
    # ascending indexes serve only in ascending order.
    tie = [_dir(s.catalog), _dir(s.source_id)]
    with_value = stmt.where(s[sort].is_not(None))
    page = conn.execute(with_value.order_by(_dir(s[sort]), *tie).limit(limit).offset(offset)).all()
    if len(page) < limit:
        if page:
            n_valued = offset + len(page)
        else:
            n_valued = int(
                conn.execute(select(func.count()).select_from(with_value.subquery())).scalar_one()
            )
        page += conn.execute(
            stmt.where(s[sort].is_(None))
            .order_by(*tie)
            .limit(limit - len(page))
            .offset(max(0, offset - n_valued))
        ).all()
    return [dict(r._mapping) for r in page], total


# --------------------------------------------------------------------------------------------
# cursor (keyset) pages


@dataclass(frozen=True)
class SourcePage:
    """A page of the source list read by cursor.

    ``next_cursor`` / ``prev_cursor`` are opaque tokens for the following / preceding page
    (None at the end / the start).
    """

    rows: list[dict[str, Any]]
    total: int
    next_cursor: str | None
    prev_cursor: str | None


class BadCursor(ValueError):
    """A cursor token that cannot be read, or that belongs to another sort or order."""


_UNREADABLE = "the cursor cannot be read (pass next_cursor or prev_cursor of a page as given)"


def _encode(sort: str, order: str, phase: int, values: Sequence, direction: str) -> str:
    raw = json.dumps(
        {"k": sort, "o": order, "p": phase, "v": list(values), "d": direction},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str, sort: str, order: str) -> tuple[int, list, bool]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        d = json.loads(raw)
        phase, values, direction = int(d["p"]), list(d["v"]), d["d"]
        k, o = d["k"], d["o"]
    except (ValueError, KeyError, TypeError):
        raise BadCursor(_UNREADABLE) from None
    if (k, o) != (sort, order):
        raise BadCursor(
            f"the cursor belongs to the list sorted by {k} {o}, not {sort} {order}; "
            "start again without a cursor"
        )
    if phase not in (1, 2) or direction not in ("after", "before"):
        raise BadCursor(_UNREADABLE)
    cols = _phase_columns(sort, phase)
    if len(values) != len(cols) or not all(map(_fits, cols, values)):
        raise BadCursor(_UNREADABLE)  # a forged or damaged token never reaches the database
    return phase, values, direction == "after"


def _fits(col, value) -> bool:
    """Whether a cursor value has the type of its column (a string, or a finite number)."""
    if isinstance(col.type, String):
        return isinstance(value, str)
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def row_cursor(row: dict, sort: str, order: str, *, before: bool = False) -> str:
    """Return the cursor of the page after (``before``: preceding) a row of the list.

    Lets an offset page hand out cursors too: jump by offset, then walk by cursor.
    """
    if sort == "separation":
        raise ValueError("a search pages by offset, not by cursor")
    nullable = sort not in METRIC_SORTS and sort != "source_id"
    phase = 2 if nullable and row.get(sort) is None else 1
    values = [row[c.name] for c in _phase_columns(sort, phase)]
    return _encode(sort, order, phase, values, "before" if before else "after")


def _phase_columns(sort: str, phase: int) -> list:
    """Columns of the walk order: phase 1 rows with the sort value, phase 2 those without."""
    s = source_list.c
    if sort in METRIC_SORTS:
        return _index_order(sort)
    if sort == "source_id" or phase == 2:
        return [s.catalog, s.source_id]
    return [s[sort], s.catalog, s.source_id]


def page_sources(
    conn,
    *,
    cursor: str | None = None,
    series: str = "epoch",
    sort: str = "eta",
    order: str = "desc",
    limit: int = 50,
    **filters,
) -> SourcePage:
    """Return one page of the source list by keyset (cursor) pagination.

    The order is that of :func:`list_sources` (the sort column, then catalog and source_id in
    the same direction; sources without a per-source value last). A page starts strictly after
    (for a ``prev_cursor``: ends strictly before) the row its cursor names, so walking by
    ``next_cursor`` returns every source exactly once, in order, whatever the page size and
    however the table changes meanwhile, and each page is an index range walk (the indexes of
    migrations 0008 and 0012) however deep it is.

    Parameters
    ----------
    conn : Connection
        An open connection.
    cursor : str, optional
        ``next_cursor`` or ``prev_cursor`` of a page of the same sort and order; None for the
        first page.
    series, sort, order, limit
        As in :func:`list_sources` (no ``separation`` and no cone: a search result is small
        and pages by offset).
    **filters
        The filters of :func:`list_sources` (``eta_min``, ``v_min``, ``max_dip_sigma_min``,
        ``median_flux_min``, ``median_flux_max``, ``ese_status``, ``reference``, ``catalog``).

    Raises
    ------
    BadCursor
        An unreadable cursor, or one of another sort or order.
    """
    if sort == "separation":
        raise ValueError("sorting by separation needs a search, which pages by offset")
    plan = _plan(series, sort, **filters)
    total = _total(conn, plan, series)
    desc = order == "desc"
    nullable = sort not in METRIC_SORTS and sort != "source_id"
    s, m = source_list.c, metric_list.c
    if cursor is None:
        phase, values, forward = 1, None, True
    else:
        phase, values, forward = _decode(cursor, sort, order)
    keyed = plan.metric_sort and plan.metric_only

    def fetch(ph: int, vals, n: int) -> list[tuple[tuple, tuple[str, str]]]:
        """Up to ``n`` (order values, key) of phase ``ph`` beyond ``vals`` in the walk."""
        cols = _phase_columns(sort, ph)
        up = desc != forward  # compare and order ascending in SQL
        conds = list(plan.conds)
        if nullable:
            conds.append(s[sort].is_not(None) if ph == 1 else s[sort].is_(None))
        if vals is not None:
            row, bound = tuple_(*cols), tuple_(*[literal(v) for v in vals])
            conds.append(row > bound if up else row < bound)
        order_by = [c.asc() if up else c.desc() for c in cols]
        if keyed:
            stmt = select(*cols).where(m.series == series, *conds)
        else:
            stmt = plan.stmt.with_only_columns(*cols).where(*conds)
        out = conn.execute(stmt.order_by(*order_by).limit(n)).all()
        return [(tuple(r), (r[-2], r[-1])) for r in out]

    got = [(phase, v, k) for v, k in fetch(phase, values, limit + 1)]
    # the walk goes on into the other phase (rows without a value come last)
    other = 2 if forward else 1
    if nullable and len(got) <= limit and phase != other:
        got += [(other, v, k) for v, k in fetch(other, None, limit + 1 - len(got))]
    more = len(got) > limit
    got = got[:limit]
    if not forward:
        got.reverse()
    if not got:
        return SourcePage([], total, None, None)
    first, last = got[0], got[-1]
    has_next = more if forward else True
    has_prev = (cursor is not None) if forward else more
    nxt = _encode(sort, order, last[0], last[1], "after") if has_next else None
    prv = _encode(sort, order, first[0], first[1], "before") if has_prev else None
    rows = _rows_for_keys(conn, series, [g[2] for g in got])
    return SourcePage(rows, total, nxt, prv)


def _index_order(sort: str) -> list:
    """ORDER BY of a metric sort in the order of the index that serves it (ties on the key)."""
    m = metric_list.c
    second = {"eta": [m.v], "v": [m.eta]}.get(sort, [])
    return [m[sort], *second, m.catalog, m.source_id]


def _rows_for_keys(conn, series: str, keys: list[tuple[str, str]]) -> list[dict]:
    """Return the list rows of the given sources, in the order of ``keys``."""
    if not keys:
        return []
    cols, on = _select(series)
    s = source_list.c
    # catalog IN (...) AND source_id IN (...): primary-key lookups on both backends (a row-value
    # IN list is a table scan on SQLite); the few extra combinations are dropped below. In
    # chunks: an export's 200,000 keys would pass PostgreSQL's 65,535 bound parameters.
    by_key: dict = {}
    for i in range(0, len(keys), 5000):
        part = keys[i : i + 5000]
        stmt = (
            select(*cols)
            .select_from(source_list.outerjoin(metric_list, on))
            .where(
                s.catalog.in_(sorted({k[0] for k in part})),
                s.source_id.in_(sorted({k[1] for k in part})),
            )
        )
        by_key.update({(r.catalog, r.source_id): dict(r._mapping) for r in conn.execute(stmt)})
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

    s = source_list.c
    # "series || ''" keeps the planner off the (series, metric) indexes: a scan in table order;
    # plain driver tuples (100 000 SQLAlchemy rows would cost more than the read itself)
    rows = fetch_raw(
        conn,
        "SELECT catalog, source_id, eta, v, n_points FROM metric_list "
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


def source_summary(conn, catalog: str, source_id: str, *, recent: int = 500) -> dict | None:
    """Return a measured source's mean position, count, MJD range and latest measurements.

    One light-curve read (the ``(source_id, mjd)`` index of photometry): ``ra_deg``,
    ``dec_deg`` (means; None if not finite), ``n_measurements``, ``first_mjd``, ``last_mjd``,
    ``catalog_flux_mjy`` and ``images`` (the ``recent`` latest measurements: ``data_id``,
    ``mjd``, ``flux_jy``, ``flags``, ``kind``). None when the source has no measurement.
    """
    import math

    from .tables import images

    p = photometry.c
    row = conn.execute(
        select(
            func.avg(p.ra_deg).label("ra_deg"),
            func.avg(p.dec_deg).label("dec_deg"),
            func.count().label("n_measurements"),
            func.min(p.mjd).label("first_mjd"),
            func.max(p.mjd).label("last_mjd"),
            func.max(p.catalog_flux_mjy).label("catalog_flux_mjy"),
        ).where(p.catalog == catalog, p.source_id == source_id)
    ).first()
    if row is None or not row.n_measurements:
        return None
    rec = {"catalog": catalog, "source_id": source_id, **dict(row._mapping)}
    latest = conn.execute(
        select(p.data_id, p.mjd, p.flux_jy, p.flags, images.c.kind)
        .select_from(photometry.outerjoin(images, images.c.data_id == p.data_id))
        .where(p.catalog == catalog, p.source_id == source_id)
        .order_by(p.mjd.desc().nulls_last())
        .limit(recent)
    ).all()
    rec["images"] = [dict(x._mapping) for x in latest]
    for k in ("ra_deg", "dec_deg"):
        if rec[k] is not None and not math.isfinite(rec[k]):
            rec[k] = None
    return rec


def source_row(conn, catalog: str, source_id: str) -> dict | None:
    """Return one source's row of the per-source table (itself, not its copy), or None."""
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
