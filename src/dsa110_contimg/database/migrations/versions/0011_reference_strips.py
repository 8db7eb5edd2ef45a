"""``reference_strips``: the master catalog's normalization references per declination strip.

Written by ``contimg catalog build-master``; read by ``contimg run`` at start and by the
dashboard to say loudly where too few references exist (see docs/photometry-references.md).

Revision ID: 0011
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_strips",
        sa.Column("dec_lo_deg", sa.Float, primary_key=True, autoincrement=False),
        sa.Column("dec_hi_deg", sa.Float, nullable=False),
        sa.Column("n_sources", sa.Integer, nullable=False),
        sa.Column("n_references", sa.Integer, nullable=False),
        sa.Column("n_nvss_only", sa.Integer, nullable=False),
        sa.Column("refs_per_image", sa.Float, nullable=False),
        sa.Column("built_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reference_strips")
