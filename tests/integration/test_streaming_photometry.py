"""Seed phase 2 by its names: the streaming converter triggers photometry of each new image.

``trigger_photometry_for_image`` (``conversion.streaming.streaming_converter``) queries the
catalog sources on the image and queues the batch job; the job runs through
``api.job_adapters.run_batch_photometry_job``; its status reaches the registry
(``database.data_registry``). The full stream with WSClean is tested in
``tests/conversion/test_stream_e2e.py``.
"""

from __future__ import annotations

import numpy as np

from dsa110_contimg.api.job_adapters import run_batch_photometry_job
from dsa110_contimg.conversion.streaming.streaming_converter import trigger_photometry_for_image
from dsa110_contimg.database import get_image
from dsa110_contimg.database.data_registry import get_photometry_status
from dsa110_contimg.database.products import photometry_for_data
from dsa110_contimg.jobs import get_job, job_items

from .seed import make_seed_field


def test_trigger_runs_and_reaches_the_registry(tmp_path, settings):
    f = make_seed_field(tmp_path, settings, 1)
    path = f.paths[0]
    job_id = trigger_photometry_for_image(path, None, settings)
    assert job_id is not None
    data_id = get_image(path, settings=settings).data_id
    assert get_photometry_status(data_id, settings=settings) == {
        "status": "pending",
        "job_id": job_id,
    }
    stats = run_batch_photometry_job(job_id, settings=settings)
    assert (stats.completed, stats.failed) == (1, 0)
    assert get_photometry_status(data_id, settings=settings) == {
        "status": "completed",
        "job_id": job_id,
    }
    (item,) = job_items(job_id, settings=settings)
    assert (
        item.rows_written == len(f.catalog)
        and get_job(job_id, settings=settings).status == "completed"
    )
    rows = photometry_for_data(data_id, settings=settings)
    flux = f.catalog["flux_mjy"] / 1e3 * f.gains[0]
    truth = dict(zip(f.catalog["source_id"], flux, strict=True))
    pull = [(r["flux_jy"] - truth[r["source_id"]]) / r["flux_err_jy"] for r in rows]
    assert len(pull) == len(truth) and np.all(np.abs(pull) < 5)  # 5 sigma, 9 sources
