"""Registered images -> orchestrator -> mosaic -> photometry job -> worker -> rows.

The full stream (UVH5 -> WSClean -> images) in front of this is exercised in
``test_stream_chain.py``; here the images come from the shared pb-image factory so the chain
runs in seconds on SQLite and PostgreSQL.
"""

import numpy as np
import pytest
from astropy.table import Table
from sqlalchemy import select

from dsa110_contimg.catalog import ingest_table, position_source_ids
from dsa110_contimg.database import get_engine, get_photometry_status
from dsa110_contimg.database.mosaics import list_mosaic_groups
from dsa110_contimg.database.products import get_image, register_image
from dsa110_contimg.database.tables.products import photometry
from dsa110_contimg.jobs import get_job, run_batch_photometry_job
from dsa110_contimg.mosaic import MosaicOrchestrator
from dsa110_contimg.simulation.mosaic_inputs import make_pb_image_set
from tests.conftest import make_settings


def test_mosaic_photometry_chain(db_settings, tmp_path):
    settings = make_settings(db_settings.state_dir, database_url=db_settings.database_url,
                             mosaic={"images_per_mosaic": 3, "overlap": 1,
                                     "output_dir": str(tmp_path / "mosaics")})
    rng = np.random.default_rng(7)
    n = 12
    ra = rng.uniform(179.8, 180.7, n)
    dec = 55.0 + rng.uniform(-0.35, 0.35, n)
    flux = rng.uniform(0.2, 1.0, n)
    s = make_pb_image_set(tmp_path / "img", n_images=3, shape=(128, 128), ra_step_deg=0.25,
                          sources=Table({"ra_deg": ra, "dec_deg": dec, "flux_jy": flux}),
                          noise_jy=1e-3, seed=8)
    catalog = Table({"source_id": position_source_ids(ra, dec), "ra_deg": ra, "dec_deg": dec,
                     "flux_mjy": flux * 1e3})
    ingest_table("nvss", catalog, settings=settings)
    for p in s.pb_paths:
        register_image(p, settings=settings)

    orch = MosaicOrchestrator(settings, enable_photometry=True)
    (gid,) = orch.poll()
    (group,) = list_mosaic_groups(settings=settings)
    assert group.id == gid and group.status == "built" and group.photometry_job_id is not None
    job_id = group.photometry_job_id
    mosaic = get_image(group.mosaic_data_id, settings=settings)
    assert mosaic.kind == "mosaic"
    assert get_photometry_status(mosaic.data_id, settings=settings) == {
        "status": "pending", "job_id": job_id}

    run_batch_photometry_job(job_id, settings=settings)
    assert get_job(job_id, settings=settings).status == "completed"
    assert get_photometry_status(mosaic.data_id, settings=settings)["status"] == "completed"
    with get_engine(settings).connect() as conn:
        rows = conn.execute(
            select(photometry).where(photometry.c.data_id == mosaic.data_id)
        ).mappings().all()
    inside = {r["source_id"]: r for r in rows}
    assert len(inside) >= n - 2  # sources on the mosaic's footprint
    for r in rows:
        assert r["job_id"] == job_id and r["catalog"] == "nvss"
        # the mosaic's mid MJD (DATE-OBS of the first input, DATE-END of the last)
        assert r["mjd"] == pytest.approx(0.5 * (s.mjd_starts[0] + s.mjd_ends[-1]), abs=1e-7)
    ids = list(catalog["source_id"])
    compared = 0
    for sid, r in inside.items():
        true = flux[ids.index(sid)]
        if r["snr"] is not None and r["snr"] > 100 and not r["flags"]:
            assert r["flux_jy"] == pytest.approx(true, rel=0.01)
            compared += 1
    assert compared >= 6
    # the mosaic's photometry does not disturb the images' registry entries
    assert get_image(s.pb_paths[0], settings=settings).kind == "image"
