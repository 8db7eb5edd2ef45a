"""The Dask re-normalization equals the serial one, bit for bit, and converges after a restart."""

import numpy as np
import pytest
from sqlalchemy import text

from dsa110_contimg.cli import main
from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry
from dsa110_contimg.variability.pipeline import normalize_all, normalize_all_distributed

from ..conftest import make_settings

pytest.importorskip("distributed")

WALL = {"updated_at", "measured_at", "created_at", "established_at", "id"}
TABLES = ("photometry", "image_normalization", "reference_sources", "source_metrics",
          "ese_candidates")  # fmt: skip


def _dump(settings) -> dict:
    out = {}
    with get_engine(settings).connect() as conn:
        for t in TABLES:
            rows = conn.execute(text(f"SELECT * FROM {t}")).mappings().all()
            recs = [
                tuple(
                    (c, v.hex() if isinstance(v, float) else bytes(v).hex()
                     if isinstance(v, bytes | memoryview) else v)
                    for c, v in r.items() if c not in WALL
                )
                for r in rows
            ]  # fmt: skip
            out[t] = sorted(recs, key=str)
    return out


@pytest.fixture(scope="module")
def sim():
    sim = simulate_lightcurves(
        n_epochs=28,
        n_references=10,
        targets=[{"snr": 80}, {"snr": 50, "dip_depth": 0.3, "dip_epochs": 8, "dip_start": 14}],
        seed=7,
    )
    # reference 0 varies by +-15 %: it is dropped and the images normalized again without it
    sim.flux_jy[0, 0, :] *= 1 + 0.15 * np.sin(np.arange(28) / 3.0)
    return sim


def _db(tmp_path, name, sim):
    s = make_settings(tmp_path / name)
    write_simulated_photometry(sim, settings=s)
    return s


def test_dask_equals_serial_and_converges_after_a_restart(tmp_path, sim):
    serial = _db(tmp_path, "serial", sim)
    dask = _db(tmp_path, "dask", sim)
    a = normalize_all(settings=serial)
    b = normalize_all_distributed(n_workers=2, images_per_task=5, settings=dask)
    assert a["dropped"] >= 1 and b["tasks"] > 2
    assert {k: b[k] for k in a} == a
    expected = _dump(serial)
    assert expected["ese_candidates"] and expected["source_metrics"]
    assert _dump(dask) == expected
    # an interrupted run leaves some blocks old and some new: running again converges
    with write_transaction(get_engine(dask)) as conn:
        conn.execute(text("UPDATE photometry SET normalized_flux_jy = 1.0 WHERE id % 3 = 0"))
        conn.execute(text("DELETE FROM source_metrics WHERE source_id < 'J1'"))
        conn.execute(text("UPDATE image_normalization SET factor = 2.0"))
    assert _dump(dask) != expected
    normalize_all_distributed(n_workers=1, settings=dask)
    assert _dump(dask) == expected


def test_command_line_runs_on_a_local_cluster(tmp_path, sim):
    s = _db(tmp_path, "cli", sim)
    base = ["--state-dir", str(tmp_path / "cli")]
    assert main([*base, "photometry", "normalize", "--all", "--dask-workers", "1"]) == 0
    with get_engine(s).connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM image_normalization")).scalar_one()
    assert n == len(sim.data_ids)
    assert main([*base, "photometry", "normalize", "--image", "x", "--dask-workers", "1"]) != 0
