"""``stream_state``: whether each stream runs, is paused (disk watermark) or stopped.

Written by the stream (``conversion.streaming.streamer``) when its state changes; read by
``contimg stream --status`` and the health endpoint in any process
(``database.stream_state``).

Revision ID: 0015
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_state",
        sa.Column("input_dir", sa.String(1024), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("hostname", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("input_dir", name="pk_stream_state"),
    )


def downgrade() -> None:
    op.drop_table("stream_state")
