"""The per-source tables (migrations 0008, 0023): one row per measured (catalog, source_id).

``sources`` holds what the source list, cone searches and the eta-V plot need besides the
metrics: the source's position and its RING HEALPix pixel (``catalog.spatial.HPX_NSIDE``, the
same indexing as the catalog store, so a cone reads a few index ranges), how often it was
measured and when, whether it is an active normalization reference, and its ESE candidate
state. The variability metrics stay in ``source_metrics`` (one row per series).

The metrics update rewrites both rows of every source on an image, at every image: they carry
only their primary keys, so that the rewrite costs one row and one key (migration 0023). The
explorer reads copies, ``source_list`` and ``metric_list`` (the listed metric columns), which
carry an index for every sort key and filter. Every writer of ``sources`` or
``source_metrics`` appends the sources it changed to ``listing_queue``;
:func:`~dsa110_contimg.database.listing.refresh_listing` copies them over and empties it,
right after the writer's transaction commits (``write_transaction``), or, for the job
worker's ingest pass, right after the pass and its ESE alerts.

Kept current by the metrics update (``database.sources.upsert_sources_for_images`` from
``update_metrics_for_images``; ``rebuild_sources`` from ``recompute_metrics``) and by ESE status
changes. Bookkeeping times are Unix seconds; observation times MJD (UTC).
"""

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table

from ._meta import metadata
from .normalization import source_metrics

__all__ = ["LISTED_METRICS", "listing_queue", "metric_list", "source_list", "sources"]


def _source_columns() -> list[Column]:
    """Return the per-source columns (``sources`` and its listed copy ``source_list``)."""
    return [
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
        Column("is_reference", Integer, nullable=False, server_default="0"),  # active reference
        Column("ese_status", String(16)),  # best ESE candidate's status, NULL when none
        Column("ese_score", Float),
        Column("updated_at", Float, nullable=False),
    ]


# the per-source table the metrics update writes (migration 0008; its list indexes moved to
# source_list by migration 0023: a row is rewritten at every epoch, an index is not)
sources = Table("sources", metadata, *_source_columns())

#: ``source_metrics`` columns the source list shows, sorts and filters on (``metric_list``).
LISTED_METRICS = (
    "n_points",
    "mean_flux_jy",
    "median_flux_jy",
    "baseline_flux_jy",
    "eta",
    "v",
    "vs",
    "m",
    "max_dip_sigma",
    "max_dip_depth",
    "max_cusum",
)

# the explorer's copies (migration 0023), with an index per sort key and filter: what the
# source list, cones and the eta-V plot read (database.source_lists)
source_list = Table(
    "source_list",
    metadata,
    *_source_columns(),
    Index(None, "hpx"),
    Index(None, "ese_status"),
    Index(None, "is_reference"),
)
metric_list = Table(
    "metric_list",
    metadata,
    Column("catalog", String(32), primary_key=True),
    Column("source_id", String(100), primary_key=True),
    Column("series", String(8), primary_key=True),
    *(Column(c, source_metrics.c[c].type) for c in LISTED_METRICS),
    # SQLite: the key ends every index entry, so that a sort key's index also gives the
    # list's tie-breaker (catalog, source_id) in order, as source_metrics' did
    sqlite_with_rowid=False,
)
# (series, eta, v) and (series, v, eta) cover a sort by one with a filter on both
Index("ix_metric_list_series_eta_v", metric_list.c.series, metric_list.c.eta, metric_list.c.v)
Index("ix_metric_list_series_v_eta", metric_list.c.series, metric_list.c.v, metric_list.c.eta)
Index("ix_metric_list_series_max_dip_sigma", metric_list.c.series, metric_list.c.max_dip_sigma)
# every other sortable column of the source list is an index range walk (offset or cursor);
# the key suffix is the list's tie-breaker
for _col in ("vs", "m", "n_points", "mean_flux_jy", "median_flux_jy", "max_cusum"):
    Index(
        f"ix_metric_list_series_{_col}_key",
        metric_list.c.series,
        metric_list.c[_col],
        metric_list.c.catalog,
        metric_list.c.source_id,
    )
for _col in ("ra_deg", "dec_deg", "n_measurements", "last_mjd", "catalog_flux_mjy", "ese_score"):
    Index(
        f"ix_source_list_{_col}_key",
        source_list.c[_col],
        source_list.c.catalog,
        source_list.c.source_id,
    )
del _col

# sources whose rows in sources / source_metrics changed since their copies were refreshed
# (database.listing): appended by every writer, emptied by refresh_listing
listing_queue = Table(
    "listing_queue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("catalog", String(32), nullable=False),
    Column("source_id", String(100), nullable=False),
)
