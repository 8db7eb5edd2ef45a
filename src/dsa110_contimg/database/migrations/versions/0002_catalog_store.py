"""Tables of the catalog area (see ``database/tables/catalog.py``).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_sources",
        sa.Column("catalog", sa.String(32), nullable=False),
        sa.Column("hpx", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("source_id", sa.String(100), nullable=False),
        sa.Column("ra_deg", sa.Float, nullable=False),
        sa.Column("dec_deg", sa.Float, nullable=False),
        sa.Column("flux_mjy", sa.Float),
        sa.Column("flux_err_mjy", sa.Float),
        sa.Column("peak_flux_mjy", sa.Float),
        sa.Column("peak_flux_err_mjy", sa.Float),
        sa.Column("ra_err_arcsec", sa.Float),
        sa.Column("dec_err_arcsec", sa.Float),
        sa.Column("maj_arcsec", sa.Float),
        sa.Column("min_arcsec", sa.Float),
        sa.Column("pa_deg", sa.Float),
        sa.Column("dc_maj_arcsec", sa.Float),
        sa.Column("dc_min_arcsec", sa.Float),
        sa.Column("dc_pa_deg", sa.Float),
        sa.Column("rms_mjy", sa.Float),
        sa.Column("flags", sa.String(200), nullable=False, server_default=""),
        sa.Column("snr", sa.Float),
        sa.Column("spectral_index", sa.Float),
        sa.Column("spectral_index_err", sa.Float),
        sa.Column("resolved_flag", sa.Boolean),
        sa.Column("confusion_flag", sa.Boolean),
        sa.Column("is_reference", sa.Boolean),
        sa.Column("n_first", sa.Integer),
        sa.Column("n_vlass", sa.Integer),
        sa.Column("n_racs", sa.Integer),
        sa.Column("first_flux_mjy", sa.Float),
        sa.Column("vlass_flux_mjy", sa.Float),
        sa.Column("racs_flux_mjy", sa.Float),
        sa.PrimaryKeyConstraint("catalog", "hpx", "source_id", name="pk_catalog_sources"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_catalog_sources_catalog_source_id",
        "catalog_sources",
        ["catalog", "source_id"],
        unique=True,
    )
    op.create_table(
        "catalog_meta",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("file_name", sa.Text),
        sa.Column("file_sha256", sa.String(64)),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Text, nullable=False, server_default="{}"),
        sa.Column("hpx_nside", sa.Integer, nullable=False),
        sa.Column("columns", sa.Text, nullable=False, server_default="[]"),
        sa.Column("ingested_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_catalog_meta"),
    )


def downgrade() -> None:
    op.drop_table("catalog_meta")
    op.drop_index("ix_catalog_sources_catalog_source_id", table_name="catalog_sources")
    op.drop_table("catalog_sources")
