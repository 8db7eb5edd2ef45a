"""Storage of variability metrics (``source_metrics``, migration 0005) and the points behind them.

A source's metric state is stored as one little-endian float64 vector per (source, series)
(its layout is :func:`dsa110_contimg.variability.packing.pack_states`), beside the derived
metrics that lists and the API read. Readers return columns; writers take a ``conn`` inside
the caller's write transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, delete, exists, select, tuple_

from .listing import enqueue
from .normalization import product_state, product_states
from .rawsql import PgArray, execute_pg_arrays, executemany_raw, fetch_raw
from .tables import (
    photometry,
    photometry_rows,
    photometry_sources,
    source_metrics,
)

__all__ = [
    "DERIVED_COLUMNS",
    "METRIC_COLUMNS",
    "ImagePoints",
    "ImageUpdateRows",
    "StoredStates",
    "delete_metrics",
    "image_points",
    "image_update_rows",
    "images_update_rows",
    "metric_keys",
    "metrics_of_source",
    "metrics_rows",
    "photometry_keys",
    "reference_metrics",
    "reference_metrics_of_keys",
    "states_for_image",
    "states_for_images",
    "upsert_metrics",
]

#: Derived metric columns of ``source_metrics`` (keys of ``variability.metrics.derive``).
DERIVED_COLUMNS = (
    "n_points",
    "mean_flux_jy",
    "median_flux_jy",
    "eta",
    "v",
    "vs",
    "m",
    "baseline_flux_jy",
    "baseline_err_jy",
    "dip_sigma",
    "max_dip_sigma",
    "max_dip_depth",
    "max_dip_mjd",
    "cusum",
    "max_cusum",
    "dip_start_mjd",
    "dip_end_mjd",
    "last_mjd",
)
#: Columns of ``source_metrics`` in the order of :func:`metrics_rows`.
METRIC_COLUMNS = (
    "catalog",
    "source_id",
    "series",
    "state",
    "open_image",
    *DERIVED_COLUMNS,
    "updated_at",
)
_CHUNK = 500


def _flux_columns(raw: bool):
    if raw:
        return photometry.c.flux_jy, photometry.c.flux_err_jy
    return photometry.c.normalized_flux_jy, photometry.c.normalized_flux_err_jy


# --------------------------------------------------------------------------------------------
# points


@dataclass(frozen=True)
class ImagePoints:
    """The clean points of one product for the incremental metric update.

    Attributes
    ----------
    kind : str
        ``image`` or ``mosaic`` (``image`` when not registered).
    keys : list of (catalog, source_id)
        One per point.
    mjd : numpy.ndarray
        The row's MJD, else the image's mid time.
    flux, err : numpy.ndarray
        Raw or normalized flux and error (NaN for NULL).
    """

    kind: str
    keys: list[tuple[str, str]]
    mjd: np.ndarray
    flux: np.ndarray
    err: np.ndarray


def image_points(conn: Connection, data_id: str, *, raw: bool) -> ImagePoints | None:
    """Return the clean points of a product, or None (QA failed or no clean rows).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Connection.
    data_id : str
        The product.
    raw : bool
        Raw flux columns instead of the normalized ones.
    """
    return image_update_rows(conn, data_id, raw=raw).points


@dataclass(frozen=True)
class ImageUpdateRows:
    """What the incremental update reads of one product, in one read of its rows.

    Attributes
    ----------
    points : ImagePoints or None
        :func:`image_points`.
    measurements : list of tuple
        Every row of the product (flagged ones too), as ``(catalog, source_id, ra_deg,
        dec_deg, catalog_flux_mjy, flags, mjd)``: what the per-source table adds
        (:func:`~dsa110_contimg.database.sources.upsert_sources_for_image`).
    """

    points: ImagePoints | None
    measurements: list[tuple]


def image_update_rows(conn: Connection, data_id: str, *, raw: bool) -> ImageUpdateRows:
    """Return a product's clean points and all its measurements (two round trips in all).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Connection.
    data_id : str
        The product.
    raw : bool
        Raw flux columns instead of the normalized ones.
    """
    return images_update_rows(conn, [data_id], raw=raw)[0]


def images_update_rows(
    conn: Connection, data_ids: Sequence[str], *, raw: bool
) -> list[ImageUpdateRows]:
    """:func:`image_update_rows` of several products, in a few statements for all of them.

    The products' lookups (one statement for one product, the worker's steady path;
    :func:`~dsa110_contimg.database.normalization.product_states` for several) and one read of
    their rows; one :class:`ImageUpdateRows` per ``data_ids`` entry, in order.
    """
    ids = list(dict.fromkeys(data_ids))
    states = (
        {ids[0]: product_state(conn, ids[0])} if len(ids) == 1 else product_states(conn, ids)
    )
    rows = _product_rows(conn, ids, raw)
    return [_update_rows(states[d], rows.get(d, [])) for d in data_ids]


def _product_rows(conn: Connection, data_ids: list[str], raw: bool) -> dict[str, list[tuple]]:
    """Every row of some products, by ``data_id``, each product's in (catalog, source_id) order.

    ``(catalog, source_id, ra_deg, dec_deg, catalog_flux_mjy, flags, mjd, flux, err)``.
    """
    fcol, ecol = _flux_columns(raw)
    out: dict[str, list[tuple]] = {}
    for i in range(0, len(data_ids), _CHUNK):
        part = data_ids[i : i + _CHUNK]
        where = "data_id = ?" if len(part) == 1 else f"data_id IN ({', '.join('?' * len(part))})"
        for r in fetch_raw(
            conn,
            "SELECT catalog, source_id, ra_deg, dec_deg, catalog_flux_mjy, flags, mjd, "
            f"{fcol.name}, {ecol.name}, data_id FROM photometry WHERE {where} "
            "ORDER BY data_id, catalog, source_id",
            part,
        ):
            out.setdefault(r[9], []).append(r[:9])
    return out


def _update_rows(state, rows: list[tuple]) -> ImageUpdateRows:
    """One product's :class:`ImageUpdateRows` from its lookups and its rows."""
    measurements = [r[:7] for r in rows]
    if state.qa_failed or state.excluded is not None:
        return ImageUpdateRows(None, measurements)  # QA failed, uncalibrated or superseded
    clean = [r for r in rows if r[5] == ""]  # flagged points are not variability points
    if not clean:
        return ImageUpdateRows(None, measurements)
    kind = state.kind if state.kind is not None else "image"
    keys = [(r[0], r[1]) for r in clean]
    mjd = np.array([r[6] for r in clean], dtype=np.float64)
    if state.mjd_mid is not None:
        mjd = np.where(np.isfinite(mjd), mjd, state.mjd_mid)
    flux = np.array([r[7] for r in clean], dtype=np.float64)
    err = np.array([r[8] for r in clean], dtype=np.float64)
    return ImageUpdateRows(ImagePoints(kind, keys, mjd, flux, err), measurements)


