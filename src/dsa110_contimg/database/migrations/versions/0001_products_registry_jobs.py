"""Products, data registry, batch jobs and workers.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("data_id", sa.String(200), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("mjd_start", sa.Float),
        sa.Column("mjd_mid", sa.Float),
        sa.Column("mjd_end", sa.Float),
        sa.Column("ra_center_deg", sa.Float),
        sa.Column("dec_center_deg", sa.Float),
        sa.Column("bmaj_deg", sa.Float),
        sa.Column("bmin_deg", sa.Float),
        sa.Column("bpa_deg", sa.Float),
        sa.Column("noise_jy", sa.Float),
        sa.Column("freq_hz", sa.Float),
        sa.Column("beam_path", sa.Text),
        sa.Column("uncorrected_path", sa.Text),
        sa.Column("imaging_params", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_images"),
        sa.UniqueConstraint("data_id", name="uq_images_data_id"),
        sa.UniqueConstraint("path", name="uq_images_path"),
    )
    op.create_index("ix_images_mjd_mid", "images", ["mjd_mid"])

    op.create_table(
        "photometry",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("data_id", sa.String(200), nullable=False),
        sa.Column("catalog", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(100), nullable=False),
        sa.Column("ra_deg", sa.Float, nullable=False),
        sa.Column("dec_deg", sa.Float, nullable=False),
        sa.Column("catalog_flux_mjy", sa.Float),
        sa.Column("flux_jy", sa.Float),
        sa.Column("flux_err_jy", sa.Float),
        sa.Column("local_rms_jy", sa.Float),
        sa.Column("snr", sa.Float),
        sa.Column("chi2", sa.Float),
        sa.Column("dof", sa.Integer),
        sa.Column("flags", sa.String(200), nullable=False, server_default=""),
        sa.Column("mjd", sa.Float),
        sa.Column("normalized_flux_jy", sa.Float),
        sa.Column("normalized_flux_err_jy", sa.Float),
        sa.Column("job_id", sa.Integer),
        sa.Column("software_version", sa.String(64)),
        sa.Column("measured_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_photometry"),
        sa.UniqueConstraint("data_id", "catalog", "source_id", name="uq_photometry_data_id_catalog_source_id"),
    )
    op.create_index("ix_photometry_catalog_source_id_mjd", "photometry", ["catalog", "source_id", "mjd"])

    op.create_table(
        "data_registry",
        sa.Column("data_id", sa.String(200), nullable=False),
        sa.Column("data_type", sa.String(16), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="registered"),
        sa.Column("qa_status", sa.String(16)),
        sa.Column("qa_metrics", sa.Text),
        sa.Column("qa_reason", sa.Text),
        sa.Column("finalized_at", sa.Float),
        sa.Column("photometry_status", sa.String(16)),
        sa.Column("photometry_job_id", sa.Integer),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("data_id", name="pk_data_registry"),
    )
    op.create_index("ix_data_registry_data_type_status", "data_registry", ["data_type", "status"])
    op.create_index("ix_data_registry_photometry_status", "data_registry", ["photometry_status"])

    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total_items", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completed_items", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed_items", sa.Integer, nullable=False, server_default="0"),
        sa.Column("params", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_batch_jobs"),
    )
    op.create_index("ix_batch_jobs_status_created_at", "batch_jobs", ["status", "created_at"])

    op.create_table(
        "batch_job_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, nullable=False),
        sa.Column("fits_path", sa.Text, nullable=False),
        sa.Column("data_id", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_written", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("worker_id", sa.String(100)),
        sa.Column("lease_expires_at", sa.Float),
        sa.Column("next_attempt_at", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.PrimaryKeyConstraint("id", name="pk_batch_job_items"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["batch_jobs.id"], name="fk_batch_job_items_job_id_batch_jobs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_batch_job_items_status_next_attempt_at", "batch_job_items", ["status", "next_attempt_at"])
    op.create_index("ix_batch_job_items_job_id", "batch_job_items", ["job_id"])
    op.create_index("ix_batch_job_items_data_id", "batch_job_items", ["data_id"])

    op.create_table(
        "workers",
        sa.Column("worker_id", sa.String(100), nullable=False),
        sa.Column("hostname", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("current_job_id", sa.Integer),
        sa.PrimaryKeyConstraint("worker_id", name="pk_workers"),
    )


def downgrade() -> None:
    for name in ("workers", "batch_job_items", "batch_jobs", "data_registry", "photometry", "images"):
        op.drop_table(name)
