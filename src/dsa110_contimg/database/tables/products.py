"""Products, registry and job tables (migration 0001).

Times: observation times are MJD (UTC); bookkeeping times (``created_at`` and the like) are
Unix seconds (UTC), as floats, identical on SQLite and PostgreSQL.
"""

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from ._meta import metadata
from .photometry import photometry  # a view since migration 0016 (old import path)

__all__ = [
    "batch_job_items",
    "batch_jobs",
    "data_registry",
    "images",
    "photometry",
    "workers",
]

images = Table(
    "images",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("data_id", String(200), nullable=False, unique=True),
    Column("path", Text, nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # "image" or "mosaic"
    Column("mjd_start", Float),
    Column("mjd_mid", Float),
    Column("mjd_end", Float),
    Column("ra_center_deg", Float),
    Column("dec_center_deg", Float),
    Column("bmaj_deg", Float),
    Column("bmin_deg", Float),
    Column("bpa_deg", Float),
    Column("noise_jy", Float),  # robust rms of the uncorrected image
    Column("freq_hz", Float),
    Column("beam_path", Text),  # primary-beam response image, when there is one
    Column("uncorrected_path", Text),
    Column("imaging_params", Text),  # JSON
    Column("created_at", Float, nullable=False),
    Index(None, "mjd_mid"),
)

data_registry = Table(
    "data_registry",
    metadata,
    Column("data_id", String(200), primary_key=True),
    Column("data_type", String(16), nullable=False),  # "image" or "mosaic"
    Column("path", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default="registered"),
    Column("qa_status", String(16)),  # NULL (not assessed), "passed", "failed"
    Column("qa_metrics", Text),  # JSON
    Column("qa_reason", Text),
    Column("finalized_at", Float),
    Column("photometry_status", String(16)),
    Column("photometry_job_id", Integer),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # migration 0007: calibrated | precalibrated | uncalibrated (NULL: read as precalibrated)
    Column("calibration_status", String(16)),
    Column("caltable_id", Integer),  # caltables.id of the solution set applied
    Column("superseded_by", String(200)),  # data_id of the re-calibrated product replacing it
    Column("superseded_at", Float),
    Index(None, "data_type", "status"),
    Index(None, "photometry_status"),
    Index(None, "calibration_status"),
)

batch_jobs = Table(
    "batch_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_type", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("total_items", Integer, nullable=False, server_default="0"),
    Column("completed_items", Integer, nullable=False, server_default="0"),
    Column("failed_items", Integer, nullable=False, server_default="0"),
    Column("params", Text),  # JSON
    Column("error", Text),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("updated_at", Float, nullable=False),
    Index(None, "status", "created_at"),
)

batch_job_items = Table(
    "batch_job_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("batch_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("fits_path", Text, nullable=False),
    Column("data_id", String(200)),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("rows_written", Integer),  # photometry rows stored by the attempt that completed it
    Column("error", Text),
    Column("worker_id", String(100)),
    Column("lease_expires_at", Float),
    Column("next_attempt_at", Float),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    # completed, its fold into the metrics not run yet (the worker's pass; migration 0025)
    Column("fold_pending", Integer, nullable=False, server_default="0"),
    Index(None, "status", "next_attempt_at"),
    Index(None, "job_id"),
    Index(None, "data_id"),
    Index(None, "fold_pending"),
)

workers = Table(
    "workers",
    metadata,
    Column("worker_id", String(100), primary_key=True),
    Column("hostname", String(255)),
    Column("pid", Integer),
    Column("status", String(16), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("current_job_id", Integer),
)