def metric_keys(conn: Connection) -> list[tuple[str, str]]:
    """Every (catalog, source_id) with a stored metric row, sorted."""
    m = source_metrics.c
    stmt = select(m.catalog, m.source_id).distinct().order_by(m.catalog, m.source_id)
    return [(r[0], r[1]) for r in conn.execute(stmt)]


def photometry_keys(conn: Connection) -> list[tuple[str, str]]:
    """Every (catalog, source_id) with photometry.

    Read from the source dictionary (``photometry_sources``, one probe of the rows' index per
    source) rather than as a DISTINCT over every photometry row.
    """
    s, r = photometry_sources, photometry_rows
    stmt = select(s.c.catalog, s.c.source_id).where(
        exists().where(r.c.source_key == s.c.source_key)
    )
    return [(row[0], row[1]) for row in conn.execute(stmt)]


# --------------------------------------------------------------------------------------------
# states


@dataclass(frozen=True)
class StoredStates:
    """Stored state vectors of some of a product's sources.

    Attributes
    ----------
    positions : numpy.ndarray of int
        Index (in the caller's key list) of each source with a readable vector.
    vectors : numpy.ndarray
        ``(len(positions), width)`` float64.
    open_image : list
        The open epoch's first image of each.
    unreadable : numpy.ndarray of bool
        Over the caller's keys: a vector of another width was stored.
    """

    positions: np.ndarray
    vectors: np.ndarray
    open_image: list
    unreadable: np.ndarray


