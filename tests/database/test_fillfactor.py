"""PostgreSQL: the ingest's rewrites of the per-source tables stay on their pages (0024).

``sources`` and ``source_metrics`` are rewritten for every source of every image; with half of
each page kept free (fill factor 50) the new version of a row fits beside the old one and the
update adds no index entry (a "HOT" update). The test reads each row's page (``ctid``) before
and after a pass over new images: with PostgreSQL's default fill factor almost every row of a
full page has to move.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dsa110_contimg.database import get_engine
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry
from dsa110_contimg.variability.pipeline import on_photometry_written_many

from ..conftest import make_settings

pytestmark = pytest.mark.postgres


def _pages(settings, table: str) -> dict[tuple, int]:
    key = "catalog, source_id" + (", series" if table == "source_metrics" else "")
    with get_engine(settings).connect() as conn:
        rows = conn.execute(
            text(f"SELECT {key}, (ctid::text::point)[0]::int FROM {table}")
        ).all()
    return {tuple(r[:-1]): r[-1] for r in rows}


def _ingest(settings, sim, images) -> None:
    write_simulated_photometry(sim, images=images, settings=settings)
    on_photometry_written_many([sim.data_ids[i] for i in images], normalize=True,
                               settings=settings)  # fmt: skip


@pytest.mark.parametrize("table", ["sources", "source_metrics"])
def test_a_pass_rewrites_rows_in_place(postgres_url, tmp_path, table):
    settings = make_settings(tmp_path / "pg", database_url=postgres_url)
    with get_engine(settings).connect() as conn:
        options = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = :t"), {"t": table}
        ).scalar_one()
    assert "fillfactor=50" in options
    sim = simulate_lightcurves(n_epochs=14, n_references=120, seed=5)
    _ingest(settings, sim, list(range(12)))
    before = _pages(settings, table)
    assert len(set(before.values())) >= 3  # several pages (the rows of a page move together)
    _ingest(settings, sim, [12, 13])  # every source rewritten once more
    after = _pages(settings, table)
    assert after.keys() == before.keys()
    moved = sum(after[k] != before[k] for k in before)
    assert moved <= 0.05 * len(before), f"{moved} of {len(before)} rows left their page"
