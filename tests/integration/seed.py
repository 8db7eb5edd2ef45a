"""A small field shared by the seed-named tests: an ingested catalog and images of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsa110_contimg.catalog import ingest_table
from dsa110_contimg.simulation import make_fits_image
from dsa110_contimg.simulation.catalogs import make_catalog

CENTER = (180.0, 55.0)


@dataclass
class SeedField:
    catalog: object  # astropy Table as ingested as "nvss"
    paths: list[Path]
    gains: np.ndarray


def make_seed_field(tmp_path: Path, settings, n_images: int, *, seed: int = 3) -> SeedField:
    """``n_images`` daily images of a catalog of 9 bright sources (5% gain errors per image).

    The catalog (fluxes 200-500 mJy, one of 100 mJy) is ingested as ``nvss``; each image
    holds every source at ``gain x catalog flux`` with 1 mJy noise.
    """
    rng = np.random.default_rng(seed)
    cat = make_catalog(9, center=CENTER, radius_deg=0.06, min_flux_mjy=200.0,
                       max_flux_mjy=500.0, seed=seed)  # fmt: skip
    cat["flux_mjy"][-1] = 100.0
    ingest_table("nvss", cat, settings=settings)
    gains = 1 + 0.05 * rng.standard_normal(n_images)
    paths = []
    for k, g in enumerate(gains):
        p = tmp_path / f"img{k:02d}-image-pb.fits"
        srcs = list(zip(cat["ra_deg"], cat["dec_deg"], g * cat["flux_mjy"] / 1e3, strict=True))
        make_fits_image(
            p, shape=(192, 192), center=CENTER, sources=srcs, noise_jy=1e-3, seed=k,
            date_obs=f"2025-01-{k + 1:02d}T00:00:00", date_end=f"2025-01-{k + 1:02d}T00:05:00",
        )  # fmt: skip
        paths.append(p)
    return SeedField(cat, paths, gains)
