"""Reading light curves: one source's photometry points with their product's kind.

A source's rows are found through the unique ``(source_key, image_key)`` index of
``photometry_rows`` (clustered by source with ``contimg db cluster``); the arithmetic of the
series is :func:`dsa110_contimg.variability.lightcurve_table`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from .normalized import factors_join, normalized_columns

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

    ``?`` is SQLite's placeholder, ``%s`` PostgreSQL's. The normalized columns are computed
    from the stored factors as the view computes them (:mod:`.normalized`, migration 0020).
    """
    mjd = "coalesce(r.mjd, p.mjd)"  # the row keeps its own MJD only where it differs
    nf, ne = normalized_columns("sqlite" if ph == "?" else "postgresql")
    # PostgreSQL: the product as a primary-key probe per point, whatever the statistics say
    # (LIMIT 1 keeps the planner from flattening it). At 10^8 rows, with the rows per source
    # overestimated 4x, it hashed all 150,000 products instead: 37 ms instead of ~6 per curve.
    product = (
        "JOIN photometry_products p ON p.image_key = r.image_key"
        if ph == "?"
        else "JOIN LATERAL (SELECT * FROM photometry_products p0 "
        "WHERE p0.image_key = r.image_key LIMIT 1) p ON TRUE"
    )
    return (
        f"SELECT {mjd}, p.data_id, r.flux_jy, r.flux_err_jy, {nf}, {ne}, r.flags, p.kind "
        "FROM photometry_sources s "
        "JOIN photometry_rows r ON r.source_key = s.source_key "
        f"{product}{factors_join()} "
        f"WHERE s.catalog = {ph} AND s.source_id = {ph} "
        # a product replaced by a re-calibrated one: its point is the new product's
        "AND p.superseded = 0 "
        f"ORDER BY {mjd}, p.data_id"
    )


def read_lightcurve(engine: Engine, catalog: str, source_id: str) -> LightcurvePoints:
    """Return one source's points (raw cursor: one index range, one product probe per point).

    Read from the base tables (the view ``photometry`` gives the same values): the source's
    key, its rows through the unique ``(source_key, image_key)`` index, and per point its
    product (MJD, ``data_id``, and the copies of its kind and superseded flag that migration
    0019's triggers keep in ``photometry_products``). Before, the kind and the flag were two
    more index probes per point (``images``, ``data_registry``): at 10^8 rows most of a light
    curve's time (docs/architecture.md, Scale).
    """
    sql = lightcurve_statement("?" if engine.dialect.name == "sqlite" else "%s")
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        try:
            cur.execute(sql, (catalog, source_id))
            rows = cur.fetchall()
        finally:
            cur.close()
    finally:
        raw.close()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 8
    f = [np.array(cols[c], dtype=np.float64) for c in (0, 2, 3, 4, 5)]
    return LightcurvePoints(
        f[0], list(cols[1]), f[1], f[2], f[3], f[4], list(cols[6]), list(cols[7])
    )
