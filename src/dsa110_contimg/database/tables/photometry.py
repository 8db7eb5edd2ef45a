"""Photometry storage (migration 0016): a compact row table, two dictionaries, and a view.

A measurement row holds only what varies per measurement; what belongs to the image (its
``data_id``, MJD, the job and software that measured it) lives once in
``photometry_products``, and what belongs to the source (catalog, name, catalog position and
flux) once in ``photometry_sources``. The rows refer to both by integer keys:

- ``photometry_products``: ``image_key`` -> ``data_id``, ``mjd``, ``job_id``,
  ``software_version``, ``measured_at`` (one row per image or mosaic measured);
- ``photometry_sources``: ``source_key`` -> ``catalog``, ``source_id``, ``ra_deg``,
  ``dec_deg``, ``catalog_flux_mjy``;
- ``photometry_rows``: ``id``, ``image_key``, ``source_key``, fluxes, errors, fit diagnostics,
  flags, normalized flux and error. Unique on ``(source_key, image_key)``: the key of the
  upsert and the light-curve index (a source's rows, in image order); a second index on
  ``image_key`` (deduplicated by PostgreSQL's B-tree: a few bytes per row) serves per-image
  reads.

``photometry`` is a *view* with today's columns (``id``, ``data_id``, ``catalog``,
``source_id``, ..., ``measured_at``) joining the three, so every reader, the API and the seed's
names keep working. It is writable (INSTEAD OF triggers on SQLite and PostgreSQL), but the
pipeline's writers (:func:`~dsa110_contimg.database.photometry_insert`, the normalization
writes) go to the base tables directly. The view lives in :data:`views`, not in
``metadata``: it is not a table to compare with the migrations or to copy.

Fluxes, errors and normalized values stay float8: they are the inputs and outputs of the
normalization and the metrics, whose results must stay identical to the last bit. The fit
diagnostics ``local_rms_jy``, ``snr`` and ``chi2`` are float4 (``REAL``) in the row: they are
shown to people and filtered on (``snr > 30``), never an input of the normalization or the
metrics, and 7 significant digits are far below their own statistical uncertainty.
:func:`~dsa110_contimg.database.photometry_insert` rounds them to float32 on both backends
(SQLite has no 4-byte float: it then holds the same values as PostgreSQL); the view returns
them as float8. The row's columns are ordered 4-byte, 8-byte, 4-byte floats, flags, so that
PostgreSQL pads nothing: 84 B per row (header and line pointer included), 100 B normalized.

The dictionaries hold the value an image's (source's) rows share; a row whose value differs
holds its own in the row (NULL there otherwise), so the view reads back exactly what was
written, row for row.
"""

from sqlalchemy import (
    REAL,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    text,
)

from ._meta import metadata

__all__ = [
    "photometry",
    "photometry_factors",
    "photometry_products",
    "photometry_rows",
    "photometry_sources",
    "views",
]

_OWN = "normalized_flux_jy IS NOT NULL OR normalized_flux_err_jy IS NOT NULL"

#: Views (described for queries, created by the migrations; not compared, not copied).
views = MetaData()

photometry_products = Table(
    "photometry_products",
    metadata,
    Column("image_key", Integer, autoincrement=True),
    Column("data_id", String(200), nullable=False, unique=True),
    Column("mjd", Float),  # the image's mid-exposure MJD (UTC)
    Column("job_id", Integer),
    Column("software_version", String(64)),
    Column("measured_at", Float, nullable=False),
    # copies kept by triggers (migration 0019), read by light curves: one probe per point
    Column("kind", String(16)),  # images.kind of the same data_id (NULL: not registered)
    Column("superseded", Integer, nullable=False, server_default="0"),  # registry successor
    # the image's normalization factor and its error (migration 0020; NULL: not normalized):
    # the view applies it to the rows at read time
    Column("norm_factor", Float),
    Column("norm_factor_err", Float),
    # PostgreSQL: the key carries what a light curve reads of its product (migration 0022)
    PrimaryKeyConstraint(
        "image_key",
        postgresql_include=[
            "mjd", "data_id", "kind", "superseded", "norm_factor", "norm_factor_err"
        ],
    ),
)

photometry_sources = Table(
    "photometry_sources",
    metadata,
    Column("source_key", Integer, primary_key=True, autoincrement=True),
    Column("catalog", String(32), nullable=False),
    Column("source_id", String(100), nullable=False),
    Column("ra_deg", Float, nullable=False),
    Column("dec_deg", Float, nullable=False),
    Column("catalog_flux_mjy", Float),
    UniqueConstraint("catalog", "source_id"),
)

photometry_rows = Table(
    "photometry_rows",
    metadata,
    # SQLite: the rowid. PostgreSQL: a serial column with no index of its own (the rows are
    # addressed by (source_key, image_key)); saves ~22 B per row.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("image_key", Integer, nullable=False),
    Column("source_key", Integer, nullable=False),
    Column("dof", Integer),
    Column("flux_jy", Float),
    Column("flux_err_jy", Float),
    Column("normalized_flux_jy", Float),
    Column("normalized_flux_err_jy", Float),
    Column("local_rms_jy", REAL),  # float4: see the module docstring
    Column("snr", REAL),
    Column("chi2", REAL),
    Column("flags", String(200), nullable=False, server_default=""),
    # the row's own value where it differs from its image's / source's (NULL: theirs)
    Column("mjd", Float),
    Column("job_id", Integer),
    Column("software_version", String(64)),
    Column("measured_at", Float),
    Column("ra_deg", Float),
    Column("dec_deg", Float),
    Column("catalog_flux_mjy", Float),
    UniqueConstraint("source_key", "image_key"),
    Index(None, "image_key"),
    # rows holding their own normalized values (written before migration 0020, or through
    # the view): a normalization of their image clears them
    Index(
        "ix_photometry_rows_own_normalized",
        "image_key",
        postgresql_where=text(_OWN),
        sqlite_where=text(_OWN),
    ),
)

#: The leave-one-out factor of each reference measured on a normalized image (migration
#: 0020): the view applies it to that row instead of the image's factor. On PostgreSQL the
#: primary key carries the factors (migration 0021): a light curve's probe is index-only.
photometry_factors = Table(
    "photometry_factors",
    metadata,
    Column("source_key", Integer, nullable=False),
    Column("image_key", Integer, nullable=False),
    Column("factor", Float),
    Column("factor_err", Float),
    PrimaryKeyConstraint("source_key", "image_key", postgresql_include=["factor", "factor_err"]),
    Index(None, "image_key"),
)

photometry = Table(
    "photometry",
    views,
    Column("id", Integer, primary_key=True),
    Column("data_id", String(200), nullable=False),  # the image's or mosaic's data_id
    Column("catalog", String(32), nullable=False),
    Column("source_id", String(100), nullable=False),
    Column("ra_deg", Float, nullable=False),
    Column("dec_deg", Float, nullable=False),
    Column("catalog_flux_mjy", Float),
    Column("flux_jy", Float),
    Column("flux_err_jy", Float),
    Column("local_rms_jy", Float, info={"float4": True}),  # float4 in photometry_rows
    Column("snr", Float, info={"float4": True}),
    Column("chi2", Float, info={"float4": True}),
    Column("dof", Integer),
    Column("flags", String(200), nullable=False),
    Column("mjd", Float),  # the image's mid-exposure MJD (UTC)
    Column("normalized_flux_jy", Float),
    Column("normalized_flux_err_jy", Float),
    Column("job_id", Integer),
    Column("software_version", String(64)),
    Column("measured_at", Float, nullable=False),
)
