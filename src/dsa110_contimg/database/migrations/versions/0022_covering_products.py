"""A light curve's per-point product read from the products' primary key alone (PostgreSQL).

A light curve probes ``photometry_products`` once per point for the image's MJD,
``data_id``, kind, superseded flag and normalization factor. The probe read the key (three
pages: root, inner, leaf) and then the product's heap page: at 10^8 measurements the
~1,000 heap pages of a light curve's products were a quarter of its buffer reads. The
primary key now carries those columns (``PRIMARY KEY (image_key) INCLUDE (...)``): the probe
is an index-only scan once the table is vacuumed (a whole re-normalization vacuums it and
rebuilds the key; autovacuum otherwise). The table holds one row per image (~150,000 at
10^8 measurements): the key grows from ~7 to ~11 MB. SQLite has no ``INCLUDE`` (and its
key is the table's own B-tree): nothing changes there.

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

#: What a light curve reads of its products (database.lightcurves.lightcurve_statement).
COLUMNS = "mjd, data_id, kind, superseded, norm_factor, norm_factor_err"


def _primary_key(include: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE photometry_products DROP CONSTRAINT pk_photometry_products")
    op.execute(
        "ALTER TABLE photometry_products ADD CONSTRAINT pk_photometry_products "
        f"PRIMARY KEY (image_key){include}"
    )


def upgrade() -> None:
    _primary_key(f" INCLUDE ({COLUMNS})")


def downgrade() -> None:
    _primary_key("")
