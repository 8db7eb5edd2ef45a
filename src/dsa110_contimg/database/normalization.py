"""Storage of normalization: per-image states and factors, the references' own factors.

Tables ``image_normalization`` (migration 0005), the factors of migration 0020
(``photometry_products.norm_factor``, ``photometry_factors``: applied by the view
``photometry`` at read time) and the rows' own normalized values they replace. The
references themselves are in :mod:`.references`. Readers return columns (NULL as NaN in float
arrays, strings as lists); writers take a ``conn`` inside the caller's write transaction. The
arithmetic is in :mod:`dsa110_contimg.variability`; the orchestration in
:mod:`dsa110_contimg.variability.pipeline.normalize`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Engine, exists, func, or_, select

from .caltables import exclusion_reason, science_usable
from .rawsql import executemany_raw, fetch_raw
from .tables import (
    data_registry,
    image_normalization,
    images,
    photometry,
    photometry_products,
    photometry_rows,
)

__all__ = [
    "ImageFactors",
    "ImagePhotometry",
    "ProductState",
    "clean_measurements",
    "clear_normalized",
    "get_normalization",
    "image_centre",
    "measured_box",
    "measured_box_and_centre",
    "measured_boxes_and_centres",
    "product_state",
    "product_states",
    "products_in_order",
    "products_using_references",
    "reference_photometry",
    "sources_on_products",
    "store_normalizations",
    "vacuum_factors",
    "write_factors",
]

_CHUNK = 500


# --------------------------------------------------------------------------------------------
# images


def measured_box(conn: Connection, data_id: str) -> tuple[float, float, float, float] | None:
    """Return (ra_min, ra_max, dec_min, dec_max) of an image's measured positions, or None."""
    box = conn.execute(
        select(
            func.min(photometry.c.ra_deg),
            func.max(photometry.c.ra_deg),
            func.min(photometry.c.dec_deg),
            func.max(photometry.c.dec_deg),
        ).where(photometry.c.data_id == data_id)
    ).one()
    return None if box[0] is None else (box[0], box[1], box[2], box[3])


def image_centre(conn: Connection, data_id: str) -> tuple[float | None, float | None] | None:
    """Return the registered centre (RA, Dec) of an image, or None when not registered."""
    img = conn.execute(
        select(images.c.ra_center_deg, images.c.dec_center_deg).where(images.c.data_id == data_id)
    ).first()
    return None if img is None else (img.ra_center_deg, img.dec_center_deg)


def measured_box_and_centre(
    conn: Connection, data_id: str
) -> tuple[tuple[float, float, float, float] | None, tuple[float | None, float | None] | None]:
    """Return :func:`measured_box` and :func:`image_centre` of an image in one statement.

    Without photometry on the image both are None (the box is what the caller needs).
    """
    return measured_boxes_and_centres(conn, [data_id])[data_id]


def measured_boxes_and_centres(conn: Connection, data_ids: Sequence[str]) -> dict:
    """:func:`measured_box_and_centre` of several images, one statement per 500 of them."""
    p, img = photometry.c, images.c
    ids = list(dict.fromkeys(data_ids))
    out: dict = dict.fromkeys(ids, (None, None))
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        stmt = (
            select(
                p.data_id,
                func.min(p.ra_deg),
                func.max(p.ra_deg),
                func.min(p.dec_deg),
                func.max(p.dec_deg),
                img.ra_center_deg,
                img.dec_center_deg,
                img.data_id,
            )
            .select_from(photometry.outerjoin(images, img.data_id == p.data_id))
            .where(p.data_id == part[0] if len(part) == 1 else p.data_id.in_(part))
            .group_by(p.data_id, img.ra_center_deg, img.dec_center_deg, img.data_id)
        )
        for row in conn.execute(stmt):
            box = None if row[1] is None else (row[1], row[2], row[3], row[4])
            out[row[0]] = (box, (row[5], row[6]) if row[7] is not None else None)
    return out


