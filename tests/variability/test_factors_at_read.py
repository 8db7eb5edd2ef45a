"""Normalization stored as factors (migration 0020), applied by the view at read time.

The view's normalized values must be, to the last bit, what the arithmetic on arrays gives
(:func:`normalize_image_arrays`, which the pipeline stored row by row before), on SQLite and
PostgreSQL; and the Dask path, whose PostgreSQL reader applies the factors in numpy, must equal
the serial one there too.
"""

import uuid

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from dsa110_contimg.database import dispose_engine, get_engine
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry
from dsa110_contimg.variability import normalize_image_arrays
from dsa110_contimg.variability.pipeline import normalize_all
from dsa110_contimg.variability.pipeline.normalize import active_baselines

from ..conftest import make_settings
from .test_distributed import _dump

SIM = dict(
    n_epochs=24,
    n_references=10,
    targets=[{"snr": 80}, {"snr": 40, "dip_depth": 0.3, "dip_epochs": 6, "dip_start": 12}],
    seed=5,
)


def _sim():
    sim = simulate_lightcurves(**SIM)
    sim.flux_jy[0, 0, :] *= 1 + 0.15 * np.sin(np.arange(24) / 3.0)  # a variable reference
    return sim


def _hex(v):
    return None if v is None or not np.isfinite(v) else float(v).hex()


def test_the_view_gives_the_arrays_normalization_to_the_last_bit(db_settings):
    write_simulated_photometry(_sim(), settings=db_settings)
    out = normalize_all(settings=db_settings)
    assert out["normalized"] > 0 and out["dropped"] >= 1  # a second pass replaced factors
    ns = db_settings.normalize
    n_rows = 0
    with get_engine(db_settings).connect() as conn:
        baselines = active_baselines(conn)
        ids = [r[0] for r in conn.execute(text("SELECT DISTINCT data_id FROM photometry"))]
        for did in ids:
            rows = conn.execute(
                text(
                    "SELECT catalog, source_id, flux_jy, flux_err_jy, flags, normalized_flux_jy, "
                    "normalized_flux_err_jy FROM photometry WHERE data_id = :d "
                    "ORDER BY catalog, source_id"
                ),
                {"d": did},
            ).all()
            c = list(zip(*rows, strict=True))
            expect = normalize_image_arrays(
                did, c[0], c[1], np.array(c[2], dtype=float), np.array(c[3], dtype=float),
                c[4], baselines, min_references=ns.min_references, clip_sigma=ns.clip_sigma,
                max_iter=ns.clip_iterations,
            )  # fmt: skip
            assert expect.normalized_flux_jy is not None
            assert [_hex(v) for v in c[5]] == [_hex(v) for v in expect.normalized_flux_jy]
            assert [_hex(v) for v in c[6]] == [_hex(v) for v in expect.normalized_flux_err_jy]
            n_rows += len(rows)
        stored = conn.execute(text("SELECT count(*) FROM photometry_factors")).scalar_one()
        own = conn.execute(
            text("SELECT count(*) FROM photometry_rows WHERE normalized_flux_jy IS NOT NULL")
        ).scalar_one()
    assert n_rows == 12 * 24
    assert 0 < stored < n_rows  # only the references' own factors are stored per row
    assert own == 0  # no measurement row holds a normalized value


def test_a_refused_image_reads_null_and_own_values_are_cleared(db_settings):
    write_simulated_photometry(_sim(), settings=db_settings)
    normalize_all(settings=db_settings)
    engine = get_engine(db_settings)
    with engine.begin() as conn:  # an own value (as rows written before migration 0020 hold)
        conn.execute(text("UPDATE photometry_rows SET normalized_flux_jy = 7.0"))
        assert conn.execute(
            text("SELECT min(normalized_flux_jy), max(normalized_flux_jy) FROM photometry")
        ).one() == (7.0, 7.0)
        conn.execute(text("UPDATE reference_sources SET status = 'dropped'"))
    normalize_all(settings=db_settings)  # no reference left: every image is refused
    with engine.connect() as conn:
        got = conn.execute(
            text("SELECT count(normalized_flux_jy), count(normalized_flux_err_jy) FROM photometry")
        ).one()
        factors = conn.execute(text("SELECT count(*) FROM photometry_factors")).scalar_one()
    assert tuple(got) == (0, 0) and factors == 0


