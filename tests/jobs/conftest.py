"""Images and settings shared by the job tests (real FITS files, real database)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from dsa110_contimg.simulation import make_fits_image


@dataclass
class Field:
    paths: list[Path]
    truth: Table  # the same sources on every image

    @property
    def coords(self) -> list[tuple[float, float]]:
        ra, dec = self.truth["ra_deg"], self.truth["dec_deg"]
        return [(float(r), float(d)) for r, d in zip(ra, dec, strict=True)]


def make_field(directory: Path, n_images: int, *, n_sources: int = 12, shape=(128, 128)) -> Field:
    """n_images noisy images of one field with the same sources (different noise seeds)."""
    directory.mkdir(parents=True, exist_ok=True)
    truth = None
    paths = []
    for i in range(n_images):
        path = directory / f"img{i:03d}.fits"
        t = make_fits_image(
            path,
            shape=shape,
            sources=truth,
            n_sources=n_sources,
            noise_jy=1e-3,
            seed=100 + i,
            flux_range_jy=(0.02, 0.2),
            date_obs=f"2026-01-01T{i // 12:02d}:{(i % 12) * 5:02d}:00",
            date_end=f"2026-01-01T{i // 12:02d}:{(i % 12) * 5 + 4:02d}:59",
        )
        truth = t if truth is None else truth
        paths.append(path)
    return Field(paths, truth)


@pytest.fixture
def field(tmp_path) -> Field:
    return make_field(tmp_path / "images", 3)


@pytest.fixture
def jsettings(db_settings):
    """db_settings with quick retries."""
    db_settings.jobs.retry_backoff_seconds = 0.02
    db_settings.jobs.poll_seconds = 0.02
    return db_settings


def recovered(rows, truth) -> np.ndarray:
    """(measured - true) / error of each truth source, matched by position order."""
    flux = {
        (round(r["ra_deg"], 6), round(r["dec_deg"], 6)): (r["flux_jy"], r["flux_err_jy"])
        for r in rows
    }
    out = []
    for t in truth:
        f, e = flux[(round(float(t["ra_deg"]) % 360, 6), round(float(t["dec_deg"]), 6))]
        out.append((f - t["flux_jy"]) / e)
    return np.asarray(out)
