"""Photometry storage (migration 0009): a compact row table, two dictionaries, and a view.

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
normalization, whose results must stay identical to the last bit. The dictionaries hold
the value an image's (source's) rows share; a row whose value differs holds its own in the
row (NULL there otherwise), so the view reads back exactly what was written, row for row.
"""

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, UniqueConstraint

from ._meta import metadata

__all__ = ["photometry", "photometry_products", "photometry_rows", "photometry_sources", "views"]

#: Views (described for queries, created by the migrations; not compared, not copied).
views = MetaData()

photometry_products = Table(
    "photometry_products",
    metadata,
    Column("image_key", Integer, primary_key=True, autoincrement=True),
    Column("data_id", String(200), nullable=False, unique=True),
    Column("mjd", Float),  # the image's mid-exposure MJD (UTC)
    Column("job_id", Integer),
    Column("software_version", String(64)),
    Column("measured_at", Float, nullable=False),
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
    Column("flux_jy", Float),
    Column("flux_err_jy", Float),
    Column("local_rms_jy", Float),
    Column("snr", Float),
    Column("chi2", Float),
    Column("dof", Integer),
    Column("flags", String(200), nullable=False, server_default=""),
    Column("normalized_flux_jy", Float),
    Column("normalized_flux_err_jy", Float),
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
    Column("local_rms_jy", Float),
    Column("snr", Float),
    Column("chi2", Float),
    Column("dof", Integer),
    Column("flags", String(200), nullable=False),
    Column("mjd", Float),  # the image's mid-exposure MJD (UTC)
    Column("normalized_flux_jy", Float),
    Column("normalized_flux_err_jy", Float),
    Column("job_id", Integer),
    Column("software_version", String(64)),
    Column("measured_at", Float, nullable=False),
)
