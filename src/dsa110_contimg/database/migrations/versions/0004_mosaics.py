"""Tables of the mosaic area (see ``database/tables/mosaic.py``).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mosaics",
        sa.Column("data_id", sa.String(200), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("n_images", sa.Integer, nullable=False),
        sa.Column("weight_path", sa.Text),
        sa.Column("noise_path", sa.Text),
        sa.Column("bmaj_deg", sa.Float),
        sa.Column("bmin_deg", sa.Float),
        sa.Column("bpa_deg", sa.Float),
        sa.Column("mjd_start", sa.Float),
        sa.Column("mjd_end", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("data_id", name="pk_mosaics"),
        sa.UniqueConstraint("path", name="uq_mosaics_path"),
    )
    op.create_table(
        "mosaic_members",
        sa.Column("mosaic_data_id", sa.String(200), nullable=False),
        sa.Column("member_data_id", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("mosaic_data_id", "member_data_id", name="pk_mosaic_members"),
        sa.ForeignKeyConstraint(
            ["mosaic_data_id"],
            ["mosaics.data_id"],
            name="fk_mosaic_members_mosaic_data_id_mosaics",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_mosaic_members_member_data_id", "mosaic_members", ["member_data_id"])
    op.create_table(
        "mosaic_groups",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n_images", sa.Integer, nullable=False),
        sa.Column("mjd_first", sa.Float),
        sa.Column("mjd_last", sa.Float),
        sa.Column("dec_deg", sa.Float),
        sa.Column("complete", sa.Integer, nullable=False, server_default="1"),
        sa.Column("mosaic_path", sa.Text),
        sa.Column("mosaic_data_id", sa.String(200)),
        sa.Column("photometry_job_id", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("built_at", sa.Float),
        sa.PrimaryKeyConstraint("id", name="pk_mosaic_groups"),
    )
    op.create_index("ix_mosaic_groups_status", "mosaic_groups", ["status"])
    op.create_table(
        "mosaic_group_members",
        sa.Column("group_id", sa.Integer, nullable=False),
        sa.Column("data_id", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("mjd_mid", sa.Float),
        sa.PrimaryKeyConstraint("group_id", "data_id", name="pk_mosaic_group_members"),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["mosaic_groups.id"],
            name="fk_mosaic_group_members_group_id_mosaic_groups",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_mosaic_group_members_data_id", "mosaic_group_members", ["data_id"])


def downgrade() -> None:
    for name in ("mosaic_group_members", "mosaic_groups", "mosaic_members", "mosaics"):
        op.drop_table(name)
