"""Products: registering images (and mosaics) and storing their photometry.

An image is registered once, under one ``data_id`` (stable for the same resolved path, never
shared by two files); its header gives the observation times, field centre, restoring beam
and frequency, and the noise is the robust rms of the *uncorrected* image when the registered
file is a primary-beam-corrected ``<name>-image-pb.fits``. Registering also creates its
:mod:`data registry <dsa110_contimg.database.registry>` record, in the same transaction.

Photometry rows are stored in bulk by :func:`photometry_insert`: one transaction, an upsert on
``(data_id, catalog, source_id)`` (so re-running a measurement never duplicates a row). On
SQLite the hot path is the driver's own ``executemany`` of a prepared multi-row
``INSERT ... VALUES ... ON CONFLICT DO UPDATE``, with the values the batch shares (``data_id``,
job id, ...) written into the statement once rather than bound on every row; on PostgreSQL the rows
are streamed with binary ``COPY`` into a temporary table and merged with one
``INSERT ... SELECT ... ON CONFLICT``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from ..config import Settings, resolve_settings
from ..errors import DatabaseError, NotFoundError
from .engine import get_engine, write_transaction
from .tables.products import data_registry, images

__all__ = [
    "PHOTOMETRY_COLUMNS",
    "ImageRecord",
    "default_data_id",
    "existing_image_ids",
    "get_image",
    "insert_image_rows",
    "insert_photometry_rows",
    "list_images",
    "photometry_for_data",
    "photometry_insert",
    "photometry_positions",
    "register_image",
]

log = logging.getLogger(__name__)

#: Columns written by :func:`photometry_insert`, in the order of the prepared statement.
PHOTOMETRY_COLUMNS: tuple[str, ...] = (
    "data_id",
    "catalog",
    "source_id",
    "ra_deg",
    "dec_deg",
    "catalog_flux_mjy",
    "flux_jy",
    "flux_err_jy",
    "local_rms_jy",
    "snr",
    "chi2",
    "dof",
    "flags",
    "mjd",
    "normalized_flux_jy",
    "normalized_flux_err_jy",
    "job_id",
    "software_version",
    "measured_at",
)
_KEY = ("data_id", "catalog", "source_id")
_FLOAT_COLUMNS = frozenset(
    {
        "ra_deg",
        "dec_deg",
        "catalog_flux_mjy",
        "flux_jy",
        "flux_err_jy",
        "local_rms_jy",
        "snr",
        "chi2",
        "mjd",
        "normalized_flux_jy",
        "normalized_flux_err_jy",
        "measured_at",
    }
)
_INT_COLUMNS = frozenset({"dof", "job_id"})
#: Stored as float4 (migration 0016): rounded to float32 on the way in, on both backends.
_FLOAT4_COLUMNS = frozenset({"local_rms_jy", "snr", "chi2"})


@dataclass(frozen=True)
class ImageRecord:
    """One registered image or mosaic (a row of ``images``).

    Attributes
    ----------
    data_id : str
        The product's identifier everywhere (registry, jobs, CLI, API).
    path : str
        Resolved path of the registered FITS file.
    kind : str
        ``"image"`` or ``"mosaic"``.
    mjd_start, mjd_mid, mjd_end : float or None
        Observation start, middle and end (MJD, UTC).
    ra_center_deg, dec_center_deg : float or None
        Field centre (the image's central pixel).
    bmaj_deg, bmin_deg, bpa_deg : float or None
        Restoring beam.
    noise_jy : float or None
        Robust (MAD) rms of the uncorrected image, Jy/beam.
    freq_hz : float or None
        Observing frequency.
    beam_path : str or None
        Primary-beam response image, when there is one.
    uncorrected_path : str or None
        The uncorrected image the noise was measured on, when it differs from ``path``.
    imaging_params : dict or None
        Imaging parameters, when known.
    created_at : float
        Registration time (Unix seconds).
    """

    data_id: str
    path: str
    kind: str
    mjd_start: float | None
    mjd_mid: float | None
    mjd_end: float | None
    ra_center_deg: float | None
    dec_center_deg: float | None
    bmaj_deg: float | None
    bmin_deg: float | None
    bpa_deg: float | None
    noise_jy: float | None
    freq_hz: float | None
    beam_path: str | None
    uncorrected_path: str | None
    imaging_params: dict[str, Any] | None
    created_at: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ImageRecord:
        """Build the record from a row of ``images``."""
        params = row["imaging_params"]
        return cls(
            **{k: row[k] for k in _IMAGE_FIELDS if k != "imaging_params"},
            imaging_params=json.loads(params) if params else None,
        )


_IMAGE_FIELDS = tuple(ImageRecord.__dataclass_fields__)


def default_data_id(path: str | Path, *, digits: int = 10) -> str:
    """Return the default ``data_id`` of a file: its name and a hash of its resolved path.

    Parameters
    ----------
    path : str or Path
        The file (resolved before hashing, so the same file always gets the same id).
    digits : int
        Hexadecimal digits of the SHA-1 of the path kept in the id.

    Returns
    -------
    str
        ``<stem>-<hash>``; :func:`register_image` lengthens the hash in the (astronomically
        unlikely) case that two files would share an id.

    Examples
    --------
    >>> did = default_data_id("/data/2026-01-01T00:00:00-image-pb.fits")
    >>> did.startswith("2026-01-01T00:00:00-image-pb-"), len(did.rsplit("-", 1)[1])
    (True, 10)
    """
    resolved = Path(path).expanduser().resolve()
    stem = resolved.name
    for suffix in (".fits.gz", ".fits", ".fit", ".fts"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    digest = hashlib.sha1(resolved.as_posix().encode()).hexdigest()
    return f"{stem[: 200 - digits - 1]}-{digest[:digits]}"


def _companion(path: Path, suffix: str) -> Path | None:
    """``<name>-image-pb.fits`` -> ``<name><suffix>`` when that file exists."""
    name = path.name
    if not name.endswith("-image-pb.fits"):
        return None
    other = path.with_name(name[: -len("-image-pb.fits")] + suffix)
    return other if other.exists() else None


def _describe(path: Path, beam_path: Path | None) -> dict[str, Any]:
    """Read the header quantities and the noise of an image to register."""
    from ..photometry.image import observation_times, read_image
    from ..photometry.noise import robust_rms

    img = read_image(path)
    mjd_start, mjd_mid, mjd_end = observation_times(img.header)
    ny, nx = img.shape[-2:]
    ra, dec = img.wcs.pixel_to_world_values((nx - 1) / 2.0, (ny - 1) / 2.0)
    uncorrected = _companion(path, "-image.fits")
    noise_img = read_image(uncorrected) if uncorrected is not None else img
    beam = img.beam
    return {
        "mjd_start": mjd_start,
        "mjd_mid": mjd_mid,
        "mjd_end": mjd_end,
        "ra_center_deg": float(ra) % 360.0 if np.isfinite(ra) else None,
        "dec_center_deg": float(dec) if np.isfinite(dec) else None,
        "bmaj_deg": beam.bmaj_deg if beam is not None else None,
        "bmin_deg": beam.bmin_deg if beam is not None else None,
        "bpa_deg": beam.bpa_deg if beam is not None else None,
        "noise_jy": robust_rms(noise_img.data),
        "freq_hz": img.freq_hz,
        "beam_path": beam_path.as_posix() if beam_path is not None else None,
        "uncorrected_path": uncorrected.as_posix() if uncorrected is not None else None,
    }


def upsert(
    conn: Connection, table, values: Mapping[str, Any], *, key: Sequence[str], update: Sequence[str]
) -> None:
    """Insert one row, or update ``update`` columns of the row with the same ``key``.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Connection inside a transaction.
    table : sqlalchemy.Table
        The table.
    values : mapping
        Column values.
    key : sequence of str
        Columns of the unique constraint.
    update : sequence of str
        Columns overwritten when the row exists.
    """
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    stmt = insert(table).values(**values)
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key), set_={c: stmt.excluded[c] for c in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    conn.execute(stmt)


def register_image(
    path: str | Path,
    *,
    data_id: str | None = None,
    beam_path: str | Path | None = None,
    kind: str = "image",
    imaging_params: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> str:
    """Register an image (or mosaic) in ``images`` and the data registry; return its ``data_id``.

    Registering the same file again refreshes its header quantities and keeps its id, its
    registry status, QA and photometry state.

    Parameters
    ----------
    path : str or Path
        The FITS file (for an imaging product, the primary-beam-corrected
        ``<name>-image-pb.fits``).
    data_id : str, optional
        Identifier to use; default :func:`default_data_id` of the resolved path.
    beam_path : str or Path, optional
        Primary-beam response image; default ``<name>-beam.fits`` beside a
        ``<name>-image-pb.fits`` when that file exists.
    kind : {"image", "mosaic"}
        Product type (the registry's ``data_type``).
    imaging_params : mapping, optional
        Imaging parameters to keep with the image (stored as JSON).
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    str
        The image's ``data_id``.

    Raises
    ------
    InvalidImageError
        The file is not a FITS image with a celestial WCS.
    DatabaseError
        The file is registered under another id, or the id belongs to another file.
    """
    settings = resolve_settings(settings)
    if kind not in ("image", "mosaic"):
        raise DatabaseError(f"kind must be 'image' or 'mosaic', not {kind!r}", path=path)
    resolved = Path(path).expanduser().resolve()
    if beam_path is None:
        beam = _companion(resolved, "-beam.fits")
    else:
        beam = Path(beam_path).expanduser().resolve()
    values = _describe(resolved, beam)
    values["imaging_params"] = (
        json.dumps(dict(imaging_params), sort_keys=True, default=str) if imaging_params else None
    )
    engine = get_engine(settings)
    now = time.time()
    with write_transaction(engine) as conn:
        existing = conn.execute(
            select(images.c.data_id).where(images.c.path == resolved.as_posix())
        ).scalar_one_or_none()
        if existing is not None:
            if data_id is not None and data_id != existing:
                raise DatabaseError(
                    f"already registered as data_id {existing!r}, not {data_id!r}", path=resolved
                )
            data_id = existing
        else:
            explicit = data_id is not None
            digits = 10
            candidate = data_id or default_data_id(resolved, digits=digits)
            while True:
                other = conn.execute(
                    select(images.c.path).where(images.c.data_id == candidate)
                ).scalar_one_or_none()
                if other is None:
                    other = conn.execute(
                        select(data_registry.c.path).where(data_registry.c.data_id == candidate)
                    ).scalar_one_or_none()
                if other is None or other == resolved.as_posix():
                    break
                if explicit or digits >= 40:
                    raise DatabaseError(
                        f"data_id {candidate!r} already belongs to {other}", path=resolved
                    )
                digits = 40
                candidate = default_data_id(resolved, digits=digits)
            data_id = candidate
        row = {"data_id": data_id, "path": resolved.as_posix(), "kind": kind, **values}
        update = [c for c in row if c not in ("data_id",)]
        if imaging_params is None:
            update.remove("imaging_params")
        upsert(conn, images, {**row, "created_at": now}, key=["data_id"], update=update)
        upsert(
            conn,
            data_registry,
            {
                "data_id": data_id,
                "data_type": kind,
                "path": resolved.as_posix(),
                "status": "registered",
                "created_at": now,
                "updated_at": now,
            },
            key=["data_id"],
            update=["data_type", "path", "updated_at"],
        )
    log.info("registered %s %s as %s", kind, resolved, data_id)
    return data_id


def get_image(
    data_id_or_path: str | Path, *, settings: Settings | None = None
) -> ImageRecord | None:
    """Return the registered image with this ``data_id`` or path, or None.

    Parameters
    ----------
    data_id_or_path : str or Path
        A ``data_id`` or the path of a registered file.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    ImageRecord or None
        The record, or None when nothing matches.
    """
    engine = get_engine(resolve_settings(settings))
    key = str(data_id_or_path)
    with engine.connect() as conn:
        row = conn.execute(select(images).where(images.c.data_id == key)).mappings().first()
        if row is None:
            resolved = Path(key).expanduser().resolve().as_posix()
            row = conn.execute(select(images).where(images.c.path == resolved)).mappings().first()
    return ImageRecord.from_row(row) if row is not None else None


def list_images(
    *,
    kind: str | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    limit: int | None = None,
    settings: Settings | None = None,
) -> list[ImageRecord]:
    """Return registered images, ordered by mid-exposure time.

    Parameters
    ----------
    kind : str, optional
        Only ``"image"`` or only ``"mosaic"`` records.
    mjd_min, mjd_max : float, optional
        Mid-exposure MJD range (inclusive).
    limit : int, optional
        Most records returned.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    list of ImageRecord
    """
    stmt = select(images).order_by(images.c.mjd_mid, images.c.id)
    if kind is not None:
        stmt = stmt.where(images.c.kind == kind)
    if mjd_min is not None:
        stmt = stmt.where(images.c.mjd_mid >= mjd_min)
    if mjd_max is not None:
        stmt = stmt.where(images.c.mjd_mid <= mjd_max)
    if limit is not None:
        stmt = stmt.limit(limit)
    with get_engine(resolve_settings(settings)).connect() as conn:
        return [ImageRecord.from_row(r) for r in conn.execute(stmt).mappings()]


def require_image(data_id_or_path: str | Path, *, settings: Settings | None = None) -> ImageRecord:
    """Like :func:`get_image`, but raise :class:`NotFoundError` when nothing matches."""
    rec = get_image(data_id_or_path, settings=settings)
    if rec is None:
        raise NotFoundError(f"no registered image {str(data_id_or_path)!r}")
    return rec


def existing_image_ids(conn: Connection, data_ids: Sequence[str]) -> set[str]:
    """Return which of ``data_ids`` have an ``images`` row."""
    return {
        r[0] for r in conn.execute(select(images.c.data_id).where(images.c.data_id.in_(data_ids)))
    }


def insert_image_rows(
    conn: Connection,
    image_rows: Sequence[Mapping[str, Any]],
    registry_rows: Sequence[Mapping[str, Any]],
) -> None:
    """Insert ``images`` rows and their data-registry rows as given (no file is read).

    For products made without a file to describe, such as simulated epochs
    (:func:`~dsa110_contimg.simulation.lightcurves.write_simulated_photometry`); an image
    with a file is registered with :func:`register_image`.
    """
    if image_rows:
        conn.execute(images.insert(), list(image_rows))
    if registry_rows:
        conn.execute(data_registry.insert(), list(registry_rows))


# --------------------------------------------------------------------------------------------
# photometry rows


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bytes)) or not hasattr(value, "__len__")


def _as_columns(rows: Any) -> tuple[dict[str, Any], int]:
    """Turn rows (mappings, an astropy Table or a mapping of columns) into columns."""
    if hasattr(rows, "colnames") and hasattr(rows, "columns"):  # astropy Table
        cols = {name: rows[name] for name in rows.colnames if name in PHOTOMETRY_COLUMNS}
        return cols, len(rows)
    if isinstance(rows, Mapping):
        n = None
        cols = {}
        for name, value in rows.items():
            if name not in PHOTOMETRY_COLUMNS:
                continue
            cols[name] = value
            if _is_scalar(value):
                continue  # a scalar, broadcast to every row
            if n is None:
                n = len(value)
            elif len(value) != n:
                raise DatabaseError(f"photometry column {name!r} has {len(value)} values, not {n}")
        if n is None:
            raise DatabaseError("photometry columns: at least one column must be a sequence")
        return cols, n
    rows = list(rows)
    if not rows:
        return {}, 0
    unknown = set(rows[0]) - set(PHOTOMETRY_COLUMNS)
    names = [c for c in PHOTOMETRY_COLUMNS if c in rows[0]]
    if unknown - {"x_pix", "y_pix"}:
        raise DatabaseError(f"unknown photometry columns {sorted(unknown)}")
    return {c: [r.get(c) for r in rows] for c in names}, len(rows)


def _scalar_value(name: str, value: Any) -> Any:
    """Return one broadcast value as a plain Python value (NaN -> None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if name in _FLOAT_COLUMNS:
        with np.errstate(over="ignore"):
            value = float(np.float32(value)) if name in _FLOAT4_COLUMNS else float(value)
        return value if np.isfinite(value) else None
    if name in _INT_COLUMNS:
        return int(value)
    return value.decode() if isinstance(value, bytes) else str(value)


def _column_values(name: str, value: Any) -> list:
    """Return one column as a list of plain Python values (NaN -> None)."""
    if name in _FLOAT_COLUMNS:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            arr = np.array([np.nan if v is None else v for v in value], dtype=np.float64)
        if name in _FLOAT4_COLUMNS:
            with np.errstate(over="ignore"):
                arr = arr.astype(np.float32).astype(np.float64)
        bad = ~np.isfinite(arr)
        if bad.any():
            out = arr.astype(object)
            out[bad] = None
            return out.tolist()
        return arr.tolist()
    if name in _INT_COLUMNS:
        if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
            return value.tolist()
        return [
            None if v is None or (isinstance(v, float) and not np.isfinite(v)) else int(v)
            for v in value
        ]
    if hasattr(value, "tolist"):
        value = value.tolist()
    else:
        value = list(value)
    kinds = set(map(type, value))
    if kinds - {str, type(None)}:
        value = [v.decode() if isinstance(v, bytes) else v if v is None else str(v) for v in value]
    return value


@dataclass(frozen=True)
class _PhotometryBatch:
    """Validated photometry rows: the columns written, split into per-batch and per-row values.

    Columns absent from ``columns`` are written as NULL. ``constants`` (one value for every
    row: a scalar given for a column, or a default) are kept apart from the per-row values so
    that a backend can send each of them once instead of once per row.
    """

    columns: tuple[str, ...]  # every column written, in PHOTOMETRY_COLUMNS order
    constants: dict[str, Any]
    varying: tuple[str, ...]  # the per-row columns, in PHOTOMETRY_COLUMNS order
    values: dict[str, list]  # per-row values of each varying column
    n: int

    def rows(self, bound: Sequence[str]) -> Iterable[tuple]:
        """Row tuples of the columns ``bound`` (constants among them repeated)."""
        return zip(
            *(
                self.values[c] if c in self.values else itertools.repeat(self.constants[c], self.n)
                for c in bound
            ),
            strict=False,  # itertools.repeat is bounded by n: every iterable has n items
        )


def _prepare_rows(rows: Any) -> _PhotometryBatch:
    """Validate and complete photometry rows (see :func:`photometry_insert`)."""
    from .. import __version__
    from ..catalog.ids import POSITION_CATALOG, position_source_ids

    cols, n = _as_columns(rows)
    if n == 0:
        return _PhotometryBatch((), {}, (), {}, 0)
    for required in ("data_id", "ra_deg", "dec_deg"):
        if required not in cols:
            raise DatabaseError(f"photometry rows need a {required!r} column")
    const: dict[str, Any] = {}
    vals: dict[str, list] = {}
    for name, value in cols.items():
        if _is_scalar(value):
            const[name] = _scalar_value(name, value)
            continue
        column = _column_values(name, value)
        if name not in _FLOAT_COLUMNS and column.count(column[0]) == n:
            const[name] = column[0]  # one value for the batch (the data_id, catalog, flags...)
        else:
            vals[name] = column

    def has_none(name: str) -> bool:
        return const[name] is None if name in const else None in vals[name]

    def as_list(name: str) -> list:
        return vals[name] if name in vals else [const[name]] * n

    if has_none("data_id"):
        raise DatabaseError("photometry rows need a data_id on every row")
    if has_none("ra_deg") or has_none("dec_deg"):
        raise DatabaseError("photometry rows need finite ra_deg and dec_deg")
    if "catalog" not in cols or const.get("catalog", "") is None:
        const["catalog"] = POSITION_CATALOG
    elif "catalog" in vals and None in vals["catalog"]:
        vals["catalog"] = [POSITION_CATALOG if c is None else c for c in vals["catalog"]]
    source_id = as_list("source_id") if "source_id" in cols else [None] * n
    const.pop("source_id", None)
    if None in source_id or "" in source_id:
        missing = [i for i, s in enumerate(source_id) if s is None or s == ""]
        catalog = as_list("catalog")
        if any(catalog[i] != POSITION_CATALOG for i in missing):
            raise DatabaseError(
                "photometry rows of a catalog other than 'position' need a source_id"
            )
        ra, dec = as_list("ra_deg"), as_list("dec_deg")
        try:
            names = position_source_ids([ra[i] for i in missing], [dec[i] for i in missing])
        except (TypeError, ValueError) as exc:
            raise DatabaseError(f"photometry rows: bad position ({exc})") from None
        source_id = list(source_id)
        for i, name in zip(missing, names, strict=True):
            source_id[i] = name
    vals["source_id"] = source_id  # always per row, so a batch never lacks per-row columns
    if "flags" not in cols or const.get("flags", "") is None:
        const["flags"] = ""
    elif "flags" in vals and None in vals["flags"]:
        vals["flags"] = ["" if f is None else f for f in vals["flags"]]
    if "measured_at" not in cols or const.get("measured_at", 0.0) is None:
        const["measured_at"] = time.time()
    elif "measured_at" in vals and None in vals["measured_at"]:
        now = time.time()
        vals["measured_at"] = [now if v is None else v for v in vals["measured_at"]]
    if "software_version" not in cols:
        const["software_version"] = __version__
    columns = tuple(c for c in PHOTOMETRY_COLUMNS if c in const or c in vals)
    varying = tuple(c for c in columns if c in vals)
    return _PhotometryBatch(columns, const, varying, vals, n)


#: Columns of the per-image dictionary (``photometry_products``) and of the per-source one.
_PRODUCT_COLUMNS = ("mjd", "job_id", "software_version", "measured_at")
_SOURCE_COLUMNS = ("ra_deg", "dec_deg", "catalog_flux_mjy")
#: Columns of a measurement row (``photometry_rows``), besides its keys.
_ROW_COLUMNS = tuple(
    c for c in PHOTOMETRY_COLUMNS if c not in _KEY + _PRODUCT_COLUMNS + _SOURCE_COLUMNS
)


def _sqlite_literal(value: Any) -> str | None:
    """Return the SQL text of a value SQLite reads back exactly, or None to bind it instead.

    NULL, integers and strings only: SQLite's own text-to-double conversion is not always
    correctly rounded, so a float is always bound.
    """
    if value is None:
        return "NULL"
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return str(int(value))
    if isinstance(value, str) and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


#: Bound parameters per SQLite statement: the smallest compile-time limit any SQLite build has.
_SQLITE_MAX_PARAMS = 999


def _sqlite_row(batch: _PhotometryBatch) -> tuple[str, tuple[str, ...]]:
    """Return the ``VALUES`` row of a batch's SQLite stage insert and the columns bound per row.

    The values the whole batch shares that SQLite reads back exactly (NULL, integers and
    strings: the ``data_id``, catalog, job id, software version, ...) are written into the row
    once, so the driver binds fewer parameters per row: the hot path of a bulk insert is that
    binding.
    """
    bound = []
    values = []
    for c in batch.columns:
        literal = _sqlite_literal(batch.constants[c]) if c in batch.constants else None
        if literal is None:
            bound.append(c)
            values.append("?")
        else:
            values.append(literal)
    return f"({', '.join(values)})", tuple(bound)


def _sqlite_sql(batch: _PhotometryBatch, row: str, rows: int) -> str:
    """Return the insert of ``rows`` copies of the ``VALUES`` row ``row`` into the stage.

    SQLite applies the rows of a multi-row ``VALUES`` one after the other: the stage's ``seq``
    (its rowid) is the rows' order, and a key repeated in a batch ends with its last row.
    """
    return (
        f"INSERT INTO photometry_stage ({', '.join(batch.columns)}) "
        f"VALUES {', '.join([row] * rows)}"
    )


def sqlite_upsert_statement(batch: _PhotometryBatch, rows: int = 1) -> tuple[str, tuple[str, ...]]:
    """Return the SQLite insert of ``rows`` rows of a batch into the stage, and bound columns.

    The stage is then merged into the base tables by :func:`merge_statements`.
    """
    row, bound = _sqlite_row(batch)
    return _sqlite_sql(batch, row, rows), bound


_STAGE_COLUMNS = (
    "data_id text, catalog text, source_id text, ra_deg float8, dec_deg float8, "
    "catalog_flux_mjy float8, flux_jy float8, flux_err_jy float8, local_rms_jy float8, "
    "snr float8, chi2 float8, dof integer, flags text, mjd float8, normalized_flux_jy float8, "
    "normalized_flux_err_jy float8, job_id integer, software_version text, measured_at float8"
)
_SQLITE_STAGE = f"CREATE TEMP TABLE photometry_stage (seq INTEGER PRIMARY KEY, {_STAGE_COLUMNS})"
_PG_STAGE = f"CREATE TEMP TABLE photometry_stage (seq integer, {_STAGE_COLUMNS}) ON COMMIT DROP"


def merge_statements(batch: _PhotometryBatch, dialect: str) -> list[tuple[str, dict]]:
    """Return the statements merging the staged batch into the base tables (in order).

    The stage ``photometry_stage`` holds the batch's rows in order (``seq``). On SQLite it
    holds every written column; on PostgreSQL only the per-row ones, the batch's constants
    being parameters of these statements. The last staged row of a key wins, as with one
    upsert per row. The view ``photometry`` then reads back exactly the values written:

    1. new images (``photometry_products``) and new sources (``photometry_sources``) are
       inserted, with their rows' MJD, job, version, time (position, catalog flux): the
       value they share, or NULL when one of them is NULL (no key is spent on a known one);
    2. a known image or source whose value is not NULL, written a row with NULL, moves its
       value into the rows that read it and holds NULL from then on;
    3. the rows (``photometry_rows``) are upserted on ``(source_key, image_key)``, each
       holding its own MJD (...) only where it differs from its image's (source's); columns
       absent from the batch are written as NULL, as the old table's upsert did.
    """
    pg = dialect != "sqlite"
    params: dict[str, Any] = {}

    def e(c: str) -> str:
        if c in batch.values or (not pg and c in batch.columns):
            return f"st.{c}"
        if c not in batch.columns:
            return "NULL"
        params[c] = batch.constants[c]
        return f"CAST(%({c})s AS {_PG_TYPES.get(c, 'float8')})"

    def varying(c: str) -> bool:
        return c in batch.values or (not pg and c in batch.columns)

    def may_be_null(c: str) -> bool:
        if c not in batch.columns:
            return True
        return None in batch.values[c] if c in batch.values else batch.constants[c] is None

    def shared(c: str) -> str:  # the value an image's/source's rows share, NULL if one is
        if c not in batch.values:
            return e(c)
        return f"CASE WHEN count(st.{c}) < count(*) THEN NULL ELSE max(st.{c}) END"

    def group(keys: Sequence[str]) -> str:
        cols = [f"st.{k}" for k in keys if varying(k)]
        return f" GROUP BY {', '.join(cols)}" if cols else ""

    def last_of(keys: Sequence[str]) -> str:
        return f"st.seq IN (SELECT max(seq) FROM photometry_stage st{group(keys)})"

    product_cols = ("data_id", *_PRODUCT_COLUMNS)
    source_cols = ("catalog", "source_id", *_SOURCE_COLUMNS)
    known = f"s.catalog = {e('catalog')} AND s.source_id = st.source_id"
    stmts = [
        f"INSERT INTO photometry_products ({', '.join(product_cols)}) "
        f"SELECT {e('data_id')}, {', '.join(shared(c) for c in _PRODUCT_COLUMNS)} "
        "FROM photometry_stage st WHERE NOT EXISTS (SELECT 1 FROM photometry_products p "
        f"WHERE p.data_id = {e('data_id')}){group(['data_id'])} HAVING count(*) > 0 "
        "ORDER BY min(st.seq) ON CONFLICT (data_id) DO NOTHING",
        f"INSERT INTO photometry_sources ({', '.join(source_cols)}) "
        f"SELECT {e('catalog')}, st.source_id, {', '.join(shared(c) for c in _SOURCE_COLUMNS)} "
        "FROM photometry_stage st WHERE NOT EXISTS (SELECT 1 FROM photometry_sources s "
        f"WHERE {known}){group(['catalog', 'source_id'])} HAVING count(*) > 0 "
        # in name order: two writers adding the same new sources take their key locks in
        # the same order (no deadlock); keys still follow the batches, i.e. the strips
        f"ORDER BY {e('catalog')}, st.source_id ON CONFLICT (catalog, source_id) DO NOTHING",
    ]
    for c in ("mjd", "job_id", "software_version", "catalog_flux_mjy"):
        if not may_be_null(c):
            continue
        null = f"st.{c} IS NULL" if varying(c) else "1 = 1"
        if c in _PRODUCT_COLUMNS:
            table, key = "photometry_products", "image_key"
            owners = (
                f"SELECT p.image_key FROM photometry_products p WHERE p.{c} IS NOT NULL AND "
                f"p.data_id IN (SELECT {e('data_id')} FROM photometry_stage st WHERE {null})"
            )
        else:
            table, key = "photometry_sources", "source_key"
            owners = (
                f"SELECT s.source_key FROM photometry_sources s JOIN photometry_stage st "
                f"ON {known} WHERE s.{c} IS NOT NULL AND {null}"
            )
        stmts += [
            f"UPDATE photometry_rows SET {c} = (SELECT t.{c} FROM {table} t "
            f"WHERE t.{key} = photometry_rows.{key}) WHERE {c} IS NULL AND {key} IN ({owners})",
            f"UPDATE {table} SET {c} = NULL WHERE {key} IN ({owners})",
        ]

    def own(c: str) -> str:  # the row's value where it differs from its image's/source's
        ex = e(c)
        if ex == "NULL":
            return ex
        owner = "p" if c in _PRODUCT_COLUMNS else "s"
        return f"CASE WHEN {ex} = {owner}.{c} THEN NULL ELSE {ex} END"

    cols = (*_ROW_COLUMNS, *_PRODUCT_COLUMNS, *_SOURCE_COLUMNS)
    values = [e(c) for c in _ROW_COLUMNS] + [own(c) for c in (*_PRODUCT_COLUMNS, *_SOURCE_COLUMNS)]
    # PostgreSQL: each staged row finds its source by one probe of the (catalog, source_id)
    # index (LATERAL; LIMIT 1 of a unique key keeps the planner from flattening it into a
    # join again); a join planned on the stage, a temporary table without statistics,
    # hashed every source of the survey for each image (10 000 at 10^7 rows: 40% of the insert)
    sources_of = (
        f"CROSS JOIN LATERAL (SELECT * FROM photometry_sources s WHERE {known} LIMIT 1) s"
        if pg
        else f"JOIN photometry_sources s ON {known}"
    )
    stmts.append(
        f"INSERT INTO photometry_rows (image_key, source_key, {', '.join(cols)}) "
        f"SELECT p.image_key, s.source_key, {', '.join(values)} "
        f"FROM photometry_stage st JOIN photometry_products p ON p.data_id = {e('data_id')} "
        # PostgreSQL's stage holds each key once (see _pg_insert): a semi-join there, planned
        # on a temporary table without statistics, cost 20x the insert itself
        f"{sources_of} WHERE {'TRUE' if pg else last_of(_KEY)} "
        "ORDER BY st.seq "
        "ON CONFLICT (source_key, image_key) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in cols)
    )
    return [(sql, params if pg else {}) for sql in stmts]


def _sqlite_insert(dbapi, batch: _PhotometryBatch) -> None:
    """Stage a batch with the driver's ``executemany`` of multi-row statements, then merge it.

    Many rows per statement (up to :data:`_SQLITE_MAX_PARAMS` parameters) rather than one: the
    per-statement work of the driver and of SQLite is then paid once per block of rows (about
    1.2x the rows/s of one row per statement here).
    """
    row, bound = _sqlite_row(batch)
    cur = dbapi.cursor()
    try:
        cur.execute("DROP TABLE IF EXISTS temp.photometry_stage")
        cur.execute(_SQLITE_STAGE)
        if bound:
            per = max(1, _SQLITE_MAX_PARAMS // len(bound))
            width = per * len(bound)
            flat = list(itertools.chain.from_iterable(batch.rows(bound)))
            full, rest = divmod(batch.n, per)
            if full:
                sql = _sqlite_sql(batch, row, per)
                cur.executemany(sql, (flat[i * width : (i + 1) * width] for i in range(full)))
            if rest:
                cur.execute(_sqlite_sql(batch, row, rest), flat[full * width :])
        else:
            cur.executemany(_sqlite_sql(batch, row, 1), [()] * batch.n)
        for sql, _ in merge_statements(batch, "sqlite"):
            cur.execute(sql)
        cur.execute("DROP TABLE temp.photometry_stage")
    finally:
        cur.close()


_PG_TYPES = {
    "data_id": "text",
    "catalog": "text",
    "source_id": "text",
    "dof": "int4",
    "job_id": "int4",
    "flags": "text",
    "software_version": "text",
    "seq": "int4",
}


def _pg_insert(dbapi, batch: _PhotometryBatch) -> None:
    """Stream a batch with binary ``COPY`` into a temporary table and merge it.

    Only the per-row columns are copied (with their order, ``seq``); the batch's constants
    are parameters of the merge. A key repeated in the batch is copied once, its last row
    (as SQLite's row-by-row upsert ends): ON CONFLICT cannot touch a row twice in one
    statement.
    """
    tuples = list(batch.rows(batch.varying))
    key_idx = [batch.varying.index(k) for k in _KEY if k in batch.varying]
    last = {tuple(t[i] for i in key_idx): n for n, t in enumerate(tuples)}
    keep = sorted(last.values()) if len(last) < len(tuples) else range(len(tuples))
    with dbapi.cursor() as cur:
        # statements sent in pipelines (one round trip each side of the COPY, which a
        # pipeline cannot hold) instead of one round trip per statement
        with dbapi.pipeline():
            cur.execute("DROP TABLE IF EXISTS pg_temp.photometry_stage")
            cur.execute(_PG_STAGE)
        cols = ("seq", *batch.varying)
        with cur.copy(
            f"COPY photometry_stage ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types([_PG_TYPES.get(c, "float8") for c in cols])
            for i in keep:
                copy.write_row((i, *tuples[i]))
        with dbapi.pipeline():
            for sql, params in merge_statements(batch, "postgresql"):
                cur.execute(sql, params)
            cur.execute("DROP TABLE pg_temp.photometry_stage")


def insert_photometry_rows(conn: Connection, rows: Any) -> int:
    """Upsert photometry rows inside the caller's transaction (the fast path of both backends).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection inside a write transaction (see
        :func:`~dsa110_contimg.database.write_transaction`).
    rows : iterable of mappings, astropy Table, or mapping of columns
        The rows (see :func:`photometry_insert`).

    Returns
    -------
    int
        Number of rows written.
    """
    batch = _prepare_rows(rows)
    if batch.n == 0:
        return 0
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite":
        _sqlite_insert(dbapi, batch)
    else:
        _pg_insert(dbapi, batch)
    return batch.n


def photometry_insert(rows: Any, *, settings: Settings | None = None) -> int:
    """Store photometry rows in bulk, in one transaction, replacing rows with the same key.

    Rows are keyed on ``(data_id, catalog, source_id)``: writing a measurement again (a job
    re-run after a crash) updates it instead of adding a row. A row without ``catalog`` is a
    bare position (catalog ``"position"``) and, without ``source_id``, gets the position's
    J-name (:func:`~dsa110_contimg.catalog.position_source_id`), so no key part is NULL.

    Parameters
    ----------
    rows : iterable of mappings, astropy Table, or mapping of columns
        Columns from :data:`PHOTOMETRY_COLUMNS` (``data_id``, ``ra_deg`` and ``dec_deg``
        required; a mapping of columns may give scalars, broadcast to every row). NaN values
        are stored as NULL; ``measured_at`` defaults to now, ``software_version`` to this
        package's version, ``flags`` to ``""``.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    int
        Number of rows written.

    Raises
    ------
    DatabaseError
        A required column is missing or a value is invalid.

    Examples
    --------
    >>> import tempfile
    >>> from dsa110_contimg.config import Settings
    >>> s = Settings(state_dir=tempfile.mkdtemp())
    >>> photometry_insert([{"data_id": "img1", "ra_deg": 150.0, "dec_deg": 30.0,
    ...                     "flux_jy": 0.1}], settings=s)
    1
    """
    settings = resolve_settings(settings)
    engine = get_engine(settings)
    with write_transaction(engine) as conn:
        return insert_photometry_rows(conn, rows)


def photometry_for_data(data_id: str, *, settings: Settings | None = None):
    """Return the photometry rows of one image or mosaic, in source order.

    Parameters
    ----------
    data_id : str
        The product's ``data_id``.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    astropy.table.Table
        One row per measured source with the columns of :data:`PHOTOMETRY_COLUMNS`
        (empty when nothing was measured).
    """
    from astropy.table import Table

    from .tables.products import photometry

    stmt = (
        select(*(photometry.c[name] for name in PHOTOMETRY_COLUMNS))
        .where(photometry.c.data_id == data_id)
        .order_by(photometry.c.catalog, photometry.c.source_id)
    )
    with get_engine(resolve_settings(settings)).connect() as conn:
        rows = conn.execute(stmt).all()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in PHOTOMETRY_COLUMNS]
    table = Table()
    for name, values in zip(PHOTOMETRY_COLUMNS, columns, strict=True):
        if name in _FLOAT_COLUMNS:
            table[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        else:
            table[name] = list(values) if values else np.array([], dtype=str)
    return table


def photometry_positions(engine, data_id: str) -> list[tuple[float, float, bool]]:
    """Return (ra_deg, dec_deg, clean) of each measurement on a product (for overlays).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database.
    data_id : str
        The product.

    Returns
    -------
    list of (float, float, bool)
        Position and whether the measurement is unflagged.
    """
    from .tables.products import photometry

    p = photometry
    with engine.connect() as conn:
        rows = conn.execute(
            select(p.c.ra_deg, p.c.dec_deg, p.c.flags).where(p.c.data_id == data_id)
        ).all()
    return [(r.ra_deg, r.dec_deg, not r.flags) for r in rows]
