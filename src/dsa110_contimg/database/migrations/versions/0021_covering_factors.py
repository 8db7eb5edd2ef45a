"""The references' factors read from their primary key alone (PostgreSQL).

A light curve probes ``photometry_factors`` once per point (the view's ``LEFT JOIN``; a
reference's own leave-one-out factor). The factors are written image after image, so a
reference's ~1,000 rows lie on ~1,000 heap pages: at 10^8 measurements a reference's light
curve read them one by one (p99 93 ms after a full re-normalization, 14 ms for a source
that is no reference). The primary key now carries the two factors
(``PRIMARY KEY (source_key, image_key) INCLUDE (factor, factor_err)``): the probe is an
index-only scan, a reference's factors lie side by side in the key's order and the heap is
not read once the table is vacuumed (the full re-normalization vacuums it; autovacuum
otherwise). SQLite has no ``INCLUDE``: nothing changes there.

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def _primary_key(include: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE photometry_factors DROP CONSTRAINT pk_photometry_factors")
    op.execute(
        "ALTER TABLE photometry_factors ADD CONSTRAINT pk_photometry_factors "
        f"PRIMARY KEY (source_key, image_key){include}"
    )


def upgrade() -> None:
    _primary_key(" INCLUDE (factor, factor_err)")


def downgrade() -> None:
    _primary_key("")
