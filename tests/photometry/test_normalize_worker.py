"""End to end: FITS images with per-epoch gain errors -> batch job (normalize=True) -> worker.

The worker calls ``on_photometry_written`` after each item: the first images wait for
baselines, the tenth establishes them and back-fills the earlier ones.
"""

import numpy as np

from dsa110_contimg.catalog.ids import position_source_ids
from dsa110_contimg.jobs import Worker, create_batch_photometry_job
from dsa110_contimg.photometry.normalize import get_image_normalization, set_references
from dsa110_contimg.photometry.variability import get_lightcurve
from dsa110_contimg.simulation import make_fits_image


def test_worker_normalizes_real_images(settings, tmp_path):
    rng = np.random.default_rng(3)
    center = (180.0, 55.0)
    n_src = 9
    ra = center[0] + rng.uniform(-0.05, 0.05, n_src) / np.cos(np.radians(center[1]))
    dec = center[1] + rng.uniform(-0.05, 0.05, n_src)
    flux = np.r_[rng.uniform(0.2, 0.5, n_src - 1), 0.1]
    ids = position_source_ids(ra, dec)
    set_references([("nvss", s) for s in ids[:-1]], settings=settings)
    sources = [
        {"source_id": s, "catalog": "nvss", "ra_deg": a, "dec_deg": d, "flux_mjy": f * 1e3}
        for s, a, d, f in zip(ids, ra, dec, flux, strict=True)
    ]
    gains = 1 + 0.05 * rng.standard_normal(12)
    paths = []
    for k, g in enumerate(gains):
        p = tmp_path / f"img{k:02d}-image-pb.fits"
        make_fits_image(
            p, shape=(192, 192), center=center, sources=list(zip(ra, dec, g * flux, strict=True)),
            noise_jy=1e-3, seed=k, date_obs=f"2025-01-{k + 1:02d}T00:00:00",
            date_end=f"2025-01-{k + 1:02d}T00:05:00",
        )  # fmt: skip
        paths.append(p)
    for p in paths:  # one job per image, in time order, as the stream submits them
        create_batch_photometry_job([p], sources, normalize=True, settings=settings)
    Worker(settings).run(once=True)
    from dsa110_contimg.database import get_image

    recs = [
        get_image_normalization(get_image(p, settings=settings).data_id, settings=settings)
        for p in paths
    ]
    assert all(r is not None and r.status == "normalized" for r in recs), recs
    factors = np.array([r.factor for r in recs])
    # the factors follow the injected gains up to one common scale
    assert np.std(factors / gains) / np.mean(factors / gains) < 0.01
    lc = get_lightcurve("nvss", ids[-1], series="epoch", settings=settings)
    assert len(lc) == 12
    raw = np.std(lc["flux_jy"]) / np.mean(lc["flux_jy"])
    norm = np.std(lc["normalized_flux_jy"]) / np.mean(lc["normalized_flux_jy"])
    assert norm < raw / 2
