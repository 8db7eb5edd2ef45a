"""Several finished images folded in one pass (``on_photometry_written_many``, issue 17).

The batch must store what one call per image stores: the same metric rows, per-source rows,
factors and ESE candidates, to the last bit, on both backends. The survey's first epochs are
added one by one in both databases (the references get their baselines there); the rest, a
new epoch's worth of images with an injected dip among them, one by one in one database and
as one batch in the other.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from dsa110_contimg.database import dispose_engine, get_engine
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry
from dsa110_contimg.variability.pipeline import (
    get_lightcurve,
    on_photometry_written,
    on_photometry_written_many,
    recompute_metrics,
)
from tests.conftest import make_settings

# every stored column but the bookkeeping times
_TABLES = {
    "source_metrics": "catalog, source_id, series",
    "sources": "catalog, source_id",
    "ese_candidates": "catalog, source_id, series",
    "image_normalization": "data_id",
}
_SKIP = {"updated_at", "created_at", "computed_at", "id"}


def _snapshot(settings) -> dict:
    out = {}
    with get_engine(settings).connect() as conn:
        for table, order in _TABLES.items():
            res = conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))
            cols = [c for c in res.keys() if c not in _SKIP]
            out[table] = [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in (r[c] for c in cols))
                for r in res.mappings()
            ]
        out["photometry"] = conn.execute(
            text("SELECT data_id, source_id, normalized_flux_jy, normalized_flux_err_jy "
                 "FROM photometry ORDER BY data_id, source_id")  # fmt: skip
        ).all()
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_databases(request, tmp_path):
    """Two empty databases of one backend (settings for each)."""
    if request.param == "sqlite":
        pair = [make_settings(tmp_path / "one"), make_settings(tmp_path / "batch")]
    else:
        first = request.getfixturevalue("postgres_url")
        admin = request.getfixturevalue("postgres_admin_url")
        from sqlalchemy import create_engine

        name = first.rsplit("/", 1)[1] + "_b"
        eng = create_engine(admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        pair = [
            make_settings(tmp_path / "one", database_url=first),
            make_settings(tmp_path / "batch", database_url=first.rsplit("/", 1)[0] + "/" + name),
        ]
    yield pair
    for s in pair:
        dispose_engine(s)
    if request.param == "postgresql":
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()


def _survey():
    # 14 epochs of 2 images; the dip (40 %, 3 epochs) starts in the part added as a batch
    return simulate_lightcurves(
        n_epochs=14,
        images_per_epoch=2,
        n_references=8,
        targets=[{"snr": 80}, {"snr": 60, "dip_depth": 0.4, "dip_epochs": 3, "dip_start": 10}],
        seed=11,
    )


def test_a_batch_stores_what_one_call_per_image_stores(two_databases):
    one, batch = two_databases
    sim = _survey()
    first = 20  # 10 epochs one by one in both: the references' baselines are established
    for s in (one, batch):
        for i in range(first):
            write_simulated_photometry(sim, images=[i], settings=s)
            on_photometry_written(sim.data_ids[i], normalize=True, settings=s)
    rest = list(range(first, len(sim.data_ids)))
    for i in rest:
        write_simulated_photometry(sim, images=[i], settings=one)
        on_photometry_written(sim.data_ids[i], normalize=True, settings=one)
    write_simulated_photometry(sim, images=rest, settings=batch)
    out = on_photometry_written_many(
        [sim.data_ids[i] for i in rest], normalize=True, settings=batch
    )
    assert sorted(out["normalizations"]) == sorted(str(sim.data_ids[i]) for i in rest)
    assert all(r["status"] == "normalized" for r in out["normalizations"].values())
    a, b = _snapshot(one), _snapshot(batch)
    for table in a:
        assert a[table] == b[table], table
    # the injected dip is found either way (the test would pass on two empty databases)
    assert [r[1] for r in b["ese_candidates"]] == [str(sim.source_ids[-1])]


def test_a_batch_with_a_point_out_of_order_recomputes_it(db_settings):
    """An image older than a source's last point makes it stale: recomputed from its series."""
    sim = _survey()
    order = list(range(len(sim.data_ids)))
    for i in order[:20]:
        write_simulated_photometry(sim, images=[i], settings=db_settings)
        on_photometry_written(sim.data_ids[i], normalize=True, settings=db_settings)
    late = order[20:]
    late = late[2:] + late[:2]  # the first epoch of the batch arrives last
    write_simulated_photometry(sim, images=late, settings=db_settings)
    on_photometry_written_many([sim.data_ids[i] for i in late], normalize=True,
                               settings=db_settings)  # fmt: skip
    got = _snapshot(db_settings)["source_metrics"]
    recompute_metrics(settings=db_settings)  # the exact rebuild from the stored series
    want = _snapshot(db_settings)["source_metrics"]
    assert len(got) == len(want) > 0
    for g, w in zip(got, want, strict=True):
        assert g[:3] == w[:3]
        for x, y in zip(g[3:], w[3:], strict=True):
            if isinstance(x, float):
                assert x == pytest.approx(y, rel=1e-9, abs=1e-12, nan_ok=True)
    lc = get_lightcurve("nvss", str(sim.source_ids[-1]), series="epoch", settings=db_settings)
    assert len(lc) == 14 and np.all(np.diff(lc["mjd"]) > 0)


def test_a_batch_of_nothing_or_of_unknown_items_does_nothing(settings):
    assert on_photometry_written_many([], normalize=True, settings=settings)["metrics"] == 0
    out = on_photometry_written_many(["no-such-image"], normalize=True, settings=settings)
    assert out["normalizations"] == {} and out["metrics"] == 0
