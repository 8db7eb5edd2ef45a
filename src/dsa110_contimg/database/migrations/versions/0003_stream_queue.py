"""Tables of the stream area (see ``database/tables/stream.py``).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_key", sa.String(64), nullable=False),
        sa.Column("group_time", sa.Float, nullable=False),
        sa.Column("input_dir", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n_files", sa.Integer, nullable=False, server_default="0"),
        sa.Column("expected_files", sa.Integer, nullable=False),
        sa.Column("first_seen_at", sa.Float, nullable=False),
        sa.Column("last_file_at", sa.Float, nullable=False),
        sa.Column("pending_at", sa.Float),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("ms_path", sa.Text),
        sa.Column("image_path", sa.Text),
        sa.Column("data_id", sa.String(200)),
        sa.Column("qa_status", sa.String(16)),
        sa.Column("photometry_job_id", sa.Integer),
        sa.Column("timings", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stream_groups"),
        sa.UniqueConstraint("group_key", name="uq_stream_groups_group_key"),
    )
    op.create_index("ix_stream_groups_status", "stream_groups", ["status"])
    op.create_index("ix_stream_groups_group_time", "stream_groups", ["group_time"])
    op.create_table(
        "stream_files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("group_id", sa.Integer),
        sa.Column("subband", sa.Integer),
        sa.Column("timestamp", sa.String(64)),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("seen_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stream_files"),
        sa.UniqueConstraint("path", name="uq_stream_files_path"),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["stream_groups.id"],
            name="fk_stream_files_group_id_stream_groups",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_stream_files_group_id", "stream_files", ["group_id"])


def downgrade() -> None:
    op.drop_index("ix_stream_files_group_id", table_name="stream_files")
    op.drop_table("stream_files")
    op.drop_index("ix_stream_groups_group_time", table_name="stream_groups")
    op.drop_index("ix_stream_groups_status", table_name="stream_groups")
    op.drop_table("stream_groups")