def clean_measurements(*columns):
    """SELECT ``columns`` of clean measurements (empty ``flags``) on images whose QA did not fail.

    Products that are ``uncalibrated`` or superseded by a re-calibrated one are left out too
    (:func:`~dsa110_contimg.database.caltables.science_usable`).

    ``images`` and ``data_registry`` are outer-joined, so ``images.c.kind`` may be selected or
    filtered on. Shared by the baselines and the metric recomputation.
    """
    return (
        select(*columns)
        .select_from(
            photometry.outerjoin(images, images.c.data_id == photometry.c.data_id).outerjoin(
                data_registry, data_registry.c.data_id == photometry.c.data_id
            )
        )
        .where(
            photometry.c.flags == "",
            or_(data_registry.c.qa_status.is_(None), data_registry.c.qa_status != "failed"),
            science_usable(),
        )
    )


@dataclass(frozen=True)
class ImagePhotometry:
    """Measurements of one product (source, raw flux and error, flags).

    ``flux`` and ``err`` are float64 with NaN for NULL; ``source_key`` the rows' keys in
    ``photometry_sources``; the other columns are lists.
    """

    source_key: np.ndarray
    catalog: list[str]
    source_id: list[str]
    flux: np.ndarray
    err: np.ndarray
    flags: list[str]

    def __len__(self) -> int:
        return len(self.catalog)


@dataclass(frozen=True)
class ProductState:
    """What the normalization and the metrics check of a product before reading its rows.

    Attributes
    ----------
    kind : str or None
        ``image``/``mosaic``, None when the product is not registered in ``images``.
    mjd_mid : float or None
        The registered mid time.
    has_photometry : bool
        At least one measurement row.
    excluded : str or None
        See :func:`~dsa110_contimg.database.caltables.excluded_from_science`.
    qa_failed : bool
        Its QA failed.
    """

    kind: str | None
    mjd_mid: float | None
    has_photometry: bool
    excluded: str | None
    qa_failed: bool

    @property
    def registered(self) -> bool:
        """The product is in ``images``."""
        return self.kind is not None


def _in(conn: Connection, n: int) -> str:
    return ", ".join(["?"] * n)


def product_states(conn: Connection, data_ids: Sequence[str]) -> dict[str, ProductState]:
    """Return the :class:`ProductState` of each product (a few statements for the block)."""
    ids = list(dict.fromkeys(data_ids))
    out: dict[str, ProductState] = {}
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        q = _in(conn, len(part))
        registered = {r[0]: r[1:] for r in fetch_raw(
            conn, f"SELECT data_id, kind, mjd_mid FROM images WHERE data_id IN ({q})",
            part)}  # fmt: skip
        reg = {
            r[0]: r[1:]
            for r in fetch_raw(
                conn,
                "SELECT data_id, qa_status, calibration_status, superseded_by "
                f"FROM data_registry WHERE data_id IN ({q})",
                part,
            )
        }
        rows = {
            r[0]
            for r in fetch_raw(
                conn,
                "SELECT p.data_id FROM photometry_products p WHERE p.data_id IN "
                f"({q}) AND EXISTS (SELECT 1 FROM photometry_rows r "
                "WHERE r.image_key = p.image_key)",
                part,
            )
        }
        for d in part:
            qa, cal, sup = reg.get(d, (None, None, None))
            kind, mjd_mid = registered.get(d, (None, None))
            out[d] = ProductState(
                kind, mjd_mid, d in rows, exclusion_reason(cal, sup), qa == "failed"
            )
    return out


