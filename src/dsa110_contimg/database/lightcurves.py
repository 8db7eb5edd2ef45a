"""Reading light curves: one source's photometry points with their product's kind.

A source's rows are found through the unique ``(source_key, image_key)`` index of
``photometry_rows`` (clustered by source with ``contimg db cluster``); the arithmetic of the
series is :func:`dsa110_contimg.variability.lightcurve_table`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from .normalized import factor_columns, factors_join, normalized_values

__all__ = ["LightcurvePoints", "lightcurve_statement", "read_lightcurve"]


@dataclass(frozen=True)
class LightcurvePoints:
    """Every stored point of one source, ordered by (MJD, data_id).

    Float columns are float64 with NaN for NULL; ``image`` (the ``data_id``), ``flags`` and
    ``kind`` (``image``/``mosaic``, None when the product is not registered) are lists.
    """

    mjd: np.ndarray
    image: list
    flux: np.ndarray
    err: np.ndarray
    normalized_flux: np.ndarray
    normalized_err: np.ndarray
    flags: list
    kind: list

    def __len__(self) -> int:
        return len(self.image)


def lightcurve_statement(ph: str) -> str:
    """Return the light-curve SELECT, with placeholder ``ph`` for (catalog, source_id).

    ``?`` is SQLite's placeholder, ``%s`` PostgreSQL's. The columns: MJD, ``data_id``, flux,
    error, the row's own normalized flux and error (NULL but for rows written before
    migration 0020), the factor and its error that apply to the row
    (:func:`.normalized.factor_columns`), flags, kind; :func:`read_lightcurve` computes the
    normalized values from them as the view does (:func:`.normalized.normalized_values`).
    """
    mjd = "coalesce(r.mjd, p.mjd)"  # the row keeps its own MJD only where it differs
    f, fe = factor_columns()
    cols = (
        f"{mjd}, p.data_id, r.flux_jy, r.flux_err_jy, r.normalized_flux_jy, "
        f"r.normalized_flux_err_jy, {f}, {fe}, r.flags, p.kind"
    )
    # a product replaced by a re-calibrated one: its point is the new product's
    tail = f"AND p.superseded = 0 ORDER BY {mjd}, p.data_id"
    if ph == "?":
        return (
            f"SELECT {cols} FROM photometry_sources s "
            "JOIN photometry_rows r ON r.source_key = s.source_key "
            f"JOIN photometry_products p ON p.image_key = r.image_key{factors_join()} "
            f"WHERE s.catalog = ? AND s.source_id = ? {tail}"
        )
    # PostgreSQL, at 10^8 rows (docs/architecture.md, Scale):
    # - the product as a primary-key probe per point, whatever the statistics say (LIMIT 1
    #   keeps the planner from flattening it): with the rows per source overestimated 4x, it
    #   hashed all 150,000 products instead (37 ms instead of ~6 per curve);
    # - the source's factors read once, as one range of their primary key (a CTE, joined by
    #   hash): a probe per point was 3 of the ~7 buffers each point read, also for the 85 %
    #   of sources (not references) that have no factor at all.
    return (
        "WITH s AS MATERIALIZED (SELECT source_key FROM photometry_sources "
        "WHERE catalog = %s AND source_id = %s), "
        "x AS MATERIALIZED (SELECT image_key, factor, factor_err FROM photometry_factors "
        "WHERE source_key = (SELECT source_key FROM s)) "
        f"SELECT {cols} FROM s "
        "JOIN photometry_rows r ON r.source_key = s.source_key "
        "JOIN LATERAL (SELECT mjd, data_id, kind, superseded, norm_factor, norm_factor_err "
        "FROM photometry_products p0 WHERE p0.image_key = r.image_key LIMIT 1) p ON TRUE "
        f"LEFT JOIN x ON x.image_key = r.image_key WHERE TRUE {tail}"
    )


def read_lightcurve(engine: Engine, catalog: str, source_id: str) -> LightcurvePoints:
    """Return one source's points (raw cursor: one index range, one product probe per point).

    Read from the base tables (the view ``photometry`` gives the same values, to the last
    bit): the source's key, its rows through the unique ``(source_key, image_key)`` index,
    and per point its product (MJD, ``data_id``, and the copies of its kind and superseded
    flag that migration 0019's triggers keep in ``photometry_products``). Before, the kind
    and the flag were two more index probes per point (``images``, ``data_registry``): at
    10^8 rows most of a light curve's time (docs/architecture.md, Scale). PostgreSQL sends
    the rows in its binary format, outside a transaction (no ``ROLLBACK`` round trip when
    the pooled connection is returned).
    """
    pg = engine.dialect.name != "sqlite"
    sql = lightcurve_statement("%s" if pg else "?")
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        if pg:
            driver.autocommit = True  # a single SELECT: nothing to roll back
        try:
            cur = raw.cursor()
            try:
                if pg:
                    cur.execute(sql, (catalog, source_id), binary=True)
                else:
                    cur.execute(sql, (catalog, source_id))
                rows = cur.fetchall()
            finally:
                cur.close()
        finally:
            if pg:
                driver.autocommit = False
    finally:
        raw.close()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 10
    f = [np.array(cols[c], dtype=np.float64) for c in range(8) if c != 1]
    nf, ne = normalized_values(*f[1:7])
    return LightcurvePoints(f[0], list(cols[1]), f[1], f[2], nf, ne, list(cols[8]), list(cols[9]))
