"""Reads behind the image, mosaic and data-product pages and endpoints (no writes).

The lists of images and mosaics (registry status, QA, normalization factor, mosaic members),
one product's record, and the measurements on one image. Functions take an open connection
and return plain dicts (JSON columns decoded); paging envelopes are the API's business.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import func, select

from .products import PHOTOMETRY_COLUMNS
from .tables import products as t
from .tables.mosaic import mosaic_members as _members
from .tables.normalization import image_normalization

__all__ = [
    "IMAGE_SORTS",
    "MEASUREMENT_COLUMNS",
    "data_record",
    "decode_row",
    "image_measurements",
    "image_record",
    "list_images",
    "measurements_per_minute",
    "mosaic_members",
]

_JSON_FIELDS = ("params", "qa_metrics", "imaging_params")


def decode_row(row) -> dict[str, Any]:
    """Return a result row as a dict, with its JSON text columns decoded."""
    d = dict(row._mapping)
    for key in _JSON_FIELDS:
        if isinstance(d.get(key), str):
            try:
                d[key] = json.loads(d[key])
            except ValueError:
                pass
    return d


def count_rows(conn, stmt) -> int:
    """Return the number of rows a select returns."""
    return int(conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())


def _measurement_count(conn, data_id: str) -> int:
    stmt = select(func.count()).where(t.photometry.c.data_id == data_id)
    return int(conn.execute(stmt).scalar_one())


def data_record(conn, data_id: str) -> dict | None:
    """Return one registry record with its image record and photometry job (None if absent)."""
    r = t.data_registry
    row = conn.execute(select(r).where(r.c.data_id == data_id)).first()
    if row is None:
        return None
    rec = decode_row(row)
    img = conn.execute(select(t.images).where(t.images.c.data_id == data_id)).first()
    rec["image"] = decode_row(img) if img is not None else None
    job = None
    if rec.get("photometry_job_id") is not None:
        j = conn.execute(
            select(t.batch_jobs).where(t.batch_jobs.c.id == rec["photometry_job_id"])
        ).first()
        job = decode_row(j) if j is not None else None
    rec["photometry_job"] = job
    rec["n_measurements"] = _measurement_count(conn, data_id)
    return rec


#: Sort keys of the image and mosaic lists -> column (``images`` i, ``data_registry`` r,
#: ``image_normalization`` n).
IMAGE_SORTS = {
    "mjd": "i.mjd_mid",
    "created": "i.created_at",
    "data_id": "i.data_id",
    "noise": "i.noise_jy",
    "status": "r.status",
    "qa": "r.qa_status",
    "photometry": "r.photometry_status",
    "factor": "n.factor",
}


def _image_sort_column(key: str):
    tables = {"i": t.images, "r": t.data_registry, "n": image_normalization}
    if key not in IMAGE_SORTS:
        raise ValueError(f"unknown sort {key!r}; expected one of {', '.join(IMAGE_SORTS)}")
    alias, col = IMAGE_SORTS[key].split(".")
    return tables[alias].c[col]


def list_images(
    conn,
    *,
    limit: int,
    offset: int,
    kind: str | None = None,
    sort: str = "mjd",
    order: str = "desc",
    status: str | None = None,
    qa_status: str | None = None,
) -> tuple[list[dict], int]:
    """Return one page of images (or mosaics) with registry, QA and normalization status.

    Parameters
    ----------
    conn : Connection
        An open connection.
    limit, offset : int
        The page.
    kind : str, optional
        ``"image"`` or ``"mosaic"``.
    sort : str
        A key of :data:`IMAGE_SORTS` (default: observation time).
    order : str
        ``"asc"`` or ``"desc"``; ties are broken by ``data_id``.
    status, qa_status : str, optional
        Keep only this registry status / QA status.

    Returns
    -------
    rows : list of dict
        The image columns, ``status``, ``qa_status``, ``photometry_status``,
        ``photometry_job_id``, ``norm_status``, ``norm_factor``, ``norm_factor_err``,
        ``norm_n_refs`` (and ``n_members``/``members`` for mosaics).
    total : int
        Rows matching.
    """
    i, r, n = t.images, t.data_registry, image_normalization
    stmt = select(
        i,
        r.c.status,
        r.c.qa_status,
        r.c.qa_reason,
        r.c.photometry_status,
        r.c.photometry_job_id,
        r.c.calibration_status,
        r.c.superseded_by,
        n.c.status.label("norm_status"),
        n.c.factor.label("norm_factor"),
        n.c.factor_err.label("norm_factor_err"),
        n.c.n_refs.label("norm_n_refs"),
        n.c.reason.label("norm_reason"),
    ).select_from(
        i.outerjoin(r, r.c.data_id == i.c.data_id).outerjoin(n, n.c.data_id == i.c.data_id)
    )
    if kind:
        stmt = stmt.where(i.c.kind == kind)
    if status:
        stmt = stmt.where(r.c.status == status)
    if qa_status:
        stmt = stmt.where(r.c.qa_status == qa_status)
    col = _image_sort_column(sort)
    key = col.asc().nulls_last() if order == "asc" else col.desc().nulls_last()
    tie = i.c.data_id.asc() if order == "asc" else i.c.data_id.desc()
    total = count_rows(conn, stmt)
    rows = [
        decode_row(x) for x in conn.execute(stmt.order_by(key, tie).limit(limit).offset(offset))
    ]
    if kind == "mosaic" and rows:
        members = mosaic_members(conn, [x["data_id"] for x in rows])
        for x in rows:
            x["members"] = members.get(x["data_id"], [])
            x["n_members"] = len(x["members"])
    return rows, total


def mosaic_members(conn, data_ids: list[str]) -> dict[str, list[dict]]:
    """Return ``{mosaic data_id: [{"data_id", "mjd_mid"}, ...]}`` in the mosaic's input order."""
    mm = _members
    rows = conn.execute(
        select(mm.c.mosaic_data_id, mm.c.member_data_id, t.images.c.mjd_mid)
        .select_from(mm.outerjoin(t.images, t.images.c.data_id == mm.c.member_data_id))
        .where(mm.c.mosaic_data_id.in_(data_ids))
        .order_by(mm.c.mosaic_data_id, mm.c.position)
    ).all()
    out: dict[str, list[dict]] = {}
    for m, d, mjd in rows:
        out.setdefault(m, []).append({"data_id": d, "mjd_mid": mjd})
    return out


