"""Seed phase 3 by its names: a mosaic's sources are queried, measured and registered."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.api.batch_jobs import create_batch_photometry_job
from dsa110_contimg.api.job_adapters import run_batch_photometry_job
from dsa110_contimg.database.data_registry import get_photometry_status, link_photometry_to_data
from dsa110_contimg.database.products import photometry_for_data
from dsa110_contimg.errors import ContimgWarning
from dsa110_contimg.mosaic import build_mosaic
from dsa110_contimg.photometry.helpers import query_sources_for_mosaic

from .seed import make_seed_field


def test_mosaic_photometry(tmp_path, settings):
    f = make_seed_field(tmp_path, settings, 3)
    out = tmp_path / "mosaic.fits"
    with pytest.warns(ContimgWarning, match="no primary-beam image"):
        res = build_mosaic(f.paths, out, settings=settings)
    sources = query_sources_for_mosaic(out, "nvss", settings=settings)
    assert len(sources) == len(f.catalog)
    job_id = create_batch_photometry_job([out], sources, settings=settings)
    from dsa110_contimg.database import get_image

    data_id = get_image(out, settings=settings).data_id
    link_photometry_to_data(data_id, job_id, settings=settings)
    assert get_photometry_status(data_id, settings=settings)["status"] == "pending"
    run_batch_photometry_job(job_id, settings=settings)
    assert get_photometry_status(data_id, settings=settings) == {
        "status": "completed",
        "job_id": job_id,
    }
    rows = photometry_for_data(data_id, settings=settings)
    # the mosaic is the noise-weighted mean of the images: fluxes x mean gain (3 equal noises)
    flux = f.catalog["flux_mjy"] / 1e3 * np.mean(f.gains)
    truth = dict(zip(f.catalog["source_id"], flux, strict=True))
    pull = np.array([(r["flux_jy"] - truth[r["source_id"]]) / r["flux_err_jy"] for r in rows])
    assert len(pull) == len(truth) and np.all(np.abs(pull) < 5), pull
    del res
