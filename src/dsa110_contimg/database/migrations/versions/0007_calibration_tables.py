"""Calibration tables as products, per-image calibration status and supersession.

``caltables``: one row per solution set (K, B, G tables of one calibrator transit) with its
validity window, solution QA and status (``valid`` / ``refused`` with the reason).
``data_registry`` gains ``calibration_status`` (``calibrated`` / ``precalibrated`` /
``uncalibrated``; NULL for products registered before this migration, read as
``precalibrated``), ``caltable_id`` (the solution set applied) and ``superseded_by`` /
``superseded_at`` (a product replaced by a re-calibrated one stays recorded).
``stream_groups`` gains the same status and table, and ``cal_wait_until`` (a group waiting
for a calibrator).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "caltables",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("calibrator", sa.String(64), nullable=False),
        sa.Column("transit_mjd", sa.Float, nullable=False),
        sa.Column("valid_from_mjd", sa.Float, nullable=False),
        sa.Column("valid_until_mjd", sa.Float, nullable=False),
        sa.Column("group_key", sa.String(64)),
        sa.Column("ms_path", sa.Text),
        sa.Column("k_path", sa.Text),
        sa.Column("b_path", sa.Text),
        sa.Column("g_path", sa.Text),
        sa.Column("channel_mask_path", sa.Text),
        sa.Column("snr_median", sa.Float),
        sa.Column("flagged_fraction", sa.Float),
        sa.Column("antennas_flagged", sa.Text),
        sa.Column("n_antennas", sa.Integer),
        sa.Column("delay_scatter_ns", sa.Float),
        sa.Column("antenna_delays_ns", sa.Text),
        sa.Column("antenna_gain_amps", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_caltables"),
    )
    op.create_index("ix_caltables_status_transit_mjd", "caltables", ["status", "transit_mjd"])
    with op.batch_alter_table("data_registry") as batch:
        batch.add_column(sa.Column("calibration_status", sa.String(16)))
        batch.add_column(sa.Column("caltable_id", sa.Integer))
        batch.add_column(sa.Column("superseded_by", sa.String(200)))
        batch.add_column(sa.Column("superseded_at", sa.Float))
    op.create_index("ix_data_registry_calibration_status", "data_registry", ["calibration_status"])
    with op.batch_alter_table("stream_groups") as batch:
        batch.add_column(sa.Column("calibration_status", sa.String(16)))
        batch.add_column(sa.Column("caltable_id", sa.Integer))
        batch.add_column(sa.Column("cal_wait_until", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("stream_groups") as batch:
        batch.drop_column("cal_wait_until")
        batch.drop_column("caltable_id")
        batch.drop_column("calibration_status")
    op.drop_index("ix_data_registry_calibration_status", table_name="data_registry")
    with op.batch_alter_table("data_registry") as batch:
        batch.drop_column("superseded_at")
        batch.drop_column("superseded_by")
        batch.drop_column("caltable_id")
        batch.drop_column("calibration_status")
    op.drop_index("ix_caltables_status_transit_mjd", table_name="caltables")
    op.drop_table("caltables")
