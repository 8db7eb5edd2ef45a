"""The full chain in bounded mode: UVH5 groups -> stream -> WSClean images -> mosaic -> photometry.

Two consecutive simulated drift-scan groups (309 s apart) are streamed by ``run_pipeline``
(streamer, photometry worker, mosaic orchestrator with 2-image mosaics), with real WSClean and
a real SQLite database.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.time import Time, TimeDelta
from sqlalchemy import select

from dsa110_contimg.catalog import ingest_table
from dsa110_contimg.conversion.streaming import StreamOptions, run_pipeline
from dsa110_contimg.database import get_data, get_engine, get_image
from dsa110_contimg.database.mosaics import get_mosaic, list_mosaic_groups
from dsa110_contimg.database.tables.products import photometry
from dsa110_contimg.simulation import group_pointing, make_catalog, make_uvh5_group
from tests.conftest import make_settings

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning")]

START = "2025-01-15T12:00:00"
CATALOG = "simsky"


def test_stream_to_mosaic_photometry(tmp_path):
    import shutil

    if shutil.which("wsclean") is None:
        pytest.skip("wsclean is not installed (apt-get install wsclean)")
    settings = make_settings(
        tmp_path / "state",
        imaging={"field_of_view_deg": 2.4, "cell_fraction": 1 / 6},
        stream={"group_timeout_seconds": 0.0, "file_settle_seconds": 0.0},
        mosaic={"images_per_mosaic": 2, "overlap": 0, "min_images": 2,
                "output_dir": str(tmp_path / "mosaics")},
    )
    second = (Time(START, scale="utc") + TimeDelta(309.0, format="sec")).isot[:19]
    ra1, dec = group_pointing(START, 37.0)
    ra2, _ = group_pointing(second, 37.0)
    sky = make_catalog(n_sources=25, center=(0.5 * (ra1 + ra2), dec), radius_deg=1.2,
                       min_flux_mjy=20.0, seed=12)
    ingest_table(CATALOG, sky, settings=settings)
    sky["flux_jy"] = np.asarray(sky["flux_mjy"]) / 1000.0
    sky["spectral_index"] = -0.7
    for i, t in enumerate((START, second)):
        make_uvh5_group(tmp_path / "in", start_time=t, dec_deg=37.0, sources=sky,
                        n_channels_per_subband=4, seed=i + 1)
    options = StreamOptions(enable_photometry=True, photometry_catalog=CATALOG,
                            photometry_normalize=False)
    result = run_pipeline(tmp_path / "in", tmp_path / "out", options=options,
                          settings=settings, once=True)

    images = [g.data_id for g in result.groups if g.status == "completed"]
    assert len(images) == 2
    (group,) = list_mosaic_groups(settings=settings)
    assert result.mosaic_groups == [group.id]
    assert group.status == "built" and group.member_data_ids == tuple(images)
    mosaic = get_mosaic(group.mosaic_data_id, settings=settings)
    assert mosaic.member_data_ids == tuple(images)
    rec = get_image(group.mosaic_data_id, settings=settings)
    assert rec.kind == "mosaic"
    first, last = (get_image(i, settings=settings) for i in images)
    assert rec.mjd_mid == pytest.approx(0.5 * (first.mjd_start + last.mjd_end), abs=1e-6)

    reg = get_data(group.mosaic_data_id, settings=settings)
    assert reg.photometry_job_id == group.photometry_job_id is not None
    assert reg.photometry_status == "completed"
    with get_engine(settings).connect() as conn:
        rows = conn.execute(
            select(photometry).where(photometry.c.data_id == group.mosaic_data_id)
        ).mappings().all()
        image_rows = conn.execute(
            select(photometry).where(photometry.c.data_id.in_(images))
        ).mappings().all()
    assert rows and all(r["mjd"] == pytest.approx(rec.mjd_mid, abs=1e-9) for r in rows)
    assert all(r["job_id"] == group.photometry_job_id for r in rows)
    # bright sources: the mosaic agrees with the mean of its images, and is less noisy
    by_image: dict[str, list[float]] = {}
    for r in image_rows:
        if r["snr"] is not None and r["snr"] > 30 and not r["flags"]:
            by_image.setdefault(r["source_id"], []).append(r["flux_jy"])
    compared = 0
    for r in rows:
        vals = by_image.get(r["source_id"], [])
        if len(vals) == 2 and r["snr"] is not None and r["snr"] > 30 and not r["flags"]:
            assert r["flux_jy"] == pytest.approx(np.mean(vals), rel=0.05)
            compared += 1
    assert compared >= 3
