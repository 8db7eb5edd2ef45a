"""``source_metrics.median_flux_jy`` and the indexes behind every sortable source-list column.

- ``median_flux_jy``: the exact median of a source's points in a series (the open epoch
  included), kept by the metrics update in O(1) per point (a band of values around the median
  in the state vector, see ``variability.metrics``). The state vector grows by that band, so
  every stored metric row is recomputed here from its stored series, with the process's
  settings (``contimg db upgrade`` passes them; the default settings otherwise): states,
  derived metrics and the new median. ESE candidates and the per-source table are left as
  they are (the metrics are the same numbers as before).
- Indexes ``(series, <metric>, catalog, source_id)`` on ``source_metrics`` for the metric sorts
  that had none (Vs, m, points, mean and median flux, max CUSUM) and ``(<column>, catalog,
  source_id)`` on ``sources`` for its sortable columns (RA, Dec, measurements, last MJD,
  catalog flux, ESE score): a page of the source list, by offset or by cursor, is an index
  range walk under every sort (the key suffix is the list's tie-breaker, so PostgreSQL needs
  no sort of ties either).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: source_metrics columns indexed here as (series, column, catalog, source_id)
METRIC_INDEXED = ("vs", "m", "n_points", "mean_flux_jy", "median_flux_jy", "max_cusum")
#: sources columns indexed here as (column, catalog, source_id)
SOURCE_INDEXED = (
    "ra_deg",
    "dec_deg",
    "n_measurements",
    "last_mjd",
    "catalog_flux_mjy",
    "ese_score",
)


def upgrade() -> None:
    op.add_column("source_metrics", sa.Column("median_flux_jy", sa.Float))
    for col in METRIC_INDEXED:
        op.create_index(
            f"ix_source_metrics_series_{col}_key",
            "source_metrics",
            ["series", col, "catalog", "source_id"],
        )
    for col in SOURCE_INDEXED:
        op.create_index(f"ix_sources_{col}_key", "sources", [col, "catalog", "source_id"])
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT 1 FROM source_metrics LIMIT 1")).first() is not None:
        from dsa110_contimg.config import resolve_settings
        from dsa110_contimg.variability.pipeline.metrics import refresh_metric_states

        settings = resolve_settings(context.config.attributes.get("settings"))
        refresh_metric_states(conn, settings)


def downgrade() -> None:
    for col in SOURCE_INDEXED:
        op.drop_index(f"ix_sources_{col}_key", table_name="sources")
    for col in METRIC_INDEXED:
        op.drop_index(f"ix_source_metrics_series_{col}_key", table_name="source_metrics")
    with op.batch_alter_table("source_metrics") as batch:
        batch.drop_column("median_flux_jy")
