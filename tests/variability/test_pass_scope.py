"""The passes after a dropped reference redo only what it touched, and equal a full pass.

A full re-normalization normalizes every image, rebuilds every metric, tests the references,
and passes again if one was dropped. The second pass re-normalizes only the products that
held a dropped reference's factor and rebuilds the metrics of the sources on them (at 10^8
rows: ~5 % of the survey instead of all of it). Two simulated fields share the database;
a reference of the first varies. The oracle is the unscoped pass: normalizing every image
again and rebuilding every metric afterwards changes nothing, to the last bit.
"""

import numpy as np
import pytest
from sqlalchemy import text

from dsa110_contimg.database import get_engine
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry
from dsa110_contimg.variability.pipeline import normalize_all, normalize_image, recompute_metrics
from dsa110_contimg.variability.pipeline.normalize import pass_scope

from .test_distributed import _dump


def _fields(settings) -> tuple[list[str], list[str]]:
    a = simulate_lightcurves(n_epochs=20, n_references=8, targets=[{"snr": 60}], seed=3,
                             field_center=(150.0, 54.6), image_prefix="fa")  # fmt: skip
    b = simulate_lightcurves(n_epochs=20, n_references=8, targets=[{"snr": 60}], seed=4,
                             field_center=(210.0, 20.0), image_prefix="fb")  # fmt: skip
    a.flux_jy[0, 0, :] *= 1 + 0.15 * np.sin(np.arange(20) / 3.0)  # reference 0 of A varies
    return write_simulated_photometry(a, settings=settings), write_simulated_photometry(
        b, settings=settings
    )


def test_later_passes_redo_only_the_products_of_dropped_references(db_settings):
    ids_a, ids_b = _fields(db_settings)
    out = normalize_all(settings=db_settings)
    assert out["dropped"] == 1
    assert out["normalized"] == len(ids_a) + len(ids_b)
    engine = get_engine(db_settings)
    with engine.connect() as conn:
        dropped = conn.execute(
            text("SELECT catalog, source_id FROM reference_sources WHERE status = 'dropped'")
        ).all()
    # the dropped reference (field A) no longer holds factors: nothing left to redo for it;
    # before its drop it held A's products (the second pass's scope), never B's
    scope, keys = pass_scope(engine.connect(), [tuple(r) for r in dropped])
    assert scope == set() and keys == []
    after = _dump(db_settings)
    for data_id in ids_a + ids_b:  # the unscoped pass
        normalize_image(data_id, settings=db_settings)
    recompute_metrics(settings=db_settings)
    assert _dump(db_settings) == after


def test_the_scope_of_a_reference_is_its_fields_products(db_settings):
    ids_a, ids_b = _fields(db_settings)
    normalize_all(settings=db_settings)
    engine = get_engine(db_settings)
    with engine.connect() as conn:
        refs = conn.execute(
            text("SELECT catalog, source_id FROM reference_sources WHERE status = 'active'")
        ).all()
        for ref in refs:
            scope, keys = pass_scope(conn, [tuple(ref)])
            assert scope in (set(ids_a), set(ids_b)), ref
            assert (ref[1] in {k[1] for k in keys}) and len(keys) == 9  # 8 refs, 1 target


@pytest.mark.postgres
def test_a_light_curve_reads_the_factors_from_the_primary_key(postgres_url, tmp_path):
    """Migrations 0021/0022: a light curve's factors and products come from the keys alone.

    The source's factors as one index-only range of their key (read once), each point's
    product as an index-only probe of the products' key.
    """
    from dsa110_contimg.database.lightcurves import lightcurve_statement

    from ..conftest import make_settings

    s = make_settings(tmp_path / "pg", database_url=postgres_url)
    ids_a, _ = _fields(s)
    engine = get_engine(s)
    node = (
        "SELECT relfilenode FROM pg_class "
        "WHERE relname IN ('pk_photometry_factors', 'pk_photometry_products') ORDER BY relname"
    )
    with engine.connect() as conn:
        before = conn.execute(text(node)).scalars().all()
    normalize_all(settings=s)  # rebuilds the keys and vacuums the tables at the end
    with engine.connect() as conn:
        after = conn.execute(text(node)).scalars().all()
        assert len(after) == 2 and not set(after) & set(before)  # fresh, compact keys
        products_key = conn.execute(
            text("SELECT pg_get_indexdef('pk_photometry_products'::regclass)")
        ).scalar()
        ref = conn.execute(
            text("SELECT source_id FROM reference_sources WHERE status = 'active' LIMIT 1")
        ).scalar()
        catalog = conn.execute(
            text("SELECT catalog FROM photometry_sources WHERE source_id = :s"), {"s": ref}
        ).scalar()
        include = conn.execute(
            text("SELECT pg_get_indexdef('pk_photometry_factors'::regclass)")
        ).scalar()
        vacuums = conn.execute(
            text(
                "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'photometry_factors'"
            )
        ).scalar()
        # the plan of 10^8 rows on a 300-row table: no sequential scan; and the image-key
        # index (which the planner prefers for so few rows) out of the way for the
        # transaction that is rolled back
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("DROP INDEX ix_photometry_factors_image_key")
        plan = conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, COSTS OFF) " + lightcurve_statement("%s"), (catalog, ref)
        ).all()
        conn.rollback()
    assert vacuums >= 1  # by the re-normalization: the visibility map an index-only scan reads
    assert "INCLUDE (factor, factor_err)" in include
    lines = [r[0] for r in plan]
    probe = [ln for ln in lines if "photometry_factors" in ln]
    # read once (the source's key range, hashed), not probed per point
    assert probe and all("Index Only Scan" in ln and "loops=1)" in ln for ln in probe), lines
    # migration 0022: each point's product from the products' key alone
    assert "INCLUDE (mjd, data_id, kind, superseded, norm_factor, norm_factor_err)" in products_key
    product = [ln for ln in lines if " on photometry_products" in ln]
    assert product and all("Index Only Scan using pk_photometry_products" in ln for ln in product)
