"""Read-only database queries behind the API and the web pages (SQLAlchemy Core).

Writes never happen here: they go through the library functions of the stage that owns the
data (jobs, registry, normalization, ESE). Every function takes the engine and returns plain
dicts, ready for JSON.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from sqlalchemy import Engine, func, select

from ..database.products import PHOTOMETRY_COLUMNS
from ..database.tables import products as t
from ..errors import NotFoundError
from .deps import Page

__all__ = [
    "count_by_status",
    "ese_status",
    "get_data_record",
    "get_image_record",
    "get_job",
    "image_photometry",
    "list_data",
    "list_images",
    "list_jobs",
    "list_jobs_table",
    "mosaic_members",
    "measurements_per_minute",
    "source_list",
    "source_summary",
    "stream_status",
]

_JSON_FIELDS = ("params", "qa_metrics", "imaging_params")


def _row(row) -> dict[str, Any]:
    d = dict(row._mapping)
    for key in _JSON_FIELDS:
        if isinstance(d.get(key), str):
            try:
                d[key] = json.loads(d[key])
            except ValueError:
                pass
    return d


def _count(conn, stmt) -> int:
    return int(conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())


def list_data(
    settings,
    page: Page,
    *,
    data_type: str | None = None,
    status: str | None = None,
    photometry_status: str | None = None,
    qa_status: str | None = None,
) -> dict:
    """Return one page of the data registry, newest first (via the registry's own functions)."""
    from ..database.registry import count_data
    from ..database.registry import list_data as registry_list

    filters = dict(
        data_type=data_type, status=status, photometry_status=photometry_status, qa_status=qa_status
    )
    total = count_data(**filters, settings=settings)
    recs = registry_list(**filters, limit=page.limit, offset=page.offset, settings=settings)
    return page.envelope([r.to_dict() for r in recs], total)


def get_data_record(engine: Engine, data_id: str) -> dict:
    """Return one registry record with its image record and photometry job summary."""
    r = t.data_registry
    with engine.connect() as conn:
        row = conn.execute(select(r).where(r.c.data_id == data_id)).first()
        if row is None:
            raise NotFoundError(f"data product {data_id!r} is not in the registry")
        rec = _row(row)
        img = conn.execute(select(t.images).where(t.images.c.data_id == data_id)).first()
        rec["image"] = _row(img) if img is not None else None
        job = None
        if rec.get("photometry_job_id") is not None:
            j = conn.execute(
                select(t.batch_jobs).where(t.batch_jobs.c.id == rec["photometry_job_id"])
            ).first()
            job = _row(j) if j is not None else None
        rec["photometry_job"] = job
        rec["n_measurements"] = int(
            conn.execute(select(func.count()).where(t.photometry.c.data_id == data_id)).scalar_one()
        )
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
    from ..database.tables import normalization as nt

    tables = {"i": t.images, "r": t.data_registry, "n": nt.image_normalization}
    if key not in IMAGE_SORTS:
        raise ValueError(f"unknown sort {key!r}; expected one of {', '.join(IMAGE_SORTS)}")
    alias, col = IMAGE_SORTS[key].split(".")
    return tables[alias].c[col]


def list_images(
    engine: Engine,
    page: Page,
    *,
    kind: str | None = None,
    sort: str = "mjd",
    order: str = "desc",
    status: str | None = None,
    qa_status: str | None = None,
) -> dict:
    """Return one page of images (or mosaics) with registry, QA and normalization status.

    Parameters
    ----------
    engine : Engine
        The database.
    page : Page
        Rows to return.
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
    dict
        The list envelope; each item has the image columns, ``status``, ``qa_status``,
        ``photometry_status``, ``photometry_job_id``, ``norm_status``, ``norm_factor``,
        ``norm_factor_err``, ``norm_n_refs`` (and ``n_members``/``members`` for mosaics).
    """
    from ..database.tables import normalization as nt

    i, r, n = t.images, t.data_registry, nt.image_normalization
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
    with engine.connect() as conn:
        total = _count(conn, stmt)
        rows = [
            _row(x)
            for x in conn.execute(stmt.order_by(key, tie).limit(page.limit).offset(page.offset))
        ]
        if kind == "mosaic" and rows:
            members = mosaic_members(conn, [x["data_id"] for x in rows])
            for x in rows:
                x["members"] = members.get(x["data_id"], [])
                x["n_members"] = len(x["members"])
    return page.envelope(rows, total)


def mosaic_members(conn, data_ids: list[str]) -> dict[str, list[dict]]:
    """Return ``{mosaic data_id: [{"data_id", "mjd_mid"}, ...]}`` in the mosaic's input order."""
    from ..database.tables import mosaic as mt

    mm = mt.mosaic_members
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


#: Sort keys of the jobs list.
JOB_SORTS = ("id", "created_at", "status", "job_type", "total_items", "failed_items")


def list_jobs_table(
    engine: Engine,
    page: Page,
    *,
    sort: str = "id",
    order: str = "desc",
    status: str | None = None,
) -> dict:
    """Return one page of batch jobs sorted by a column of :data:`JOB_SORTS`."""
    j = t.batch_jobs
    if sort not in JOB_SORTS:
        raise ValueError(f"unknown sort {sort!r}; expected one of {', '.join(JOB_SORTS)}")
    stmt = select(j)
    if status:
        stmt = stmt.where(j.c.status == status)
    col = j.c[sort]
    key = col.asc().nulls_last() if order == "asc" else col.desc().nulls_last()
    with engine.connect() as conn:
        total = _count(conn, stmt)
        rows = conn.execute(stmt.order_by(key, j.c.id.desc()).limit(page.limit).offset(page.offset))
        items = [_row(x) for x in rows]
    for x in items:
        x["job_id"] = x.pop("id")
    return page.envelope(items, total)


def get_image_record(engine: Engine, data_id: str, *, kind: str | None = None) -> dict:
    """Return one image (or mosaic) record with its registry status and measurement count."""
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
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
        if row is None or (kind is not None and row.kind != kind):
            what = "mosaic" if kind == "mosaic" else "image"
            raise NotFoundError(f"{what} {data_id!r} is not registered")
        rec = _row(row)
        rec["n_measurements"] = int(
            conn.execute(select(func.count()).where(t.photometry.c.data_id == data_id)).scalar_one()
        )
        from ..database.tables import normalization as nt

        n = nt.image_normalization
        norm = conn.execute(select(n).where(n.c.data_id == data_id)).first()
        rec["normalization"] = _row(norm) if norm is not None else None
        if rec.get("kind") == "mosaic":
            rec["members"] = mosaic_members(conn, [data_id]).get(data_id, [])
    return rec


#: Columns of a measurement as served (table on the image page, CSV export): the stored
#: photometry columns without the image's own id and the software version.
MEASUREMENT_COLUMNS = [c for c in PHOTOMETRY_COLUMNS if c not in ("data_id", "software_version")]


def image_photometry(
    engine: Engine,
    data_id: str,
    page: Page | None = None,
    *,
    sort: str = "flux_jy",
    order: str = "desc",
    search: str | None = None,
) -> dict:
    """Return the measurements on one image, brightest first (all of them without a page).

    ``sort`` is one of :data:`MEASUREMENT_COLUMNS`; ``search`` keeps source ids containing it.
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
    with engine.connect() as conn:
        if page is None:
            rows = conn.execute(stmt).all()
            return {"items": [_row(x) for x in rows], "total": len(rows)}
        total = int(conn.execute(select(func.count()).where(*conds)).scalar_one())
        rows = conn.execute(stmt.limit(page.limit).offset(page.offset)).all()
    return page.envelope([_row(x) for x in rows], total)


def list_jobs(settings, page: Page, *, status: str | None = None) -> dict:
    """Return one page of batch jobs, newest first (the jobs module's records)."""
    from ..jobs import list_jobs as jobs_list

    j = t.batch_jobs
    stmt = select(func.count()).select_from(j)
    if status:
        stmt = stmt.where(j.c.status == status)
    from ..database import get_engine

    with get_engine(settings).connect() as conn:
        total = int(conn.execute(stmt).scalar_one())
    recs = jobs_list(status=status, limit=page.limit, offset=page.offset, settings=settings)
    return page.envelope([r.to_dict() for r in recs], total)


def get_job(settings, job_id: int, *, max_errors: int = 100) -> dict:
    """Return one job with its item counts by status and the errors of its failed items."""
    from ..database import get_engine
    from ..jobs import get_job as jobs_get

    rec = jobs_get(job_id, settings=settings).to_dict()
    it = t.batch_job_items
    with get_engine(settings).connect() as conn:
        counts = conn.execute(
            select(it.c.status, func.count()).where(it.c.job_id == job_id).group_by(it.c.status)
        ).all()
        errs = conn.execute(
            select(
                it.c.id.label("item_id"),
                it.c.fits_path,
                it.c.data_id,
                it.c.status,
                it.c.attempts,
                it.c.error,
            )
            .where(it.c.job_id == job_id, it.c.error.is_not(None))
            .order_by(it.c.id)
            .limit(max_errors)
        ).all()
    rec["item_counts"] = {s: int(n) for s, n in counts}
    rec["errors"] = [_row(x) for x in errs]
    return rec


def count_by_status(engine: Engine, table: str = "batch_jobs") -> dict[str, int]:
    """Return ``{status: count}`` of batch jobs (or ``"batch_job_items"``)."""
    tab = t.batch_jobs if table == "batch_jobs" else t.batch_job_items
    with engine.connect() as conn:
        rows = conn.execute(select(tab.c.status, func.count()).group_by(tab.c.status)).all()
    return {s: int(n) for s, n in rows}


def measurements_per_minute(
    engine: Engine, *, window_s: float = 300.0, now: float | None = None, scan_rows: int = 500_000
) -> float:
    """Return the photometry rows written per minute over the last ``window_s`` seconds.

    Only the newest ``scan_rows`` rows (by primary key) are examined, so the cost does not grow
    with the table; rates above ``scan_rows / window_s`` per second are under-counted.
    """
    now = time.time() if now is None else now
    p = t.photometry
    with engine.connect() as conn:
        max_id = conn.execute(select(func.max(p.c.id))).scalar_one()
        if max_id is None:
            return 0.0
        n = conn.execute(
            select(func.count()).where(
                p.c.id > max_id - scan_rows, p.c.measured_at >= now - window_s
            )
        ).scalar_one()
    return float(n) * 60.0 / window_s


def _source_aggregates() -> list:
    """Per-source summary columns over its measurements (mean position, count, MJD range)."""
    p = t.photometry
    return [
        func.avg(p.c.ra_deg).label("ra_deg"),
        func.avg(p.c.dec_deg).label("dec_deg"),
        func.count().label("n_measurements"),
        func.min(p.c.mjd).label("first_mjd"),
        func.max(p.c.mjd).label("last_mjd"),
        func.max(p.c.catalog_flux_mjy).label("catalog_flux_mjy"),
    ]


def source_summary(engine: Engine, catalog: str, source_id: str) -> dict:
    """Return a measured source's position, number of measurements and MJD range."""
    p = t.photometry
    with engine.connect() as conn:
        row = conn.execute(
            select(*_source_aggregates()).where(p.c.catalog == catalog, p.c.source_id == source_id)
        ).first()
        if row is None or not row.n_measurements:
            raise NotFoundError(f"source {catalog}/{source_id} has no measurements")
        rec = {"catalog": catalog, "source_id": source_id, **_row(row)}
        recent = conn.execute(
            select(p.c.data_id, p.c.mjd, p.c.flux_jy, p.c.flags, t.images.c.kind)
            .select_from(p.outerjoin(t.images, t.images.c.data_id == p.c.data_id))
            .where(p.c.catalog == catalog, p.c.source_id == source_id)
            .order_by(p.c.mjd.desc().nulls_last())
            .limit(500)
        ).all()
    rec["images"] = [_row(x) for x in recent]
    for k in ("ra_deg", "dec_deg"):
        if rec[k] is not None and not math.isfinite(rec[k]):
            rec[k] = None
    return rec


def stream_status(settings) -> dict:
    """Return the stream's state (the streaming queue's own summary) for health and metrics.

    Adds ``groups`` (counts by group status) and a ``warning`` when the oldest unfinished
    group is older than twice the group time-out (the stream is stuck or not running).
    """
    from ..conversion.streaming.queue import stream_status as queue_status

    out = dict(queue_status(settings))
    out["groups"] = {k: v for k, v in out.get("counts", {}).items() if v}
    lag = out.get("lag_seconds") or 0.0
    limit = 2 * settings.stream.group_timeout_seconds
    if lag > limit:
        out["warning"] = f"the oldest unfinished stream group is {lag:.0f} s old (> {limit:.0f} s)"
    return out


def ese_status(engine: Engine, catalog: str, source_id: str) -> dict | None:
    """Return the source's ESE candidate record with the best score, or None."""
    from ..database.tables import normalization as nt

    c = nt.ese_candidates
    with engine.connect() as conn:
        row = conn.execute(
            select(c)
            .where(c.c.catalog == catalog, c.c.source_id == source_id)
            .order_by(c.c.score.desc())
            .limit(1)
        ).first()
    return _row(row) if row is not None else None


def _source_list_columns() -> list[str]:
    from ..database.source_lists import LIST_COLUMNS

    return list(LIST_COLUMNS)


#: Columns of the source list as served (JSON items, CSV and VOTable export), in order.
SOURCE_LIST_COLUMNS = _source_list_columns()


def source_list(
    engine: Engine,
    page: Page,
    *,
    q: str | None = None,
    radius: str | float | None = None,
    cone: tuple[float, float, float] | None = None,
    series: str = "epoch",
    sort: str | None = None,
    order: str = "desc",
    eta_min: float | None = None,
    v_min: float | None = None,
    max_dip_sigma_min: float | None = None,
    median_flux_min: float | None = None,
    median_flux_max: float | None = None,
    ese_status: str | None = None,
    reference: bool | None = None,
    catalog: str | None = None,
    cursor: str | None = None,
) -> dict:
    """Return one page of the per-source table (never a scan of photometry).

    ``q`` is a source name or a position as typed (see
    :func:`~dsa110_contimg.catalog.names.parse_sky_query`), searched within ``radius``; a
    name's exact match comes first. Without ``q`` or ``cone`` every measured source is listed,
    sorted by ``sort`` (default ``eta``; ``separation`` for searches), by offset or, with
    ``cursor`` (a page's ``next_cursor``/``prev_cursor``), by keyset; every list page carries
    ``next_cursor`` and ``prev_cursor`` (None for searches, which page by offset).

    Raises
    ------
    QueryParseError
        ``q`` or ``radius`` cannot be read.
    BadCursor
        ``cursor`` cannot be read, belongs to another sort, or is given with a search or an
        offset.
    """
    from ..catalog.names import parse_sky_query
    from ..database.source_lists import BadCursor, list_sources, page_sources

    query = None
    if q is not None and q.strip():
        query = parse_sky_query(q, radius=radius)
        cone = (query.ra_deg, query.dec_deg, query.radius_deg)
    if sort is None:
        sort = "separation" if cone is not None else "eta"
        if cone is not None:
            order = "asc"
    kwargs = dict(
        series=series,
        sort=sort,
        order=order,
        eta_min=eta_min,
        v_min=v_min,
        max_dip_sigma_min=max_dip_sigma_min,
        median_flux_min=median_flux_min,
        median_flux_max=median_flux_max,
        ese_status=ese_status,
        reference=reference,
        catalog=catalog,
        cone=cone,
    )
    cursors = None
    if cursor is not None and cone is not None:
        raise BadCursor("a search pages by offset, not by cursor")
    if cursor is not None and page.offset:
        raise BadCursor("give either a cursor or an offset, not both")
    with engine.connect() as conn:
        if cone is None and sort != "separation" and (cursor is not None or page.offset == 0):
            kwargs.pop("cone")
            got = page_sources(conn, cursor=cursor, limit=page.limit, **kwargs)
            rows, total, cursors = got.rows, got.total, (got.next_cursor, got.prev_cursor)
        elif query is not None and query.kind == "name":
            rows, total = list_sources(conn, limit=10**9, offset=0, **kwargs)
            want = query.name.source_id.upper()
            exact = [r for r in rows if r["source_id"].upper() == want]
            rows = exact + [r for r in rows if r["source_id"].upper() != want]
            rows = rows[page.offset : page.offset + page.limit]
        else:
            rows, total = list_sources(conn, limit=page.limit, offset=page.offset, **kwargs)
    items = [{c: r.get(c) for c in SOURCE_LIST_COLUMNS} for r in rows]
    for x in items:
        x["is_reference"] = bool(x["is_reference"])
    out = page.envelope(items, total)
    if cursors is not None:
        out["next_cursor"], out["prev_cursor"] = cursors
        if cursor is not None:  # a keyset page: its offset is unknown
            out["offset"] = out["next_offset"] = None
    else:
        out["next_cursor"] = out["prev_cursor"] = None
    if query is not None:
        out["query"] = {
            "kind": query.kind,
            "text": query.text,
            "ra_deg": query.ra_deg,
            "dec_deg": query.dec_deg,
            "radius_deg": query.radius_deg,
            "source_id": query.name.source_id if query.name else None,
        }
    out["sort"], out["order"], out["series"] = sort, order, series
    return out