def product_state(conn: Connection, data_id: str) -> ProductState:
    """Return one product's :class:`ProductState` in one statement (the per-image path)."""
    img = select(images.c.kind, images.c.mjd_mid).where(images.c.data_id == data_id)
    reg = select(
        data_registry.c.qa_status, data_registry.c.calibration_status,
        data_registry.c.superseded_by,
    ).where(data_registry.c.data_id == data_id)  # fmt: skip
    has = exists().where(
        photometry_rows.c.image_key
        == select(photometry_products.c.image_key)
        .where(photometry_products.c.data_id == data_id)
        .scalar_subquery()
    )
    row = conn.execute(
        select(
            img.with_only_columns(images.c.kind).scalar_subquery(),
            img.with_only_columns(images.c.mjd_mid).scalar_subquery(),
            has,
            reg.with_only_columns(data_registry.c.qa_status).scalar_subquery(),
            reg.with_only_columns(data_registry.c.calibration_status).scalar_subquery(),
            reg.with_only_columns(data_registry.c.superseded_by).scalar_subquery(),
        )
    ).one()
    return ProductState(
        kind=row[0],
        mjd_mid=row[1],
        has_photometry=bool(row[2]),
        excluded=exclusion_reason(row[4], row[5]),
        qa_failed=row[3] == "failed",
    )


#: Up to this many products per read, the reference rows' sources are probed by key.
_PROBE_MAX_PRODUCTS = 4


def _reference_rows_sql(marks: str, *, lateral: bool) -> str:
    """Return the statement of :func:`reference_photometry` (``marks``: its products' ``?``).

    For a few products on PostgreSQL (``lateral``) each row's source is a primary-key probe
    (``LATERAL ... LIMIT 1``): joined plainly, the planner hashed the whole source dictionary
    for every image (100,000 sources at 10^8 rows: 26-60 ms per image, growing with the
    survey; 2 ms probed). A block of 100 images (the Dask re-normalization) has ~65,000 rows:
    hashing the dictionary once is cheaper there (31 ms of server CPU per block at 10^7
    against 44-68 ms probed; at 10^8 the probes doubled the normalization's server CPU).
    """
    src = (
        "CROSS JOIN LATERAL (SELECT catalog, source_id FROM photometry_sources s0 "
        "WHERE s0.source_key = r.source_key LIMIT 1) s "
        if lateral
        else "JOIN photometry_sources s ON s.source_key = r.source_key "
    )
    return (
        "SELECT p.data_id, r.source_key, s.catalog, s.source_id, r.flux_jy, r.flux_err_jy, "
        "r.flags FROM photometry_products p "
        f"JOIN photometry_rows r ON r.image_key = p.image_key {src}"
        f"WHERE p.data_id IN ({marks}) AND s.source_id IN "
        "(SELECT source_id FROM reference_sources WHERE status = 'active') "
        "ORDER BY p.image_key, s.catalog, s.source_id"
    )


def reference_photometry(conn: Connection, data_ids: Sequence[str]) -> dict[str, ImagePhotometry]:
    """Return the measurements of active references' sources on some products (one statement).

    Every measurement whose ``source_id`` is that of an ``active`` reference (any catalog: the
    caller matches catalogs), the only rows a normalization factor depends on. Per product in
    (catalog, source_id) order: the order of the unique index SQLite reads them by anyway,
    and on PostgreSQL (heap order otherwise) what makes the factor's sums, hence the results
    to the last bit, reproducible. A product without such rows maps to empty columns.
    """
    ids = list(dict.fromkeys(data_ids))
    found: dict[str, list] = {d: [] for d in ids}
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        # a few images (the per-image path): probe each row's source; a block: hash them once
        probe = conn.dialect.name == "postgresql" and len(part) <= _PROBE_MAX_PRODUCTS
        rows = fetch_raw(conn, _reference_rows_sql(_in(conn, len(part)), lateral=probe), part)
        for r in rows:
            found[r[0]].append(r[1:])
    out = {}
    for d, rows in found.items():
        cols = list(zip(*rows, strict=True)) if rows else [()] * 6
        out[d] = ImagePhotometry(
            np.array(cols[0], dtype=np.int64),
            list(cols[1]),
            list(cols[2]),
            np.array(cols[3], dtype=np.float64),  # None -> NaN
            np.array(cols[4], dtype=np.float64),
            list(cols[5]),
        )
    return out


def _finite_or_none(a) -> list:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(a, dtype=float).tolist()]


