"""A small real pipeline run shared by the API and web tests.

Ten epochs of one simulated field (gain errors of a few per cent per epoch), registered,
measured by a batch photometry job on the catalog positions, normalized against six stable
reference sources; one source dips by 40 % over the last four epochs (an ESE-like event),
which the moderate preset flags. One extra image is registered as a mosaic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.time import Time, TimeDelta

from dsa110_contimg.catalog.ids import position_source_ids
from dsa110_contimg.config import Settings

CENTER = (180.0, 55.0)
N_EPOCHS = 10
CATALOG = "nvss"
DIP_EPOCHS = range(6, 10)
DIP_DEPTH = 0.4


@dataclass
class Pipeline:
    settings: Settings
    data_root: Path
    truth: list[dict]  # the catalog: source_id, ra_deg, dec_deg, flux_jy
    images: list[dict] = field(default_factory=list)  # data_id, path, mjd, gain
    mosaic_id: str | None = None
    job_ids: list[int] = field(default_factory=list)
    dipper: str = ""
    references: list[str] = field(default_factory=list)


def pipeline_settings(
    state_dir: Path, data_root: Path, database_url: str | None = None, **api
) -> Settings:
    return Settings(
        state_dir=state_dir,
        database_url=database_url,
        api={"data_roots": [data_root], **api},
        normalize={
            "baseline_epochs": 3,
            "min_references": 3,
            "reference_min_epochs": 4,
        },
    )


def _catalog() -> list[dict]:
    rng = np.random.default_rng(42)
    n = 12
    # sources on a ring + jitter, all well inside a 256 x 256 x 3" image
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(-0.1, 0.1, n)
    r_deg = rng.uniform(0.03, 0.08, n)
    dec = CENTER[1] + r_deg * np.sin(ang)
    ra = CENTER[0] + r_deg * np.cos(ang) / np.cos(np.radians(CENTER[1]))
    flux = np.array([0.20, 0.15, 0.12, 0.10, 0.09, 0.08, 0.10, 0.06, 0.05, 0.04, 0.03, 0.02])
    ids = position_source_ids(ra, dec)
    return [
        {"source_id": s, "ra_deg": float(a), "dec_deg": float(d), "flux_jy": float(f)}
        for s, a, d, f in zip(ids, ra, dec, flux, strict=True)
    ]


def build_pipeline(settings: Settings, data_root: Path) -> Pipeline:
    from dsa110_contimg.database import register_image
    from dsa110_contimg.jobs import create_batch_photometry_job, run_batch_photometry_job
    from dsa110_contimg.photometry.normalize import normalize_all, set_references
    from dsa110_contimg.simulation import make_fits_image

    truth = _catalog()
    p = Pipeline(settings=settings, data_root=data_root, truth=truth)
    p.references = [t["source_id"] for t in truth[:6]]
    p.dipper = truth[6]["source_id"]
    rng = np.random.default_rng(7)
    t0 = Time("2025-03-01T06:00:00", scale="utc")
    img_dir = data_root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    for i in range(N_EPOCHS):
        gain = float(1.0 + rng.normal(0, 0.03))
        start = t0 + TimeDelta(i, format="jd")  # one transit per day
        end = start + TimeDelta(309, format="sec")
        srcs = []
        for t in truth:
            f = t["flux_jy"] * gain
            if t["source_id"] == p.dipper and i in DIP_EPOCHS:
                f *= 1 - DIP_DEPTH
            srcs.append((t["ra_deg"], t["dec_deg"], f))
        path = img_dir / f"field-{i:02d}-image-pb.fits"
        make_fits_image(
            path,
            shape=(256, 256),
            center=CENTER,
            sources=srcs,
            noise_jy=1e-3,
            seed=100 + i,
            date_obs=start.isot,
            date_end=end.isot,
        )
        data_id = register_image(path, settings=settings)
        p.images.append(
            {"data_id": data_id, "path": path, "mjd": (start.mjd + end.mjd) / 2, "gain": gain}
        )
    coords = [
        {
            "catalog": CATALOG,
            "source_id": t["source_id"],
            "ra_deg": t["ra_deg"],
            "dec_deg": t["dec_deg"],
            "flux_mjy": t["flux_jy"] * 1e3,
        }
        for t in truth
    ]
    set_references([(CATALOG, s) for s in p.references], settings=settings)
    job = create_batch_photometry_job([str(x["path"]) for x in p.images], coords, settings=settings)
    run_batch_photometry_job(job, settings=settings)
    p.job_ids.append(int(job))
    normalize_all(settings=settings)
    # a "mosaic": one more simulated image registered with kind="mosaic", measured too
    mpath = data_root / "mosaics" / "field-mosaic.fits"
    mpath.parent.mkdir(parents=True, exist_ok=True)
    make_fits_image(
        mpath,
        shape=(256, 256),
        center=CENTER,
        sources=[(t["ra_deg"], t["dec_deg"], t["flux_jy"]) for t in truth],
        noise_jy=5e-4,
        seed=999,
        date_obs=t0.isot,
        date_end=(t0 + TimeDelta(4, format="jd")).isot,
    )
    p.mosaic_id = register_image(mpath, kind="mosaic", settings=settings)
    job = create_batch_photometry_job([str(mpath)], coords, data_id=p.mosaic_id, settings=settings)
    run_batch_photometry_job(job, settings=settings)
    p.job_ids.append(int(job))
    return p