def states_for_image(
    conn: Connection,
    data_id: str,
    series: str,
    index: dict[tuple[str, str], int],
    *,
    width: int,
) -> StoredStates:
    """Read (and on PostgreSQL lock) the states of the sources cleanly measured on a product.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Connection in the write transaction.
    data_id, series : str
        The product and the series.
    index : dict
        Position of each (catalog, source_id) in the caller's arrays: the product's clean
        measurements (:func:`image_points`); PostgreSQL reads exactly these keys.
    width : int
        Expected length of a state vector.
    """
    return states_for_images(conn, [data_id], series, index, width=width)


def states_for_images(
    conn: Connection,
    data_ids: Sequence[str],
    series: str,
    index: dict[tuple[str, str], int],
    *,
    width: int,
) -> StoredStates:
    """:func:`states_for_image` of the sources cleanly measured on any of some products.

    ``index``: the position of each of those sources (each once) in the caller's arrays.
    """
    if conn.dialect.name == "sqlite":
        seen: set = set()
        rows = []
        for data_id in dict.fromkeys(data_ids):
            for r in _state_rows_joined(conn, data_id, series):
                if (r[0], r[1]) not in seen:
                    seen.add((r[0], r[1]))
                    rows.append(r)
    else:
        rows = _state_rows_of_keys(conn, sorted(index), series)
    bad = np.zeros(len(index), dtype=bool)
    good, blobs, imgs = [], [], []
    for r in rows:
        b = bytes(r[2])
        if len(b) == 8 * width:
            good.append(index[(r[0], r[1])])
            blobs.append(b)
            imgs.append(r[3])
        else:
            bad[index[(r[0], r[1])]] = True
    vectors = (
        np.frombuffer(b"".join(blobs), dtype="<f8").reshape(-1, width)
        if blobs
        else np.zeros((0, width))
    )
    return StoredStates(np.array(good, dtype=np.int64), vectors, imgs, bad)


def _state_rows_joined(conn: Connection, data_id: str, series: str) -> list[tuple]:
    """(catalog, source_id, state, open_image) of the product's clean rows, by a join."""
    return fetch_raw(
        conn,
        "SELECT m.catalog, m.source_id, m.state, m.open_image FROM source_metrics m "
        "JOIN photometry p ON p.catalog = m.catalog AND p.source_id = m.source_id "
        "WHERE p.data_id = ? AND p.flags = '' AND m.series = ?",
        (data_id, series),
    )  # the same clean rows as image_points: a flagged point updates nothing


def _state_rows_of_keys(conn: Connection, keys: list, series: str) -> list[tuple]:
    """PostgreSQL: :func:`_state_rows_joined` of the caller's keys, locked in key order.

    The keys (``image_points``' clean rows of the product, sorted) travel as two arrays: one
    primary-key probe per key (LATERAL: whatever the table's statistics say, never a scan of
    every source's state), no join through the photometry view.
    """
    return execute_pg_arrays(
        conn,
        "SELECT m.catalog, m.source_id, m.state, m.open_image "
        "FROM unnest(%(c)s, %(s)s) AS k(c, s) CROSS JOIN LATERAL ("
        "SELECT catalog, source_id, state, open_image FROM source_metrics "
        "WHERE catalog = k.c AND source_id = k.s AND series = %(series)s FOR UPDATE) m",
        {
            "c": PgArray([k[0] for k in keys], "text"),
            "s": PgArray([k[1] for k in keys], "text"),
            "series": series,
        },
    )


def _column_list(arr: np.ndarray, integer: bool = False) -> list:
    arr = np.asarray(arr, dtype=np.float64)
    ok = np.isfinite(arr)
    out = arr.astype(np.int64).astype(object) if integer else arr.astype(object)
    if not ok.all():
        out[~ok] = None
    return out.tolist()