@dataclass(frozen=True)
class ImageFactors:
    """An image's normalization as stored (:func:`write_factors`).

    Attributes
    ----------
    data_id : str
        The image or mosaic.
    factor, factor_err : float or None
        Its factor and error (None: not normalized, its rows read NULL).
    source_keys : numpy.ndarray of int
        The references measured on it (``photometry_sources.source_key``).
    ref_factor, ref_factor_err : numpy.ndarray
        Their own (leave-one-out) factors; non-finite: the row reads NULL.
    """

    data_id: str
    factor: float | None
    factor_err: float | None
    source_keys: np.ndarray
    ref_factor: np.ndarray
    ref_factor_err: np.ndarray


def write_factors(conn: Connection, items: Sequence[ImageFactors]) -> None:
    """Store images' normalizations: what the view ``photometry`` applies at read time.

    Each image's factor goes to ``photometry_products``, its references' own factors to
    ``photometry_factors`` (replacing the image's old ones), and the rows of the images that
    hold their own normalized values (written before migration 0020, or through the view)
    are cleared so that they read the factors. Five statements for any number of images on
    PostgreSQL: no measurement row is rewritten.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Connection in the caller's write transaction.
    items : sequence of ImageFactors
        The images (unknown ``data_id``s are skipped).
    """
    items = list(items)
    keys: dict[str, int] = {}
    for i in range(0, len(items), _CHUNK):
        part = [it.data_id for it in items[i : i + _CHUNK]]
        keys.update(fetch_raw(
            conn,
            f"SELECT data_id, image_key FROM photometry_products WHERE data_id IN "
            f"({_in(conn, len(part))})",
            part,
        ))  # fmt: skip
    items = [it for it in items if it.data_id in keys]
    if not items:
        return
    img = [keys[it.data_id] for it in items]
    f = _finite_or_none([np.nan if it.factor is None else it.factor for it in items])
    fe = _finite_or_none([np.nan if it.factor_err is None else it.factor_err for it in items])
    rk = np.concatenate([np.asarray(it.source_keys, dtype=np.int64) for it in items]).tolist()
    ri = np.repeat(img, [len(it.source_keys) for it in items]).tolist()
    rf = _finite_or_none(np.concatenate([it.ref_factor for it in items]))
    rfe = _finite_or_none(np.concatenate([it.ref_factor_err for it in items]))
    own = "(normalized_flux_jy IS NOT NULL OR normalized_flux_err_jy IS NOT NULL)"
    clear = "UPDATE photometry_rows SET normalized_flux_jy = NULL, normalized_flux_err_jy = NULL "
    insert = "INSERT INTO photometry_factors (source_key, image_key, factor, factor_err) "
    if conn.dialect.name == "sqlite":
        by_image = [(k,) for k in img]
        executemany_raw(
            conn,
            "UPDATE photometry_products SET norm_factor = ?, norm_factor_err = ? "
            "WHERE image_key = ?",
            list(zip(f, fe, img, strict=True)),
        )
        executemany_raw(conn, "DELETE FROM photometry_factors WHERE image_key = ?", by_image)
        executemany_raw(
            conn, insert + "VALUES (?, ?, ?, ?)", list(zip(rk, ri, rf, rfe, strict=True))
        )
        executemany_raw(conn, clear + f"WHERE image_key = ? AND {own}", by_image)
        return
    arrays = "CAST(%s AS int4[]), CAST(%s AS float8[]), CAST(%s AS float8[])"
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(
            "UPDATE photometry_products p SET norm_factor = v.f, norm_factor_err = v.fe "
            f"FROM unnest({arrays}) AS v(k, f, fe) WHERE p.image_key = v.k",
            (img, f, fe),
        )
        cur.execute("DELETE FROM photometry_factors WHERE image_key = ANY(%s)", (img,))
        if rk:
            cur.execute(
                insert + f"SELECT * FROM unnest(CAST(%s AS int4[]), {arrays})",
                (rk, ri, rf, rfe),
            )
        cur.execute(clear + f"WHERE image_key = ANY(%s) AND {own}", (img,))
    finally:
        cur.close()


