"""Reading light curves: one source's photometry points with their product's kind.

The light-curve index of ``photometry`` (``source_id, mjd``) finds a source's rows in time
order; the arithmetic of the series is :func:`dsa110_contimg.variability.lightcurve_table`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

__all__ = ["LightcurvePoints", "read_lightcurve"]


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


def read_lightcurve(engine: Engine, catalog: str, source_id: str) -> LightcurvePoints:
    """Return one source's points (raw cursor: one index range, one row read per point).

    The product's kind (and whether it was superseded) is looked up per point through the
    unique ``data_id`` indexes: as joins, PostgreSQL hashed the whole ``images`` table for
    every light curve (a sequential scan growing with the survey; docs/architecture.md, Scale).
    """
    ph = "?" if engine.dialect.name == "sqlite" else "%s"
    sql = (
        "SELECT p.mjd, p.data_id, p.flux_jy, p.flux_err_jy, p.normalized_flux_jy, "
        "p.normalized_flux_err_jy, p.flags, "
        "(SELECT i.kind FROM images i WHERE i.data_id = p.data_id) FROM photometry p "
        f"WHERE p.catalog = {ph} AND p.source_id = {ph} "
        # a product replaced by a re-calibrated one: its point is the new product's
        "AND NOT EXISTS (SELECT 1 FROM data_registry r WHERE r.data_id = p.data_id "
        "AND r.superseded_by IS NOT NULL) "
        "ORDER BY p.mjd, p.data_id"
    )
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
