"""Uncalibrated and superseded images never enter references, variability metrics or ESEs.

Simulated light curves (stable references, one source with a known 20% dip) on a real database.
Three images are spoiled the way an uncalibrated image is (every flux x0.3: raw gains): two are
recorded ``uncalibrated``, one is superseded by its re-calibrated product (the true fluxes). If any
spoiled point were used, the baselines would be off and every source would dip; with the
exclusion the result equals the clean run's: the one injected dip, nothing else.
"""

import time

import numpy as np
import pytest
from sqlalchemy import select, update

from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.database.caltables import set_image_calibration, supersede_product
from dsa110_contimg.database.products import insert_photometry_rows
from dsa110_contimg.database.tables import data_registry, images, photometry
from dsa110_contimg.photometry.ese import list_candidates
from dsa110_contimg.photometry.normalize import get_image_normalization, normalize_all
from dsa110_contimg.photometry.variability import get_lightcurve, get_metrics, recompute_metrics
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry

DIP = {"snr": 50.0, "dip_depth": 0.2, "dip_epochs": 6, "dip_start": 16}
UNCAL = (4, 18)  # 18 is inside the dip
SUPERSEDED = 8


def _recalibrated_copy(settings, data_id: str) -> str:
    """Register the re-calibrated product of ``data_id``: the same rows, true fluxes."""
    new = f"{data_id}-recal"
    now = time.time()
    with write_transaction(get_engine(settings)) as conn:
        img = conn.execute(select(images).where(images.c.data_id == data_id)).mappings().one()
        conn.execute(
            images.insert().values(
                **{k: v for k, v in img.items() if k not in ("id", "data_id", "path")},
                data_id=new,
                path=f"sim://{new}",
            )
        )
        conn.execute(
            data_registry.insert().values(
                data_id=new,
                data_type="image",
                path=f"sim://{new}",
                status="registered",
                qa_status="passed",
                created_at=now,
                updated_at=now,
            )
        )
        rows = conn.execute(select(photometry).where(photometry.c.data_id == data_id)).mappings()
        cols = (
            "catalog",
            "source_id",
            "ra_deg",
            "dec_deg",
            "catalog_flux_mjy",
            "flux_jy",
            "flux_err_jy",
            "local_rms_jy",
            "snr",
            "flags",
            "mjd",
        )
        batch = {c: [] for c in cols}
        for r in rows:
            for c in cols:
                batch[c].append(r[c])
        insert_photometry_rows(conn, {"data_id": new, **batch})
    return new


def _spoil(settings, data_ids):
    with write_transaction(get_engine(settings)) as conn:
        conn.execute(
            update(photometry)
            .where(photometry.c.data_id.in_(list(data_ids)))
            .values(flux_jy=photometry.c.flux_jy * 0.3)
        )


def test_uncalibrated_and_superseded_images_are_left_out(db_settings):
    db_settings.normalize.metric_series = ["image", "epoch"]  # image metrics opt-in
    sim = simulate_lightcurves(
        n_epochs=24,
        n_references=8,
        reference_snr=(100, 500),
        targets=[{"snr": 60.0}, DIP],
        seed=11,
    )
    ids = write_simulated_photometry(sim, settings=db_settings)
    new = _recalibrated_copy(db_settings, ids[SUPERSEDED])
    _spoil(db_settings, [ids[i] for i in (*UNCAL, SUPERSEDED)])
    for i in UNCAL:
        set_image_calibration(ids[i], "uncalibrated", settings=db_settings)
    set_image_calibration(ids[SUPERSEDED], "uncalibrated", settings=db_settings)
    supersede_product(ids[SUPERSEDED], new, settings=db_settings)
    normalize_all(settings=db_settings)
    recompute_metrics(settings=db_settings)

    for i in UNCAL:
        rec = get_image_normalization(ids[i], settings=db_settings)
        assert (rec.status, rec.reason) == ("not_normalizable", "image is uncalibrated")
    rec = get_image_normalization(ids[SUPERSEDED], settings=db_settings)
    assert rec.status == "not_normalizable" and rec.reason == f"image is superseded by {new}"
    assert get_image_normalization(new, settings=db_settings).status == "normalized"

    # ESEs: only the injected dip (x0.3 points would make every source "dip")
    cands = list_candidates(preset="moderate", settings=db_settings)
    assert list(cands["source_id"]) == [sim.source_ids[sim.dips[0]["source"]]]
    # variability: 24 images - 2 uncalibrated; the superseded one counts once, as its replacement
    for sid in sim.source_ids:
        (m,) = [x for x in get_metrics("nvss", sid, settings=db_settings) if x["series"] == "image"]
        assert m["n_points"] == 24 - len(UNCAL)
    # the light curve shows the replacement, not the superseded point
    lc = get_lightcurve("nvss", sim.source_ids[0], series="image", settings=db_settings)
    assert new in set(lc["image"]) and ids[SUPERSEDED] not in set(lc["image"])
    ref = np.asarray(lc["normalized_flux_jy"], dtype=float)
    uncal_pts = np.isin(np.asarray(lc["image"]), [ids[i] for i in UNCAL])
    assert np.all(np.isnan(ref[uncal_pts]))  # measured, never normalized
    assert np.nanstd(ref[~uncal_pts]) / np.nanmean(ref[~uncal_pts]) < 0.05
    assert pytest.approx(1.0, abs=0.05) == np.nanmedian(ref[~uncal_pts]) / sim.baseline_flux_jy[0]