def clear_normalized(conn: Connection, data_id: str) -> None:
    """Make a product's normalized values NULL (its factors removed, own values cleared)."""
    none = np.zeros(0)
    write_factors(conn, [ImageFactors(data_id, None, None, none.astype(np.int64), none, none)])


def store_normalizations(conn: Connection, records: Sequence[Mapping], *, now: float) -> None:
    """Insert or replace the ``image_normalization`` rows of some products (one statement)."""
    rows = [{**r, "updated_at": now} for r in records]
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    stmt = insert(image_normalization)
    cols = [c for c in rows[0] if c != "data_id"]
    stmt = stmt.on_conflict_do_update(
        index_elements=["data_id"], set_={c: stmt.excluded[c] for c in cols}
    )
    conn.execute(stmt, rows)


def get_normalization(conn: Connection, data_id: str) -> dict | None:
    """Return the stored normalization of a product as a dict, or None."""
    r = conn.execute(
        select(image_normalization).where(image_normalization.c.data_id == data_id)
    ).first()
    return None if r is None else dict(r._mapping)


def products_in_order(conn: Connection) -> list[str]:
    """Every product with photometry or registered: images by mid time, then unregistered ones."""
    ids = [
        r[0]
        for r in conn.execute(select(images.c.data_id).order_by(images.c.mjd_mid, images.c.data_id))
    ]
    # from the product dictionary (one row per product), not a DISTINCT over the view: that
    # was a parallel scan of every measurement, twice per pass at 10^8 rows
    p, r = photometry_products, photometry_rows
    extra = conn.execute(
        select(p.c.data_id)
        .where(p.c.data_id.not_in(select(images.c.data_id)))
        .where(exists().where(r.c.image_key == p.c.image_key))
        .order_by(p.c.data_id)
    ).all()
    return ids + [r[0] for r in extra]


def products_using_references(conn: Connection, source_ids: Sequence[str]) -> set[str]:
    """Products whose normalization involved any of these references (by ``source_id``).

    A normalized product holds a leave-one-out factor (``photometry_factors``) for every
    active reference measured on it: exactly the products whose factors change when one of
    them is dropped. The passes of a full re-normalization after the first redo only these.
    """
    ids = sorted(set(source_ids))
    out: set[str] = set()
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        out.update(
            r[0]
            for r in fetch_raw(
                conn,
                "SELECT DISTINCT p.data_id FROM photometry_factors x "
                "JOIN photometry_sources s ON s.source_key = x.source_key "
                "JOIN photometry_products p ON p.image_key = x.image_key "
                f"WHERE s.source_id IN ({_in(conn, len(part))})",
                part,
            )
        )
    return out


def vacuum_factors(engine: Engine) -> None:
    """Vacuum the factors after a whole re-normalization rewrote them (PostgreSQL).

    Sets the visibility map, which makes a light curve's reads of ``photometry_factors``
    and ``photometry_products`` index-only scans (migrations 0021, 0022), and refreshes the
    planner's statistics of the two tables it rewrote. The run replaced every factor and
    every product's factor, which left both primary keys half empty (the factors' 573 MB ->
    1.5 GB at 10^8 rows: more pages per light curve); they are rebuilt concurrently
    (readers go on; ~15 s at 10^8). Nothing to do on SQLite.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for key in ("pk_photometry_factors", "pk_photometry_products"):
            conn.exec_driver_sql(f"REINDEX INDEX CONCURRENTLY {key}")
        conn.exec_driver_sql("VACUUM (ANALYZE) photometry_factors, photometry_products")


def sources_on_products(conn: Connection, data_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(catalog, source_id) of every photometry row on the products."""
    data_ids = list(data_ids)
    keys = set()
    for i in range(0, len(data_ids), _CHUNK):
        keys.update(
            (r.catalog, r.source_id)
            for r in conn.execute(
                select(photometry.c.catalog, photometry.c.source_id)
                .distinct()
                .where(photometry.c.data_id.in_(data_ids[i : i + _CHUNK]))
            )
        )
    return keys
