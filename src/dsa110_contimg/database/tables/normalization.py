"""Tables of the normalization area (migration 0005).

- ``reference_sources``: the references of differential photometry, their baselines and drops.
- ``image_normalization``: the correction factor of each image (or why it has none).
- ``source_metrics``: per source and series, the running sums and extremes (a packed state
  vector) from which the variability metrics are updated in constant time per new point,
  and the derived metrics themselves.
- ``ese_candidates``: sources flagged as Extreme Scattering Event candidates.

Bookkeeping times are Unix seconds (floats); observation times MJD (UTC).
"""

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ._meta import metadata

__all__ = ["ese_candidates", "image_normalization", "reference_sources", "source_metrics"]

reference_sources = Table(
    "reference_sources",
    metadata,
    Column("catalog", String(32), primary_key=True),
    Column("source_id", String(100), primary_key=True),
    Column("origin", String(16), nullable=False),  # "master" or "explicit"
    Column("status", String(16), nullable=False),  # "candidate", "active", "dropped"
    Column("baseline_flux_jy", Float),
    Column("baseline_err_jy", Float),
    Column("n_baseline", Integer),
    Column("chi2_reduced", Float),
    Column("n_epochs", Integer),
    Column("drop_reason", Text),
    Column("established_at", Float),
    Column("updated_at", Float, nullable=False),
    Index(None, "status"),
)

image_normalization = Table(
    "image_normalization",
    metadata,
    Column("data_id", String(200), primary_key=True),
    Column("status", String(24), nullable=False),  # "normalized" or "not_normalizable"
    Column("factor", Float),
    Column("factor_err", Float),
    Column("n_refs", Integer, nullable=False, server_default="0"),
    Column("n_candidates", Integer, nullable=False, server_default="0"),
    Column("reason", Text),
    Column("updated_at", Float, nullable=False),
    Index(None, "status"),
)

source_metrics = Table(
    "source_metrics",
    metadata,
    Column("catalog", String(32), primary_key=True),
    Column("source_id", String(100), primary_key=True),
    Column("series", String(8), primary_key=True),  # "image", "epoch", "mosaic"
    # running sums, extremes, open epoch, CUSUM and baseline buffer: float64 vector whose
    # layout is variability.metrics.STATE_FLOAT_KEYS + the (K, 2) baseline buffer +
    # OPEN_SLOTS open-epoch MJDs (variability.packing)
    Column("state", LargeBinary, nullable=False),
    Column("open_image", String(200)),  # first image of the open epoch
    # derived metrics (committed points plus the open epoch), for queries and the API
    Column("n_points", Integer, nullable=False),
    Column("mean_flux_jy", Float),
    Column("median_flux_jy", Float),  # exact median of the points (migration 0012)
    Column("eta", Float),
    Column("v", Float),
    Column("vs", Float),
    Column("m", Float),
    Column("baseline_flux_jy", Float),
    Column("baseline_err_jy", Float),
    Column("dip_sigma", Float),
    Column("max_dip_sigma", Float),
    Column("max_dip_depth", Float),
    Column("max_dip_mjd", Float),
    Column("cusum", Float),
    Column("max_cusum", Float),
    Column("dip_start_mjd", Float),
    Column("dip_end_mjd", Float),
    Column("last_mjd", Float),
    Column("updated_at", Float, nullable=False),
    sqlite_with_rowid=False,  # one B-tree keyed on the primary key: 10 000 upserts per epoch
)

ese_candidates = Table(
    "ese_candidates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("catalog", String(32), nullable=False),
    Column("source_id", String(100), nullable=False),
    Column("series", String(8), nullable=False),
    Column("preset", String(16), nullable=False),  # strictest preset passed
    Column("score", Float, nullable=False),
    Column("eta", Float),
    Column("v", Float),
    Column("vs", Float),
    Column("m", Float),
    Column("dip_sigma", Float),
    Column("max_dip_sigma", Float),
    Column("max_dip_depth", Float),
    Column("cusum", Float),
    Column("max_cusum", Float),
    Column("n_points", Integer),
    Column("first_flagged_mjd", Float),
    Column("last_flagged_mjd", Float),
    Column("status", String(16), nullable=False),  # "active", "dismissed", "confirmed"
    Column("note", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("catalog", "source_id", "series"),
    Index(None, "status", "score"),
)