@pytest.mark.postgres
def test_dask_equals_serial_on_postgresql(tmp_path, postgres_admin_url):
    pytest.importorskip("distributed")
    from dsa110_contimg.variability.pipeline import normalize_all_distributed

    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    base = postgres_admin_url.rpartition("/")[0]
    names = [f"contimg_test_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with admin.connect() as conn:
        for n in names:
            conn.execute(text(f'CREATE DATABASE "{n}"'))
    settings = [make_settings(tmp_path / n, database_url=f"{base}/{n}") for n in names]
    try:
        sim = _sim()
        for s in settings:
            write_simulated_photometry(sim, settings=s)
        a = normalize_all(settings=settings[0])
        b = normalize_all_distributed(n_workers=2, images_per_task=5, settings=settings[1])
        assert {k: b[k] for k in a} == a and a["dropped"] >= 1
        expected = _dump(settings[0])
        assert expected["source_metrics"] and expected["ese_candidates"]
        assert _dump(settings[1]) == expected
        with get_engine(settings[1]).begin() as conn:  # an interrupted run, own values
            conn.execute(text("UPDATE photometry SET normalized_flux_jy = 1.0 WHERE id % 3 = 0"))
            conn.execute(text("DELETE FROM source_metrics WHERE source_id < 'J1'"))
        assert _dump(settings[1]) != expected
        normalize_all_distributed(n_workers=1, settings=settings[1])
        assert _dump(settings[1]) == expected
    finally:
        for s in settings:
            dispose_engine(s)
        with admin.connect() as conn:
            for n in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)'))
        admin.dispose()


