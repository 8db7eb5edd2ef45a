"""Tables of the normalization area (see ``database/tables/normalization.py``).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_sources",
        sa.Column("catalog", sa.String(32)),
        sa.Column("source_id", sa.String(100)),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("baseline_flux_jy", sa.Float),
        sa.Column("baseline_err_jy", sa.Float),
        sa.Column("n_baseline", sa.Integer),
        sa.Column("chi2_reduced", sa.Float),
        sa.Column("n_epochs", sa.Integer),
        sa.Column("drop_reason", sa.Text),
        sa.Column("established_at", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("catalog", "source_id", name="pk_reference_sources"),
    )
    op.create_index("ix_reference_sources_status", "reference_sources", ["status"])
    op.create_table(
        "image_normalization",
        sa.Column("data_id", sa.String(200)),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("factor", sa.Float),
        sa.Column("factor_err", sa.Float),
        sa.Column("n_refs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_candidates", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reason", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("data_id", name="pk_image_normalization"),
    )
    op.create_index("ix_image_normalization_status", "image_normalization", ["status"])
    op.create_table(
        "source_metrics",
        sa.Column("catalog", sa.String(32)),
        sa.Column("source_id", sa.String(100)),
        sa.Column("series", sa.String(8)),
        sa.Column("state", sa.LargeBinary, nullable=False),
        sa.Column("open_image", sa.String(200)),
        sa.Column("n_points", sa.Integer, nullable=False),
        sa.Column("mean_flux_jy", sa.Float),
        sa.Column("eta", sa.Float),
        sa.Column("v", sa.Float),
        sa.Column("vs", sa.Float),
        sa.Column("m", sa.Float),
        sa.Column("baseline_flux_jy", sa.Float),
        sa.Column("baseline_err_jy", sa.Float),
        sa.Column("dip_sigma", sa.Float),
        sa.Column("max_dip_sigma", sa.Float),
        sa.Column("max_dip_depth", sa.Float),
        sa.Column("max_dip_mjd", sa.Float),
        sa.Column("cusum", sa.Float),
        sa.Column("max_cusum", sa.Float),
        sa.Column("dip_start_mjd", sa.Float),
        sa.Column("dip_end_mjd", sa.Float),
        sa.Column("last_mjd", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("catalog", "source_id", "series", name="pk_source_metrics"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ese_candidates",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("catalog", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(100), nullable=False),
        sa.Column("series", sa.String(8), nullable=False),
        sa.Column("preset", sa.String(16), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("eta", sa.Float),
        sa.Column("v", sa.Float),
        sa.Column("vs", sa.Float),
        sa.Column("m", sa.Float),
        sa.Column("dip_sigma", sa.Float),
        sa.Column("max_dip_sigma", sa.Float),
        sa.Column("max_dip_depth", sa.Float),
        sa.Column("cusum", sa.Float),
        sa.Column("max_cusum", sa.Float),
        sa.Column("n_points", sa.Integer),
        sa.Column("first_flagged_mjd", sa.Float),
        sa.Column("last_flagged_mjd", sa.Float),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ese_candidates"),
        sa.UniqueConstraint(
            "catalog", "source_id", "series", name="uq_ese_candidates_catalog_source_id_series"
        ),
    )
    op.create_index("ix_ese_candidates_status_score", "ese_candidates", ["status", "score"])


def downgrade() -> None:
    for name in ("ese_candidates", "source_metrics", "image_normalization", "reference_sources"):
        op.drop_table(name)
