"""Tables of the catalog area (their migration is ``0002_catalog_store``).

``catalog_sources`` holds every ingested catalog, one row per source, in one unit convention
(degrees, mJy, arcsec). Its primary key ``(catalog, hpx, source_id)`` is also its storage
order (an SQLite ``WITHOUT ROWID`` table; on PostgreSQL rows are loaded in that order), so a
cone search reads a few contiguous key ranges (see :mod:`dsa110_contimg.catalog.spatial`).
The columns after ``flags`` are filled only for the ``master`` catalog.
``catalog_meta`` records where each catalog came from. ``reference_strips`` (migration
``0011_reference_strips``) holds the master catalog's normalization-reference counts per
declination strip, written by ``build-master`` and read by ``contimg run`` and the dashboard.
"""

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text

from ._meta import metadata

__all__ = ["catalog_meta", "catalog_sources", "reference_strips"]

catalog_sources = Table(
    "catalog_sources",
    metadata,
    Column("catalog", String(32), primary_key=True),
    Column("hpx", BigInteger, primary_key=True, autoincrement=False),
    Column("source_id", String(100), primary_key=True),
    Column("ra_deg", Float, nullable=False),
    Column("dec_deg", Float, nullable=False),
    Column("flux_mjy", Float),
    Column("flux_err_mjy", Float),
    Column("peak_flux_mjy", Float),
    Column("peak_flux_err_mjy", Float),
    Column("ra_err_arcsec", Float),
    Column("dec_err_arcsec", Float),
    Column("maj_arcsec", Float),
    Column("min_arcsec", Float),
    Column("pa_deg", Float),
    Column("dc_maj_arcsec", Float),
    Column("dc_min_arcsec", Float),
    Column("dc_pa_deg", Float),
    Column("rms_mjy", Float),
    Column("flags", String(200), nullable=False, server_default=""),
    Column("snr", Float),
    Column("spectral_index", Float),
    Column("spectral_index_err", Float),
    Column("resolved_flag", Boolean),
    Column("confusion_flag", Boolean),
    Column("is_reference", Boolean),
    Column("n_first", Integer),
    Column("n_vlass", Integer),
    Column("n_racs", Integer),
    Column("first_flux_mjy", Float),
    Column("vlass_flux_mjy", Float),
    Column("racs_flux_mjy", Float),
    Index("ix_catalog_sources_catalog_source_id", "catalog", "source_id", unique=True),
    sqlite_with_rowid=False,
)

catalog_meta = Table(
    "catalog_meta",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("format", String(32), nullable=False),
    Column("file_name", Text),
    Column("file_sha256", String(64)),
    Column("row_count", Integer, nullable=False),
    Column("skipped", Text, nullable=False, server_default="{}"),
    Column("hpx_nside", Integer, nullable=False),
    Column("columns", Text, nullable=False, server_default="[]"),
    Column("ingested_at", Float, nullable=False),
)

reference_strips = Table(
    "reference_strips",
    metadata,
    Column("dec_lo_deg", Float, primary_key=True, autoincrement=False),
    Column("dec_hi_deg", Float, nullable=False),
    Column("n_sources", Integer, nullable=False),
    Column("n_references", Integer, nullable=False),
    Column("n_nvss_only", Integer, nullable=False),
    Column("refs_per_image", Float, nullable=False),
    Column("built_at", Float, nullable=False),
)