def metrics_rows(
    keys: Sequence[tuple[str, str]],
    series: str,
    vectors: np.ndarray,
    open_image: Sequence,
    derived: dict[str, np.ndarray],
) -> list[tuple]:
    """Return the ``source_metrics`` rows (tuples in table order) of packed states."""
    cols = _metrics_columns(keys, series, vectors, open_image, derived)
    return list(zip(*(cols[c] for c in METRIC_COLUMNS), strict=True))


def _metrics_columns(
    keys: Sequence[tuple[str, str]],
    series: str,
    vectors: np.ndarray,
    open_image: Sequence,
    derived: dict[str, np.ndarray],
) -> dict[str, list]:
    """Return the values of :func:`metrics_rows`, one list per column (non-finite as None)."""
    n = len(keys)
    mat = np.ascontiguousarray(vectors, dtype="<f8")
    cols: dict[str, list] = {
        "catalog": [k[0] for k in keys],
        "source_id": [k[1] for k in keys],
        "series": [series] * n,
        "state": [row.tobytes() for row in mat],
        "open_image": list(open_image),
    }
    for key in DERIVED_COLUMNS:
        cols[key] = _column_list(derived[key], key == "n_points")
    cols["updated_at"] = [time.time()] * n
    return cols


def upsert_metrics(
    conn: Connection,
    keys: Sequence[tuple[str, str]],
    series: str,
    vectors: np.ndarray,
    open_image: Sequence,
    derived: dict[str, np.ndarray],
) -> int:
    """Insert or replace the metric rows of ``keys``; return the count.

    One statement on PostgreSQL (the rows as one binary array per column, in key order, which
    is the order rows are locked in); the driver's ``executemany`` on SQLite, and on
    PostgreSQL for a key given twice (one statement cannot upsert a row twice).
    """
    if not len(keys):
        return 0
    if conn.dialect.name == "postgresql" and len(set(keys)) == len(keys):
        _upsert_metric_arrays(conn, list(keys), series, vectors, list(open_image), derived)
    else:
        _upsert_metric_rows(conn, _metrics_columns(keys, series, vectors, open_image, derived))
    enqueue(conn, keys)  # the explorer's copies (database.listing)
    return len(keys)


def _conflict() -> str:
    key = ("catalog", "source_id", "series")
    upd = ", ".join(f"{c} = excluded.{c}" for c in METRIC_COLUMNS if c not in key)
    return f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {upd}"


def _upsert_metric_rows(conn: Connection, cols: dict[str, list]) -> None:
    """One statement per row (the driver's ``executemany``): SQLite's path."""
    sql = (
        f"INSERT INTO source_metrics ({', '.join(METRIC_COLUMNS)}) "
        f"VALUES ({', '.join(['?'] * len(METRIC_COLUMNS))}) {_conflict()}"
    )
    executemany_raw(conn, sql, list(zip(*(cols[c] for c in METRIC_COLUMNS), strict=True)))


def _upsert_metric_arrays(
    conn: Connection,
    keys: list[tuple[str, str]],
    series: str,
    vectors: np.ndarray,
    open_image: list,
    derived: dict[str, np.ndarray],
) -> None:
    """PostgreSQL: one statement, one binary array per column, rows in key (lock) order.

    The columns of :func:`metrics_rows`, encoded from the arrays (numeric ones by numpy).
    """
    order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)
    mat = np.ascontiguousarray(vectors, dtype="<f8")[order]
    arrays = {
        "catalog": PgArray([keys[i][0] for i in order], "text"),
        "source_id": PgArray([keys[i][1] for i in order], "text"),
        "series": PgArray([series] * len(keys), "text"),
        "state": PgArray([row.tobytes() for row in mat], "bytea"),
        "open_image": PgArray([open_image[i] for i in order], "text"),
        **{
            c: PgArray.numeric(np.asarray(derived[c])[order], _PG_TYPES.get(c, "float8"))
            for c in DERIVED_COLUMNS
        },
        "updated_at": PgArray.numeric(np.full(len(keys), time.time()), "float8"),
    }
    sel = ", ".join(f"%({c})s" for c in METRIC_COLUMNS)
    execute_pg_arrays(
        conn,
        f"INSERT INTO source_metrics ({', '.join(METRIC_COLUMNS)}) "
        f"SELECT * FROM unnest({sel}) {_conflict()}",
        arrays,
    )


