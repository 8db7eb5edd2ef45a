"""The API's and the web pages' reads, as list envelopes and plain dicts (no SQL here).

Every query is in :mod:`dsa110_contimg.database` (one module per table family:
``product_lists`` for images, mosaics and measurements, ``job_lists``, ``source_lists``,
``candidates``, ``stream``); these functions open a connection, call it, turn a missing row
into :class:`~dsa110_contimg.errors.NotFoundError` and wrap pages in the API's envelope.
Writes never happen here: they go through the library functions of the stage that owns the
data (jobs, registry, normalization, ESE).
"""

from __future__ import annotations

from sqlalchemy import Engine

from ..database import job_lists, product_lists
from ..database.job_lists import JOB_SORTS
from ..database.product_lists import IMAGE_SORTS, MEASUREMENT_COLUMNS
from ..errors import NotFoundError
from .deps import Page

__all__ = [
    "IMAGE_SORTS",
    "JOB_SORTS",
    "MEASUREMENT_COLUMNS",
    "SOURCE_LIST_COLUMNS",
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
    "measurements_per_minute",
    "source_list",
    "source_summary",
    "stream_status",
]


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
    with engine.connect() as conn:
        rec = product_lists.data_record(conn, data_id)
    if rec is None:
        raise NotFoundError(f"data product {data_id!r} is not in the registry")
    return rec


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
    """Return one page of images (or mosaics) in the list envelope.

    See :func:`dsa110_contimg.database.product_lists.list_images`.
    """
    with engine.connect() as conn:
        rows, total = product_lists.list_images(
            conn,
            limit=page.limit,
            offset=page.offset,
            kind=kind,
            sort=sort,
            order=order,
            status=status,
            qa_status=qa_status,
        )
    return page.envelope(rows, total)


def list_jobs_table(
    engine: Engine,
    page: Page,
    *,
    sort: str = "id",
    order: str = "desc",
    status: str | None = None,
) -> dict:
    """Return one page of batch jobs sorted by a column of :data:`JOB_SORTS`."""
    with engine.connect() as conn:
        items, total = job_lists.list_jobs_table(
            conn, limit=page.limit, offset=page.offset, sort=sort, order=order, status=status
        )
    return page.envelope(items, total)


def get_image_record(engine: Engine, data_id: str, *, kind: str | None = None) -> dict:
    """Return one image (or mosaic) record with its registry status and measurement count."""
    with engine.connect() as conn:
        rec = product_lists.image_record(conn, data_id)
    if rec is None or (kind is not None and rec.get("kind") != kind):
        what = "mosaic" if kind == "mosaic" else "image"
        raise NotFoundError(f"{what} {data_id!r} is not registered")
    return rec


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
    with engine.connect() as conn:
        rows, total = product_lists.image_measurements(
            conn,
            data_id,
            limit=page.limit if page is not None else None,
            offset=page.offset if page is not None else 0,
            sort=sort,
            order=order,
            search=search,
        )
    if page is None:
        return {"items": rows, "total": total}
    return page.envelope(rows, total)


def list_jobs(settings, page: Page, *, status: str | None = None) -> dict:
    """Return one page of batch jobs, newest first (the jobs module's records)."""
    from ..database import get_engine
    from ..jobs import list_jobs as jobs_list

    with get_engine(settings).connect() as conn:
        total = job_lists.count_jobs(conn, status=status)
    recs = jobs_list(status=status, limit=page.limit, offset=page.offset, settings=settings)
    return page.envelope([r.to_dict() for r in recs], total)


def get_job(settings, job_id: int, *, max_errors: int = 100) -> dict:
    """Return one job with its item counts by status and the errors of its failed items."""
    from ..database import get_engine
    from ..jobs import get_job as jobs_get

    rec = jobs_get(job_id, settings=settings).to_dict()
    with get_engine(settings).connect() as conn:
        rec.update(job_lists.job_items_summary(conn, job_id, max_errors=max_errors))
    return rec


def count_by_status(engine: Engine, table: str = "batch_jobs") -> dict[str, int]:
    """Return ``{status: count}`` of batch jobs (or ``"batch_job_items"``)."""
    with engine.connect() as conn:
        return job_lists.count_by_status(conn, table)


def measurements_per_minute(
    engine: Engine, *, window_s: float = 300.0, now: float | None = None, scan_rows: int = 500_000
) -> float:
    """Return the photometry rows written per minute over the last ``window_s`` seconds.

    See :func:`dsa110_contimg.database.product_lists.measurements_per_minute`.
    """
    with engine.connect() as conn:
        return product_lists.measurements_per_minute(
            conn, window_s=window_s, now=now, scan_rows=scan_rows
        )


def source_summary(engine: Engine, catalog: str, source_id: str) -> dict:
    """Return a measured source's position, number of measurements and MJD range."""
    from ..database.source_lists import source_summary as summary

    with engine.connect() as conn:
        rec = summary(conn, catalog, source_id)
    if rec is None:
        raise NotFoundError(f"source {catalog}/{source_id} has no measurements")
    return rec


def stream_status(settings) -> dict:
    """Return the stream's state (the streaming queue's own summary) for health and metrics.

    Adds ``groups`` (counts by group status) and a ``warning`` when the oldest unfinished
    group is older than twice the group time-out (the stream is stuck or not running), or when
    a stream is paused (its reason: the disk watermark).
    """
    from ..conversion.streaming.queue import stream_status as queue_status

    out = dict(queue_status(settings))
    out["groups"] = {k: v for k, v in out.get("counts", {}).items() if v}
    lag = out.get("lag_seconds") or 0.0
    limit = 2 * settings.stream.group_timeout_seconds
    if lag > limit:
        out["warning"] = f"the oldest unfinished stream group is {lag:.0f} s old (> {limit:.0f} s)"
    if str(out.get("state") or "").startswith("paused"):  # the disk watermark (issue 15)
        out["warning"] = "; ".join(w for w in (out["state"], out.get("warning")) if w)
    return out


def ese_status(engine: Engine, catalog: str, source_id: str) -> dict | None:
    """Return the source's ESE candidate record with the best score, or None."""
    from ..database.candidates import best_candidate

    with engine.connect() as conn:
        return best_candidate(conn, catalog, source_id)


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
    from ..database.source_lists import BadCursor, list_sources, page_sources, row_cursor

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
            if cone is None and sort != "separation" and rows:
                # an offset page hands out cursors too: jump by offset, walk on by cursor
                more = page.offset + len(rows) < total
                cursors = (
                    row_cursor(rows[-1], sort, order) if more else None,
                    row_cursor(rows[0], sort, order, before=True) if page.offset else None,
                )
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