def image_record(conn, data_id: str) -> dict | None:
    """Return one image (or mosaic) record, or None when it is not registered.

    With its registry status, measurement count, normalization and (mosaics) members.
    """
    i, r = t.images, t.data_registry
    stmt = (
        select(
            i,
            r.c.status,
            r.c.qa_status,
            r.c.qa_reason,
            r.c.photometry_status,
            r.c.photometry_job_id,
            r.c.calibration_status,
            r.c.caltable_id,
            r.c.superseded_by,
        )
        .select_from(i.outerjoin(r, r.c.data_id == i.c.data_id))
        .where(i.c.data_id == data_id)
    )
    row = conn.execute(stmt).first()
    if row is None:
        return None
    rec = decode_row(row)
    rec["n_measurements"] = _measurement_count(conn, data_id)
    n = image_normalization
    norm = conn.execute(select(n).where(n.c.data_id == data_id)).first()
    rec["normalization"] = decode_row(norm) if norm is not None else None
    if rec.get("kind") == "mosaic":
        rec["members"] = mosaic_members(conn, [data_id]).get(data_id, [])
    return rec


#: Columns of a measurement as served (table on the image page, CSV export): the stored
#: photometry columns without the image's own id and the software version.
MEASUREMENT_COLUMNS = [c for c in PHOTOMETRY_COLUMNS if c not in ("data_id", "software_version")]


def image_measurements(
    conn,
    data_id: str,
    *,
    limit: int | None = None,
    offset: int = 0,
    sort: str = "flux_jy",
    order: str = "desc",
    search: str | None = None,
) -> tuple[list[dict], int]:
    """Return the measurements on one image (all of them when ``limit`` is None) and the count.

    ``sort`` is one of :data:`MEASUREMENT_COLUMNS` (ties by source_id); ``search`` keeps
    source ids containing it.
    """
    p = t.photometry
    if sort not in MEASUREMENT_COLUMNS:
        raise ValueError(f"unknown sort {sort!r}; expected one of {', '.join(MEASUREMENT_COLUMNS)}")
    col = p.c[sort]
    key = col.asc().nulls_last() if order == "asc" else col.desc().nulls_last()
    conds = [p.c.data_id == data_id]
    if search:
        conds.append(p.c.source_id.contains(search, autoescape=True))
    stmt = select(*[p.c[c] for c in MEASUREMENT_COLUMNS]).where(*conds).order_by(key, p.c.source_id)
    if limit is None:
        rows = [decode_row(x) for x in conn.execute(stmt)]
        return rows, len(rows)
    total = int(conn.execute(select(func.count()).where(*conds)).scalar_one())
    rows = [decode_row(x) for x in conn.execute(stmt.limit(limit).offset(offset))]
    return rows, total


def measurements_per_minute(
    conn, *, window_s: float = 300.0, now: float | None = None, scan_rows: int = 500_000
) -> float:
    """Return the photometry rows written per minute over the last ``window_s`` seconds.

    Only the newest ``scan_rows`` rows (by primary key) are examined, so the cost does not grow
    with the table; rates above ``scan_rows / window_s`` per second are under-counted.
    """
    now = time.time() if now is None else now
    p = t.photometry
    max_id = conn.execute(select(func.max(p.c.id))).scalar_one()
    if max_id is None:
        return 0.0
    n = conn.execute(
        select(func.count()).where(p.c.id > max_id - scan_rows, p.c.measured_at >= now - window_s)
    ).scalar_one()
    return float(n) * 60.0 / window_s
