"""Storage of the per-source table ``sources``: writing (reads are in ``source_lists``).

Kept current by the metrics update; read by the source list, cone and name searches and the
eta-V plot, none of which touches ``photometry``.

Writing
-------
- :func:`upsert_sources_for_image` (called by the incremental metrics update, once per image):
  adds the image's measurements to their sources' counts and MJD range (constant work per
  source) and reads the reference flag and ESE state of each source as it writes it (one
  statement; :func:`refresh_source_states` re-reads them when a reference or a candidate
  changes).
- :func:`rebuild_sources` (called by the metrics recomputation and migration 0008): the exact
  rows from the stored photometry of the given sources (or all), so a re-measured image,
  counted twice by the incremental path, is set right by ``contimg photometry normalize --all``.

Reading: :mod:`dsa110_contimg.database.source_lists`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from sqlalchemy import bindparam, case, column, func, literal_column, or_, select, text

from .listing import enqueue
from .rawsql import PgArray, executemany_raw, register_pg_arrays
from .tables import ese_candidates, photometry, reference_sources, sources

__all__ = [
    "rebuild_sources",
    "refresh_source_states",
    "upsert_sources_for_image",
    "upsert_sources_for_images",
    "write_source_rows",
]

_CHUNK = 500


def _hpx(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    from ..catalog.spatial import healpix_ring_index

    if len(ra) == 0:
        return np.zeros(0, dtype=np.int64)
    return healpix_ring_index(ra, dec)


def _insert(conn):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(sources)


def _upsert(conn, rows: list[dict], *, accumulate: bool) -> None:
    """Insert rows, or on conflict add to (``accumulate``) or replace the stored counts."""
    if not rows:
        return
    stmt = _on_conflict(_insert(conn), accumulate=accumulate)
    for i in range(0, len(rows), 5000):
        conn.execute(stmt, rows[i : i + 5000])


def _on_conflict(stmt, *, accumulate: bool, states: bool = False):
    """Return the upsert of ``sources`` rows: counts added to (``accumulate``) or replaced.

    ``states``: the rows also carry the reference flag and ESE state (set from them).
    """
    ex, s = stmt.excluded, sources.c
    if accumulate:
        counts = {
            "n_measurements": s.n_measurements + ex.n_measurements,
            "n_clean": s.n_clean + ex.n_clean,
            "first_mjd": func.coalesce(
                _case_lt(ex.first_mjd, s.first_mjd, ex.first_mjd, s.first_mjd), ex.first_mjd
            ),
            "last_mjd": func.coalesce(
                _case_lt(s.last_mjd, ex.last_mjd, ex.last_mjd, s.last_mjd), ex.last_mjd
            ),
            "last_flags": _case_lt(s.last_mjd, ex.last_mjd, ex.last_flags, s.last_flags, le=True),
        }
    else:
        counts = {
            k: ex[k] for k in ("n_measurements", "n_clean", "first_mjd", "last_mjd", "last_flags")
        }
    if states:
        counts.update({c: ex[c] for c in _PG_STATES})
    return stmt.on_conflict_do_update(
        index_elements=[s.catalog, s.source_id],
        set_={
            "ra_deg": ex.ra_deg,
            "dec_deg": ex.dec_deg,
            "hpx": ex.hpx,
            "catalog_flux_mjy": func.coalesce(ex.catalog_flux_mjy, s.catalog_flux_mjy),
            "updated_at": ex.updated_at,
            **counts,
        },
    )


def _case_lt(a, b, then, else_, *, le: bool = False):
    """``CASE WHEN a < b (or a IS NULL) THEN then ELSE else_ END`` (portable min/max)."""
    cond = (a <= b) if le else (a < b)
    return case((or_(a.is_(None), cond), then), else_=else_)


def _rows_from_groups(groups) -> list[dict]:
    groups = list(groups)
    if not groups:
        return []
    ra = np.array([g[2] for g in groups], dtype=float)
    dec = np.array([g[3] for g in groups], dtype=float)
    hpx = _hpx(ra, dec).tolist()
    ra, dec = ra.tolist(), dec.tolist()  # Python floats at once (numpy scalars one by one: 10x)
    now = time.time()
    return [
        {
            "catalog": g[0],
            "source_id": g[1],
            "ra_deg": ra[i],
            "dec_deg": dec[i],
            "hpx": hpx[i],
            "catalog_flux_mjy": g[4],
            "n_measurements": int(g[5]),
            "n_clean": int(g[6]),
            "first_mjd": g[7],
            "last_mjd": g[8],
            "last_flags": g[9],
            "updated_at": now,
        }
        for i, g in enumerate(groups)
    ]


def upsert_sources_for_image(
    conn, data_id: str, measurements: Sequence[tuple] | None = None
) -> list[tuple[str, str]]:
    """Add one image's measurements to the per-source table; return the sources touched.

    Constant work per source: the image's rows are read by ``data_id`` (never a source's
    history), and counts and the MJD range are updated in place. ``measurements`` are the
    image's rows when the caller has read them already
    (:func:`~dsa110_contimg.database.metrics.image_update_rows`).
    """
    return _accumulate(conn, _image_rows(conn, data_id, measurements))


def upsert_sources_for_images(conn, measurements: Sequence[tuple]) -> list[tuple[str, str]]:
    """:func:`upsert_sources_for_image` of several images' rows at once (one write).

    ``measurements``: every row of the images, in the order the images would be added one by
    one (:func:`~dsa110_contimg.database.metrics.images_update_rows`). Each source's rows are
    summed first, as adding the images in turn would (a later row of the same MJD gives
    ``last_flags``), then added to its stored row; returns the sources touched.
    """
    return _accumulate(conn, _rows_from_groups(_groups_from_rows(measurements, None)))


def _accumulate(conn, rows: list[dict]) -> list[tuple[str, str]]:
    """Add ``rows`` (counts, MJD range) to the stored per-source rows; return their keys.

    One statement: :func:`_upsert` (``accumulate``) and :func:`refresh_source_states` at once,
    each source's reference flag and ESE state read as it is written (the subqueries of
    :data:`_PG_STATES`; neither table changes here). Rows in key order: two writers lock
    shared sources in the same order. PostgreSQL: the rows travel as one binary array per
    column; SQLite: one parameter row per source on the driver's ``executemany`` (an image of
    10,000 sources: ~0.10 s, where the upsert and the state refresh as two statements per
    source took 0.28 s).
    """
    if not rows:
        return []
    rows = sorted(rows, key=lambda r: (r["catalog"], r["source_id"]))
    if conn.dialect.name == "postgresql":
        register_pg_arrays(conn)
        conn.execute(
            _accumulate_statement(conn, text(_pg_unnest(_PG_COLUMNS, "v"))),
            _pg_arrays(_PG_COLUMNS, rows),
        )
    else:
        one = ", ".join(f"? AS {c}" for c in _PG_COLUMNS)
        sql = str(
            _accumulate_statement(conn, text(f"(SELECT {one}) AS v")).compile(
                dialect=conn.dialect
            )
        )
        executemany_raw(conn, sql, [tuple(r[c] for c in _PG_COLUMNS) for r in rows])
    keys = [(r["catalog"], r["source_id"]) for r in rows]
    enqueue(conn, keys)  # the explorer's copies (database.listing)
    return keys


def _image_rows(conn, data_id: str, rows: Sequence[tuple] | None = None) -> list[dict]:
    """Return the ``sources`` rows one image adds (one measurement each), from its photometry.

    ``rows``: the image's ``(catalog, source_id, ra_deg, dec_deg, catalog_flux_mjy, flags,
    mjd)``, read here when not given.
    """
    if rows is None:
        p = photometry.c
        rows = conn.execute(
            select(
                p.catalog, p.source_id, p.ra_deg, p.dec_deg, p.catalog_flux_mjy, p.flags, p.mjd
            ).where(p.data_id == data_id)
        ).all()
    groups = [
        (r[0], r[1], r[2], r[3], r[4], 1, 1 if not r[5] else 0, r[6], r[6], r[5] or "")
        for r in rows
        if r[2] is not None and r[3] is not None
    ]
    return _rows_from_groups(groups)


#: ``sources`` columns written by :func:`_accumulate`, with their PostgreSQL types.
_PG_COLUMNS = {
    "catalog": "text",
    "source_id": "text",
    "ra_deg": "float8",
    "dec_deg": "float8",
    "hpx": "int8",
    "catalog_flux_mjy": "float8",
    "n_measurements": "int4",
    "n_clean": "int4",
    "first_mjd": "float8",
    "last_mjd": "float8",
    "last_flags": "text",
    "updated_at": "float8",
}
#: The reference flag and ESE state of the source ``s`` (as :func:`refresh_source_states`).
_PG_STATES = {
    "is_reference": "CASE WHEN EXISTS (SELECT 1 FROM reference_sources r "
    "WHERE r.source_id = {s}.source_id AND (r.catalog = {s}.catalog OR r.catalog = 'master') "
    "AND r.status = 'active') THEN 1 ELSE 0 END",
    "ese_status": "(SELECT c.status FROM ese_candidates c WHERE c.catalog = {s}.catalog "
    "AND c.source_id = {s}.source_id ORDER BY c.score DESC LIMIT 1)",
    "ese_score": "(SELECT max(c.score) FROM ese_candidates c WHERE c.catalog = {s}.catalog "
    "AND c.source_id = {s}.source_id)",
}


def _pg_unnest(columns: dict[str, str], alias: str) -> str:
    """``unnest(:c, ...) AS alias(c, ...)``: one array parameter per column."""
    arrays = ", ".join(f":{c}" for c in columns)
    return f"unnest({arrays}) AS {alias}({', '.join(columns)})"


def _pg_arrays(columns: dict[str, str], rows: Sequence) -> dict[str, PgArray]:
    """One :class:`~dsa110_contimg.database.rawsql.PgArray` per column of ``rows`` (dicts)."""
    return {c: PgArray([r[c] for r in rows], t) for c, t in columns.items()}


def _accumulate_statement(conn, rows_from):
    """Return the upsert of :func:`_accumulate`, its rows selected from ``rows_from`` (``v``).

    ``WHERE true``: SQLite parses ``INSERT ... SELECT ... ON CONFLICT`` only with a WHERE
    clause in the SELECT.
    """
    values = (
        select(
            *(column(c) for c in _PG_COLUMNS),
            *(literal_column(e.format(s="v")) for e in _PG_STATES.values()),
        )
        .select_from(rows_from)
        .where(literal_column("1 = 1"))
    )
    return _on_conflict(
        _insert(conn).from_select([*_PG_COLUMNS, *_PG_STATES], values),
        accumulate=True,
        states=True,
    )


def _groups_from_rows(rows, wanted: set | None) -> list[tuple]:
    """Aggregate photometry rows (catalog, source_id, ra, dec, cat_flux, flags, mjd) by source."""
    acc: dict[tuple[str, str], list] = {}
    for cat, sid, ra, dec, cflux, flags, mjd in rows:
        key = (cat, sid)
        if wanted is not None and key not in wanted:
            continue
        g = acc.get(key)
        if g is None:
            # ra, dec, cat_flux, n, n_clean, first, last, last_flags
            acc[key] = [ra, dec, cflux, 1, 0 if flags else 1, mjd, mjd, flags or ""]
            continue
        g[0], g[1] = ra, dec
        if cflux is not None and (g[2] is None or cflux > g[2]):
            g[2] = cflux
        g[3] += 1
        g[4] += 0 if flags else 1
        if mjd is not None and (g[5] is None or mjd < g[5]):
            g[5] = mjd
        if mjd is not None and (g[6] is None or mjd >= g[6]):
            g[6], g[7] = mjd, flags or ""
    return [
        (k[0], k[1], g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7])
        for k, g in sorted(acc.items())
        if g[0] is not None and g[1] is not None
    ]


def rebuild_sources(conn, keys: Sequence[tuple[str, str]] | None) -> int:
    """Recompute per-source rows exactly from the stored photometry (all sources if None).

    The given sources' rows are read through the light-curve index (``source_id``); with no
    keys, the photometry table is read once in source order.
    """
    p = photometry.c
    cols = (p.catalog, p.source_id, p.ra_deg, p.dec_deg, p.catalog_flux_mjy, p.flags, p.mjd)
    written = 0
    if keys is None:
        stmt = select(*cols).order_by(p.source_id, p.mjd)
        batch: list = []
        current = None
        for r in conn.execute(stmt).yield_per(50_000):
            if r[1] != current and len(batch) >= 50_000:
                written += _write_groups(conn, _groups_from_rows(batch, None))
                batch = []
            current = r[1]
            batch.append(tuple(r))
        written += _write_groups(conn, _groups_from_rows(batch, None))
        return written
    keys = sorted(set(keys))
    for i in range(0, len(keys), _CHUNK):
        part = keys[i : i + _CHUNK]
        ids = sorted({k[1] for k in part})
        rows = conn.execute(select(*cols).where(p.source_id.in_(ids)).order_by(p.mjd)).all()
        written += _write_groups(conn, _groups_from_rows(rows, set(part)))
    return written


def write_source_rows(conn, groups: Sequence[tuple]) -> int:
    """Replace the per-source rows of some sources with values computed from their photometry.

    ``groups`` as :func:`~dsa110_contimg.database.metric_blocks.source_groups` returns them
    (what :func:`rebuild_sources` computes itself); the reference flag and ESE state are
    re-read. Returns the number of rows written.
    """
    return _write_groups(conn, list(groups))


def _write_groups(conn, groups: list[tuple]) -> int:
    rows = _rows_from_groups(groups)
    _upsert(conn, rows, accumulate=False)
    refresh_source_states(conn, [(r["catalog"], r["source_id"]) for r in rows])
    return len(rows)


def refresh_source_states(conn, keys: Sequence[tuple[str, str]]) -> None:
    """Re-read the reference flag and the ESE state of some sources (primary-key lookups)."""
    if not keys:
        return
    keys = sorted(set(keys))
    if conn.dialect.name == "postgresql":
        _refresh_arrays(conn, keys)
    else:
        _refresh_rows(conn, keys)
    enqueue(conn, keys)  # the explorer's copies (database.listing)


def _refresh_rows(conn, keys: list[tuple[str, str]]) -> None:
    """One UPDATE per source (an ``executemany``): SQLite's path."""
    r, c, s = reference_sources.c, ese_candidates.c, sources.c
    is_ref = (
        select(func.count())
        .where(
            r.source_id == s.source_id,
            or_(r.catalog == s.catalog, r.catalog == "master"),
            r.status == "active",
        )
        .scalar_subquery()
    )
    best = select(c.status).where(c.catalog == s.catalog, c.source_id == s.source_id)
    status = best.order_by(c.score.desc()).limit(1).scalar_subquery()
    score = (
        select(func.max(c.score))
        .where(c.catalog == s.catalog, c.source_id == s.source_id)
        .scalar_subquery()
    )
    stmt = (
        sources.update()
        .where(s.catalog == bindparam("b_catalog"), s.source_id == bindparam("b_source_id"))
        .values(is_reference=case((is_ref > 0, 1), else_=0), ese_status=status, ese_score=score)
    )
    params = [{"b_catalog": k[0], "b_source_id": k[1]} for k in keys]
    for i in range(0, len(params), 5000):
        conn.execute(stmt, params[i : i + 5000])


def _refresh_arrays(conn, keys: list[tuple[str, str]]) -> None:
    """PostgreSQL: one UPDATE, the keys as two arrays (the subqueries of :data:`_PG_STATES`)."""
    key_cols = {"catalog": "text", "source_id": "text"}
    states = ", ".join(f"{c} = {e.format(s='sources')}" for c, e in _PG_STATES.items())
    register_pg_arrays(conn)
    conn.execute(
        text(
            f"UPDATE sources SET {states} FROM {_pg_unnest(key_cols, 'k')} "
            "WHERE sources.catalog = k.catalog AND sources.source_id = k.source_id"
        ),
        _pg_arrays(key_cols, [{"catalog": k[0], "source_id": k[1]} for k in keys]),
    )
