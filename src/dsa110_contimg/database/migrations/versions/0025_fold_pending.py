"""Completed items whose fold into the metrics has not run yet: ``batch_job_items.fold_pending``.

The job worker stores each item's rows when the item completes, and folds the items it has
finished into one normalization, metrics and ESE pass afterwards (``jobs.fold_items`` at a
time). A worker killed between the two left the items' metrics undone, and nothing found them
again. The item's completion now sets ``fold_pending`` in the same transaction as its rows;
the worker clears it once the pass over the item has run; a worker, at its start and when
idle, takes over the pending items of workers that are no longer alive
(``jobs.queue.adopt_unfolded``).

Existing items start at 0: what was completed before is taken as folded.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "batch_job_items",
        sa.Column("fold_pending", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_batch_job_items_fold_pending", "batch_job_items", ["fold_pending"])


def downgrade() -> None:
    op.drop_index("ix_batch_job_items_fold_pending", table_name="batch_job_items")
    with op.batch_alter_table("batch_job_items") as batch:
        batch.drop_column("fold_pending")
