"""The explorer's indexes move to copies of the per-source tables, refreshed behind the ingest.

The metrics update rewrites a source's ``sources`` row and its ``source_metrics`` rows at every
image it is measured on. Each rewrite inserted an entry into every index of the table: 9 on
``source_metrics`` (one per sort key of the source list) and 9 on ``sources``, ~20 random
index inserts per source and image. At 10^8 measurements they were two thirds of a new
epoch's writes (issue 17: with them an epoch's three writes take 0.9-2.0 s even as one
statement each, without them 0.3-0.8 s).

Those indexes now live on copies: ``source_list`` (every ``sources`` column) and
``metric_list`` (the metric columns the list shows), filled here from the tables. Writers
append the sources they change to ``listing_queue``; ``database.listing.refresh_listing``
copies them over (after the writer's commit, or, for the worker's ingest pass, right after
the pass). ``sources`` and ``source_metrics`` keep their primary keys only.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

SOURCE_COLUMNS = (
    "catalog", "source_id", "ra_deg", "dec_deg", "hpx", "catalog_flux_mjy", "n_measurements",
    "n_clean", "first_mjd", "last_mjd", "last_flags", "is_reference", "ese_status", "ese_score",
    "updated_at",
)  # fmt: skip
LISTED_METRICS = (
    "n_points", "mean_flux_jy", "median_flux_jy", "baseline_flux_jy", "eta", "v", "vs", "m",
    "max_dip_sigma", "max_dip_depth", "max_cusum",
)  # fmt: skip
SOURCE_SORTS = ("ra_deg", "dec_deg", "n_measurements", "last_mjd", "catalog_flux_mjy", "ese_score")
METRIC_SORTS = ("vs", "m", "n_points", "mean_flux_jy", "median_flux_jy", "max_cusum")


def _source_indexes(table: str) -> list[tuple[str, list[str]]]:
    return [
        (f"ix_{table}_hpx", ["hpx"]),
        (f"ix_{table}_ese_status", ["ese_status"]),
        (f"ix_{table}_is_reference", ["is_reference"]),
        *((f"ix_{table}_{c}_key", [c, "catalog", "source_id"]) for c in SOURCE_SORTS),
    ]


def _metric_indexes(table: str) -> list[tuple[str, list[str]]]:
    return [
        (f"ix_{table}_series_eta_v", ["series", "eta", "v"]),
        (f"ix_{table}_series_v_eta", ["series", "v", "eta"]),
        (f"ix_{table}_series_max_dip_sigma", ["series", "max_dip_sigma"]),
        *((f"ix_{table}_series_{c}_key", ["series", c, "catalog", "source_id"])
          for c in METRIC_SORTS),
    ]  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "source_list",
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
        sa.PrimaryKeyConstraint("catalog", "source_id", name="pk_source_list"),
    )
    op.create_table(
        "metric_list",
        sa.Column("catalog", sa.String(32)),
        sa.Column("source_id", sa.String(100)),
        sa.Column("series", sa.String(8)),
        sa.Column("n_points", sa.Integer),
        *(sa.Column(c, sa.Float) for c in LISTED_METRICS if c != "n_points"),
        sa.PrimaryKeyConstraint("catalog", "source_id", "series", name="pk_metric_list"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "listing_queue",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("catalog", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_listing_queue"),
    )
    cols = ", ".join(SOURCE_COLUMNS)
    op.execute(f"INSERT INTO source_list ({cols}) SELECT {cols} FROM sources")
    cols = ", ".join(("catalog", "source_id", "series", *LISTED_METRICS))
    op.execute(f"INSERT INTO metric_list ({cols}) SELECT {cols} FROM source_metrics")
    # the copies' indexes built after their load; the tables' own dropped
    for name, columns in _source_indexes("source_list"):
        op.create_index(name, "source_list", columns)
    for name, columns in _metric_indexes("metric_list"):
        op.create_index(name, "metric_list", columns)
    for name, _ in _source_indexes("sources"):
        op.drop_index(name, table_name="sources")
    for name, _ in _metric_indexes("source_metrics"):
        op.drop_index(name, table_name="source_metrics")


def downgrade() -> None:
    for name, columns in _source_indexes("sources"):
        op.create_index(name, "sources", columns)
    for name, columns in _metric_indexes("source_metrics"):
        op.create_index(name, "source_metrics", columns)
    for table in ("listing_queue", "metric_list", "source_list"):
        op.drop_table(table)
