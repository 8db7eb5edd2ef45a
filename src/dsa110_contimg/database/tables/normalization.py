"""Tables of the normalization area (migration 0005).

- ``reference_sources``: the references of differential photometry, their baselines and drops.
- ``image_normalization``: the correction factor of each image (or why it has none).
- ``source_metrics``: per source and series, the running sums and extremes from which the
  variability metrics are updated in constant time per new point.
- ``ese_candidates``: sources flagged as Extreme Scattering Event candidates.

Bookkeeping times are Unix seconds (floats); observation times MJD (UTC).
"""

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

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
    # committed points (closed epochs): running sums
    Column("n", Integer, nullable=False, server_default="0"),
    Column("sum_w", Float, nullable=False, server_default="0"),
    Column("sum_wf", Float, nullable=False, server_default="0"),
    Column("sum_wf2", Float, nullable=False, server_default="0"),
    Column("sum_f", Float, nullable=False, server_default="0"),
    Column("sum_f2", Float, nullable=False, server_default="0"),
    Column("min_flux_jy", Float),
    Column("min_err_jy", Float),
    Column("min_mjd", Float),
    Column("max_flux_jy", Float),
    Column("max_err_jy", Float),
    Column("max_mjd", Float),
    Column("last_mjd", Float),
    # the open epoch (image measurements within the window of its first one)
    Column("open_mjd", Float),
    Column("open_last_mjd", Float),
    Column("open_image", String(200)),
    Column("open_n", Integer, nullable=False, server_default="0"),
    Column("open_sw", Float, nullable=False, server_default="0"),
    Column("open_swf", Float, nullable=False, server_default="0"),
    # the source's own robust baseline and the dip statistics against it
    Column("baseline_buffer", Text),  # JSON [[flux, err], ...] until the baseline is set
    Column("baseline_flux_jy", Float),
    Column("baseline_err_jy", Float),
    Column("cusum", Float, nullable=False, server_default="0"),
    Column("max_cusum", Float, nullable=False, server_default="0"),
    Column("dip_sigma", Float),
    Column("max_dip_sigma", Float),
    Column("max_dip_depth", Float),
    Column("max_dip_mjd", Float),
    Column("run_start_mjd", Float),  # start of the current CUSUM excursion
    Column("peak_start_mjd", Float),  # start of the excursion that reached max_cusum
    Column("peak_mjd", Float),  # when max_cusum was reached
    # derived metrics (committed points plus the open epoch)
    Column("n_points", Integer, nullable=False, server_default="0"),
    Column("mean_flux_jy", Float),
    Column("eta", Float),
    Column("v", Float),
    Column("vs", Float),
    Column("m", Float),
    Column("updated_at", Float, nullable=False),
    Index(None, "series", "eta"),
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