def test_an_image_measured_again_without_normalization_reads_null(db_settings):
    """Rows written again over a normalized image do not take its earlier factor."""
    from dsa110_contimg.database import photometry_insert
    from dsa110_contimg.variability.pipeline import on_photometry_written

    write_simulated_photometry(_sim(), settings=db_settings)
    normalize_all(settings=db_settings)
    engine = get_engine(db_settings)
    q = text(
        "SELECT data_id, catalog, source_id, ra_deg, dec_deg, flux_jy, flux_err_jy, mjd, "
        "normalized_flux_jy FROM photometry WHERE data_id = (SELECT min(data_id) FROM photometry)"
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    assert all(r["normalized_flux_jy"] is not None for r in rows)
    did = rows[0]["data_id"]
    photometry_insert(
        [{k: v for k, v in r.items() if k != "normalized_flux_jy"} | {"flux_jy": r["flux_jy"] * 2}
         for r in rows], settings=db_settings,
    )  # fmt: skip
    on_photometry_written(did, normalize=False, settings=db_settings)
    with engine.connect() as conn:
        got = conn.execute(q).all()
    assert len(got) == len(rows) and all(r.normalized_flux_jy is None for r in got)
    on_photometry_written(did, normalize=True, settings=db_settings)
    with engine.connect() as conn:
        got = conn.execute(q).all()
    assert all(r.normalized_flux_jy is not None for r in got)


def test_the_shared_expressions_are_the_views():
    """Readers of the base tables (database.normalized) compute what the view computes."""
    import importlib.util
    from pathlib import Path

    import dsa110_contimg.database.migrations.versions as versions
    from dsa110_contimg.database.normalized import factors_join, normalized_columns

    path = Path(versions.__path__[0]) / "0020_normalization_factors.py"
    spec = importlib.util.spec_from_file_location("m0020", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for dialect in ("sqlite", "postgresql"):
        view = mod.view_sql(dialect)
        nf, ne = normalized_columns(dialect)
        assert f"{nf} AS normalized_flux_jy" in view
        assert f"{ne} AS normalized_flux_err_jy" in view
        assert view.endswith(factors_join())


def test_downgrade_writes_the_values_back_into_the_rows(db_settings):
    """Below 0020 the rows hold the normalized values again: the same ones, to the bit."""
    from alembic import command

    from dsa110_contimg.database.migrate import alembic_config

    write_simulated_photometry(_sim(), settings=db_settings)
    normalize_all(settings=db_settings)
    q = text(
        "SELECT data_id, catalog, source_id, normalized_flux_jy, normalized_flux_err_jy "
        "FROM photometry ORDER BY data_id, catalog, source_id"
    )
    engine = get_engine(db_settings)
    with engine.connect() as conn:
        before = [tuple(map(str, r[:3])) + (_hex(r[3]), _hex(r[4])) for r in conn.execute(q)]
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0016")
    with engine.connect() as conn:
        after = [tuple(map(str, r[:3])) + (_hex(r[3]), _hex(r[4])) for r in conn.execute(q)]
        own = conn.execute(
            text("SELECT count(normalized_flux_jy) FROM photometry_rows")
        ).scalar_one()
    assert after == before and own == sum(b[3] is not None for b in before) > 0


def test_light_curves_read_the_views_normalized_values(db_settings):
    """read_lightcurve (base tables, database.normalized) == the view, point for point."""
    from dsa110_contimg.database.lightcurves import read_lightcurve

    write_simulated_photometry(_sim(), settings=db_settings)
    normalize_all(settings=db_settings)
    engine = get_engine(db_settings)
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT DISTINCT catalog, source_id FROM photometry")).all()
    n = 0
    for cat, sid in keys:
        pts = read_lightcurve(engine, cat, sid)
        with engine.connect() as conn:
            view = dict(
                (r[0], (_hex(r[1]), _hex(r[2])))
                for r in conn.execute(
                    text(
                        "SELECT data_id, normalized_flux_jy, normalized_flux_err_jy FROM "
                        "photometry WHERE catalog = :c AND source_id = :s"
                    ),
                    {"c": cat, "s": sid},
                )
            )
        got = {
            d: (_hex(a), _hex(b))
            for d, a, b in zip(pts.image, pts.normalized_flux, pts.normalized_err, strict=True)
        }
        assert got == view
        n += sum(v[0] is not None for v in got.values())
    assert n > 0


@pytest.mark.postgres
def test_dask_reads_the_products_once_per_pass_not_per_block(tmp_path, postgres_url, monkeypatch):
    """The metric blocks join the products scattered by the client, read once per pass."""
    distributed = pytest.importorskip("distributed")
    from dsa110_contimg.database import metric_blocks as mb
    from dsa110_contimg.variability.pipeline import distributed as dist
    from dsa110_contimg.variability.pipeline import normalize_all_distributed

    s = make_settings(tmp_path / "pg", database_url=postgres_url)
    write_simulated_photometry(_sim(), settings=s)
    reads: list[str] = []
    passes: list[int] = []
    fetch, drop = mb.fetch_raw, dist.drop_variable_references

    def counting(conn, sql, params=(), **kw):
        if "FROM photometry_products" in sql:
            reads.append(sql)
        return fetch(conn, sql, params, **kw)

    def dropping(conn, settings):  # called once at the end of each pass
        passes.append(1)
        return drop(conn, settings)

    monkeypatch.setattr(mb, "fetch_raw", counting)  # the tasks run in this process
    monkeypatch.setattr(dist, "drop_variable_references", dropping)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        out = normalize_all_distributed(
            scheduler=cluster.scheduler_address, images_per_task=6, sources_per_task=2, settings=s
        )
    with get_engine(s).connect() as conn:
        n_sources = conn.execute(text("SELECT count(*) FROM photometry_sources")).scalar_one()
    assert out["dropped"] >= 1 and len(passes) >= 2
    assert n_sources >= 12  # at least 6 metric blocks in the first pass
    assert len(reads) == len(passes)  # not once per metric block
    dispose_engine(s)
