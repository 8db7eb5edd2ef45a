"""``contimg db copy``: an SQLite database moved into PostgreSQL, verified row for row."""

import pytest
from astropy.table import Table
from sqlalchemy import func, select, text

from dsa110_contimg.catalog import ingest_table
from dsa110_contimg.cli import main
from dsa110_contimg.database import get_engine, photometry_insert
from dsa110_contimg.database.copy import copy_database, verify_copy
from dsa110_contimg.database.tables import metadata, views
from dsa110_contimg.errors import DatabaseError
from dsa110_contimg.jobs import create_batch_photometry_job
from dsa110_contimg.simulation import make_fits_image
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry
from dsa110_contimg.variability.pipeline import normalize_all

from ..conftest import make_settings


@pytest.fixture
def filled(tmp_path):
    """An SQLite database with products, photometry, metrics, ESE, a catalog and a job."""
    s = make_settings(tmp_path / "src")
    sim = simulate_lightcurves(
        n_epochs=20, n_references=6, seed=3,
        targets=[{"snr": 50, "dip_depth": 0.3, "dip_epochs": 6, "dip_start": 10}],
    )  # fmt: skip
    write_simulated_photometry(sim, settings=s)
    normalize_all(settings=s)
    ingest_table("nvss", Table({"source_id": ["a", "b"], "ra_deg": [10.0, 359.99],
                                "dec_deg": [20.0, -3.0], "flux_mjy": [5.0, float("nan")]}),
                 settings=s)  # fmt: skip
    path = tmp_path / "img-image-pb.fits"
    make_fits_image(path, shape=(64, 64), center=(10.0, 20.0), n_sources=2, seed=1)
    create_batch_photometry_job(path, [(10.0, 20.0)], settings=s)
    return s


def test_copy_to_postgresql_is_row_for_row(filled, postgres_url, tmp_path):
    target = make_settings(tmp_path / "dst", database_url=postgres_url)
    tables = copy_database(get_engine(filled), get_engine(target), batch_rows=50)
    counts = {t.name: t.rows for t in tables}
    for name in ("images", "photometry", "data_registry", "batch_jobs", "batch_job_items",
                 "catalog_sources", "catalog_meta", "reference_sources",
                 "image_normalization", "source_metrics", "ese_candidates"):  # fmt: skip
        assert counts[name] > 0, name
    assert counts["photometry"] > 50  # several batches
    assert {t.name for t in tables} == {
        t.name for t in (*metadata.sorted_tables, *views.sorted_tables)
    }
    # the verification reads both sides again: a changed value is found
    with get_engine(target).begin() as conn:
        conn.execute(text("UPDATE photometry SET flux_jy = flux_jy * (1 + 1e-15) WHERE id = 7"))
    with pytest.raises(DatabaseError, match="photometry differs"):
        verify_copy(get_engine(filled), get_engine(target))
    # new rows get new ids (sequences moved past the copied ones)
    photometry_insert([{"data_id": "new", "ra_deg": 1.0, "dec_deg": 2.0, "flux_jy": 0.1}],
                      settings=target)  # fmt: skip
    with get_engine(target).connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM photometry")).scalar_one()
    assert n == counts["photometry"] + 1


def test_refuses_a_target_that_holds_data(filled, tmp_path):
    other = make_settings(tmp_path / "other")
    photometry_insert([{"data_id": "x", "ra_deg": 1.0, "dec_deg": 2.0}], settings=other)
    with pytest.raises(DatabaseError, match="not empty"):
        copy_database(get_engine(filled), get_engine(other))


def test_command_line(filled, postgres_url):
    state = str(filled.state_dir)
    assert main(["--state-dir", state, "db", "copy", "--to", postgres_url]) == 0
    from sqlalchemy import create_engine

    eng = create_engine(postgres_url)
    with eng.connect() as conn:
        from dsa110_contimg.database.tables import photometry

        n = conn.execute(select(func.count()).select_from(photometry)).scalar_one()
    eng.dispose()
    with get_engine(filled).connect() as conn:
        assert n == conn.execute(select(func.count()).select_from(photometry)).scalar_one()