#: PostgreSQL types of the non-float8 ``source_metrics`` columns (array parameters).
_PG_TYPES = {
    "catalog": "text",
    "source_id": "text",
    "series": "text",
    "state": "bytea",
    "open_image": "text",
    "n_points": "int4",
}


def delete_metrics(conn: Connection, series: str, keys: Sequence[tuple[str, str]]) -> None:
    """Delete the metric rows of ``keys`` in one series."""
    keys = list(keys)
    enqueue(conn, keys)
    for i in range(0, len(keys), _CHUNK):
        part = keys[i : i + _CHUNK]
        conn.execute(
            delete(source_metrics).where(
                source_metrics.c.series == series,
                tuple_(source_metrics.c.catalog, source_metrics.c.source_id).in_(part),
            )
        )


def metrics_of_source(
    conn: Connection, catalog: str, source_id: str, *, series: str | None = None
) -> list[dict]:
    """Return the stored derived metrics of one source, one dict per series (by series)."""
    cols = ["series", *DERIVED_COLUMNS, "updated_at"]
    stmt = select(*(source_metrics.c[c] for c in cols)).where(
        source_metrics.c.catalog == catalog, source_metrics.c.source_id == source_id
    )
    if series is not None:
        stmt = stmt.where(source_metrics.c.series == series)
    return [dict(r._mapping) for r in conn.execute(stmt.order_by(source_metrics.c.series))]


def reference_metrics(
    conn: Connection, series: str, source_ids: Sequence[str]
) -> list[tuple[str, str, float | None, int]]:
    """(catalog, source_id, eta, n_points) of the metric rows of ``source_ids`` in a series."""
    sids = sorted(set(source_ids))
    out = []
    for i in range(0, len(sids), _CHUNK):
        rows = conn.execute(
            select(
                source_metrics.c.catalog,
                source_metrics.c.source_id,
                source_metrics.c.eta,
                source_metrics.c.n_points,
            ).where(
                source_metrics.c.series == series,
                source_metrics.c.source_id.in_(sids[i : i + _CHUNK]),
            )
        ).all()
        out += [(r.catalog, r.source_id, r.eta, r.n_points) for r in rows]
    return out


def reference_metrics_of_keys(
    conn: Connection, series: str, keys: Sequence[tuple[str, str]]
) -> list[tuple[str, str, float | None, int]]:
    """:func:`reference_metrics` of exact (catalog, source_id) keys (primary-key lookups).

    The per-image reference test reads the few references on an image this way; rows come in
    key order.
    """
    keys = sorted(set(keys))
    if not keys:
        return []
    if conn.dialect.name == "postgresql":
        rows = execute_pg_arrays(
            conn,
            "SELECT m.catalog, m.source_id, m.eta, m.n_points "
            "FROM unnest(%(c)s, %(s)s) AS k(c, s) CROSS JOIN LATERAL ("
            "SELECT catalog, source_id, eta, n_points FROM source_metrics "
            "WHERE catalog = k.c AND source_id = k.s AND series = %(series)s LIMIT 1) m "
            "ORDER BY m.catalog, m.source_id",  # LIMIT 1 (a primary key): kept a probe
            {
                "c": PgArray([k[0] for k in keys], "text"),
                "s": PgArray([k[1] for k in keys], "text"),
                "series": series,
            },
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]
    # SQLite: by source id (what the per-image path read before), filtered to the keys
    wanted = set(keys)
    got = reference_metrics(conn, series, [k[1] for k in keys])
    return sorted(r for r in got if (r[0], r[1]) in wanted)
