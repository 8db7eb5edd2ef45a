"""Seed phases 1-6 end to end by their names: images arrive, photometry is triggered, run,
normalized, and the registry and light curves follow, with nobody lifting a finger.

Twelve daily images of one field with 5% gain errors; the references are the eight bright
sources; the trigger queues one job per image (``normalize=True``), the jobs run, every image is
normalized, ``normalize_measurement`` reproduces the stored normalized fluxes and the light
curve's scatter drops.
"""

from __future__ import annotations

import numpy as np

from dsa110_contimg.api.job_adapters import run_batch_photometry_job
from dsa110_contimg.conversion.streaming.streaming_converter import trigger_photometry_for_image
from dsa110_contimg.database import get_image
from dsa110_contimg.database.data_registry import get_photometry_status
from dsa110_contimg.database.products import photometry_for_data
from dsa110_contimg.photometry import get_lightcurve, normalize_measurement
from dsa110_contimg.photometry.normalize import set_references

from .seed import make_seed_field


def test_images_to_normalized_light_curves(tmp_path, settings):
    f = make_seed_field(tmp_path, settings, 12)
    ids = list(f.catalog["source_id"])
    set_references([("nvss", s) for s in ids[:-1]], settings=settings)
    for p in f.paths:  # as the stream does: one job per new image
        job_id = trigger_photometry_for_image(p, None, settings, normalize=True)
        run_batch_photometry_job(job_id, settings=settings)
    for p in f.paths:
        data_id = get_image(p, settings=settings).data_id
        assert get_photometry_status(data_id, settings=settings)["status"] == "completed"
        for r in photometry_for_data(data_id, settings=settings):
            if r["source_id"] == ids[-1]:
                nf, ne = normalize_measurement(r["flux_jy"], r["flux_err_jy"], data_id,
                                               settings=settings)  # fmt: skip
                assert np.isclose(nf, r["normalized_flux_jy"], rtol=1e-9)
    lc = get_lightcurve("nvss", ids[-1], series="epoch", settings=settings)
    assert len(lc) == 12
    raw = np.std(lc["flux_jy"]) / np.mean(lc["flux_jy"])
    norm = np.std(lc["normalized_flux_jy"]) / np.mean(lc["normalized_flux_jy"])
    # 5% gain scatter, 1% noise on the 100 mJy source: normalization removes most of it
    assert norm < raw / 2, (raw, norm)
