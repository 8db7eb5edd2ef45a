"""PostgreSQL: the per-source tables keep half of every page free, so a rewrite stays on its page.

Every image rewrites the ``sources`` row and the ``source_metrics`` rows of each source it
measured. PostgreSQL writes an updated row as a new version; when the new version fits on the
row's own page and no indexed column changed (these tables keep their primary keys only since
0023), the update is "heap-only" (HOT): no index entry is added, and the old version is pruned
from the page at the next visit. With the default fill factor (100) the pages are full, so
nearly every update moved its row to another page and inserted a new key (issue 17, 10^8
rows: 2 % of ``source_metrics`` updates were HOT).

A new epoch updates every source of a strip, i.e. every row of the pages it touches, in one
transaction: a page needs room for a second version of all its rows, hence 50 %. Measured on
the 10^8 benchmark database: every update HOT, and the new epoch's pass 0.56-0.66 s where it
was 0.85-0.99 s; the tables are small (~2 KB per source in all), twice that on disk.

Existing pages keep their rows until the rows are next updated, which moves them to pages
filled to the new factor (``VACUUM FULL sources, source_metrics`` in a quiet moment compacts
at once; a migration runs inside a transaction, where VACUUM cannot). SQLite has no fill
factor and no row versions: nothing to do there.

Revision ID: 0024
Revises: 0023
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

TABLES = ("sources", "source_metrics")
FILLFACTOR = 50


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
