"""The per-source table ``sources`` and the metric indexes of the source lists.

One row per measured source (position, HEALPix pixel, counts, MJD range, latest flags,
reference flag, ESE state; see ``database/tables/sources.py``), filled here from the stored
photometry of an existing database (one pass, grouped by source), then kept current by the
metrics update. Indexes on ``source_metrics`` ``(series, eta, v)``, ``(series, v, eta)`` and
``(series, max_dip_sigma)`` let the lists sort and filter by a metric without a sort of the
whole table.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("catalog", sa.String(32)),
        sa.Column("source_id", sa.String(100)),
        sa.Column("ra_deg", sa.Float, nullable=False),
        sa.Column("dec_deg", sa.Float, nullable=False),
        sa.Column("hpx", sa.BigInteger, nullable=False),
        sa.Column("catalog_flux_mjy", sa.Float),
        sa.Column("n_measurements", sa.Integer, nullable=False),
        sa.Column("n_clean", sa.Integer, nullable=False),
        sa.Column("first_mjd", sa.Float),
        sa.Column("last_mjd", sa.Float),
        sa.Column("last_flags", sa.String(200)),
        sa.Column("is_reference", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ese_status", sa.String(16)),
        sa.Column("ese_score", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("catalog", "source_id", name="pk_sources"),
    )
    op.create_index("ix_sources_hpx", "sources", ["hpx"])
    op.create_index("ix_sources_ese_status", "sources", ["ese_status"])
    op.create_index("ix_sources_is_reference", "sources", ["is_reference"])
    op.create_index("ix_source_metrics_series_eta_v", "source_metrics", ["series", "eta", "v"])
    op.create_index("ix_source_metrics_series_v_eta", "source_metrics", ["series", "v", "eta"])
    op.create_index(
        "ix_source_metrics_series_max_dip_sigma", "source_metrics", ["series", "max_dip_sigma"]
    )
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT 1 FROM photometry LIMIT 1")).first() is not None:
        from dsa110_contimg.database.sources import rebuild_sources

        rebuild_sources(conn, None)


def downgrade() -> None:
    op.drop_index("ix_source_metrics_series_max_dip_sigma", table_name="source_metrics")
    op.drop_index("ix_source_metrics_series_v_eta", table_name="source_metrics")
    op.drop_index("ix_source_metrics_series_eta_v", table_name="source_metrics")
    op.drop_table("sources")
