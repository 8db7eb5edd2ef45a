"""The per-source table (migration 0008): one row per measured (catalog, source_id).

What the source list, cone searches and the eta-V plot read instead of the photometry table:
the source's position and its RING HEALPix pixel (``catalog.spatial.HPX_NSIDE``, the same
indexing as the catalog store, so a cone reads a few index ranges), how often it was measured
and when, whether it is an active normalization reference, and its ESE candidate state. The
variability metrics themselves stay in ``source_metrics`` (one row per series), joined on the
primary key; its ``(series, eta, v)``, ``(series, v, eta)`` and ``(series, max_dip_sigma)``
indexes
(also migration 0008) serve the sorted and filtered lists.

Kept current by the metrics update (``database.sources.upsert_sources_for_image`` from
``update_metrics_for_image``; ``rebuild_sources`` from ``recompute_metrics``) and by ESE status
changes. Bookkeeping times are Unix seconds; observation times MJD (UTC).
"""

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table

from ._meta import metadata
from .normalization import source_metrics

__all__ = ["sources"]

sources = Table(
    "sources",
    metadata,
    Column("catalog", String(32), primary_key=True),
    Column("source_id", String(100), primary_key=True),
    Column("ra_deg", Float, nullable=False),  # catalog position (forced photometry)
    Column("dec_deg", Float, nullable=False),
    Column("hpx", BigInteger, nullable=False),  # RING HEALPix pixel at HPX_NSIDE
    Column("catalog_flux_mjy", Float),
    Column("n_measurements", Integer, nullable=False),  # every stored measurement
    Column("n_clean", Integer, nullable=False),  # measurements with empty flags
    Column("first_mjd", Float),
    Column("last_mjd", Float),
    Column("last_flags", String(200)),  # flags of the latest measurement ('' when clean)
    Column("is_reference", Integer, nullable=False, server_default="0"),  # 1: active reference
    Column("ese_status", String(16)),  # best ESE candidate's status, NULL when none
    Column("ese_score", Float),
    Column("updated_at", Float, nullable=False),
    Index(None, "hpx"),
    Index(None, "ese_status"),
    Index(None, "is_reference"),
)

# indexes of source_metrics added by migration 0008 for the sorted/filtered source lists:
# (series, eta, v) and (series, v, eta) cover a sort by one with a filter on both
Index(
    "ix_source_metrics_series_eta_v",
    source_metrics.c.series,
    source_metrics.c.eta,
    source_metrics.c.v,
)
Index(
    "ix_source_metrics_series_v_eta",
    source_metrics.c.series,
    source_metrics.c.v,
    source_metrics.c.eta,
)
Index(
    "ix_source_metrics_series_max_dip_sigma",
    source_metrics.c.series,
    source_metrics.c.max_dip_sigma,
)

# indexes added by migration 0012 so that every sortable column of the source list is an index
# range walk (offset or cursor); the key suffix is the list's tie-breaker
for _col in ("vs", "m", "n_points", "mean_flux_jy", "median_flux_jy", "max_cusum"):
    Index(
        f"ix_source_metrics_series_{_col}_key",
        source_metrics.c.series,
        source_metrics.c[_col],
        source_metrics.c.catalog,
        source_metrics.c.source_id,
    )
for _col in ("ra_deg", "dec_deg", "n_measurements", "last_mjd", "catalog_flux_mjy", "ese_score"):
    Index(f"ix_sources_{_col}_key", sources.c[_col], sources.c.catalog, sources.c.source_id)
del _col
