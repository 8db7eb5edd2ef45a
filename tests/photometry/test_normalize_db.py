"""Normalization through the database: hook, back-fill, re-runs, refusals, variable references."""

import math

import numpy as np
import pytest
from sqlalchemy import select, update

from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.database.tables import photometry
from dsa110_contimg.errors import NormalizationError, NotFoundError
from dsa110_contimg.photometry.normalize import (
    get_image_normalization,
    list_references,
    normalize_all,
    normalize_arrays,
    normalize_image,
    normalize_measurement,
    on_photometry_written,
)
from dsa110_contimg.photometry.variability import get_metrics, recompute_metrics
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry

DIP = {"snr": 50.0, "dip_depth": 0.2, "dip_epochs": 6, "dip_start": 16}


def _sim(**kw):
    args = dict(
        n_epochs=24, n_references=8, reference_snr=(100, 500), targets=[{"snr": 60.0}, DIP], seed=11
    )
    args.update(kw)
    return simulate_lightcurves(**args)


def _stored(settings, data_id):
    with get_engine(settings).connect() as conn:
        return conn.execute(
            select(
                photometry.c.source_id,
                photometry.c.normalized_flux_jy,
                photometry.c.normalized_flux_err_jy,
            ).where(photometry.c.data_id == data_id)
        ).all()


def test_hook_backfills_then_flags_the_dip(db_settings, caplog):
    caplog.set_level("INFO", logger="dsa110_contimg.variability")
    sim = _sim()
    first = None
    for i, did in enumerate(sim.data_ids):
        write_simulated_photometry(sim, images=[i], settings=db_settings)
        out = on_photometry_written(did, normalize=True, settings=db_settings)
        if i == 0:
            first = out
        if i == 9:  # the 10th good epoch establishes the baselines and back-fills 0..8
            assert out["established"] == 8 and out["backfilled"] == 9
    assert first["normalization"]["status"] == "not_normalizable"
    assert "no reference has a baseline yet" in first["normalization"]["reason"]
    # the log line says what it means for the image and what to do (issue 15)
    line = next(r.getMessage() for r in caplog.records if "not normalizable" in r.getMessage())
    assert f"image {sim.data_ids[0]} not normalizable: no reference has a baseline yet" in line
    assert "raw fluxes are stored" in line and "back-filled" in line and "nothing to do" in line
    for did in sim.data_ids:
        rec = get_image_normalization(did, settings=db_settings)
        assert rec.status == "normalized" and rec.n_refs == 8
        assert all(r.normalized_flux_jy is not None for r in _stored(db_settings, did))
    from dsa110_contimg.photometry.ese import list_candidates

    cands = list_candidates(preset="moderate", settings=db_settings)
    dip_id = sim.source_ids[sim.dips[0]["source"]]
    assert list(cands["source_id"]) == [dip_id]
    assert cands["first_flagged_mjd"][0] == pytest.approx(sim.mjd[16])
    # incremental metrics equal a recomputation from the stored series
    before = {s: get_metrics("nvss", s, settings=db_settings) for s in sim.source_ids}
    recompute_metrics(settings=db_settings)
    for s in sim.source_ids:
        after = get_metrics("nvss", s, settings=db_settings)
        for a, b in zip(before[s], after, strict=True):
            for k in (
                "n_points",
                "eta",
                "v",
                "vs",
                "m",
                "max_cusum",
                "max_dip_sigma",
                "baseline_flux_jy",
            ):
                assert a[k] == pytest.approx(b[k], rel=1e-9, nan_ok=True), (s, a["series"], k)


def test_database_path_equals_the_array_path(settings):
    sim = _sim(seed=5)
    write_simulated_photometry(sim, settings=settings)
    normalize_all(settings=settings)
    arr = normalize_arrays(sim.flux_jy[0], sim.flux_err_jy[0], sim.is_reference, baseline_epochs=10)
    for i in (0, 12, 23):
        rows = {r.source_id: r for r in _stored(settings, sim.data_ids[i])}
        for j, sid in enumerate(sim.source_ids):
            assert rows[sid].normalized_flux_jy == pytest.approx(
                arr["normalized_flux_jy"][j, i], rel=1e-12
            )
            assert rows[sid].normalized_flux_err_jy == pytest.approx(
                arr["normalized_flux_err_jy"][j, i], rel=1e-9
            )
        rec = get_image_normalization(sim.data_ids[i], settings=settings)
        assert rec.factor == pytest.approx(arr["factor"][i], rel=1e-12)
        nf, ne = normalize_measurement(0.1, 0.001, sim.data_ids[i], settings=settings)
        assert nf == pytest.approx(0.1 / rec.factor)
        assert ne == pytest.approx(
            math.hypot(0.001 / rec.factor, 0.1 * rec.factor_err / rec.factor**2)
        )


def test_too_few_references_and_failed_qa(db_settings):
    sim = _sim(n_references=4, n_epochs=12)
    write_simulated_photometry(sim, qa_failed=[11], settings=db_settings)
    out = normalize_all(settings=db_settings)
    assert out["normalized"] == 0 and out["not_normalizable"] == 12
    rec = get_image_normalization(sim.data_ids[3], settings=db_settings)
    assert rec.status == "not_normalizable"
    assert "4 measured cleanly on the image, need 5" in rec.reason
    assert (
        get_image_normalization(sim.data_ids[11], settings=db_settings).reason == "image failed QA"
    )
    assert all(r.normalized_flux_jy is None for r in _stored(db_settings, sim.data_ids[3]))
    with pytest.raises(NormalizationError, match="not normalizable"):
        normalize_measurement(1.0, 0.01, sim.data_ids[3], settings=db_settings)
    with pytest.raises(NotFoundError):
        normalize_image("no-such-image", settings=db_settings)
    # the worker's hook after an item that stored no rows: recorded as nothing to do, no error
    out = on_photometry_written("no-such-image", normalize=True, settings=db_settings)
    assert out["normalization"] is None and out["metrics"] == 0


def test_flagged_reference_rows_are_not_used(settings):
    sim = _sim(n_epochs=12)
    write_simulated_photometry(sim, settings=settings)
    ref_ids = list(sim.source_ids[sim.is_reference])
    with write_transaction(get_engine(settings)) as conn:
        conn.execute(
            update(photometry)
            .where(
                photometry.c.data_id == sim.data_ids[11], photometry.c.source_id.in_(ref_ids[:4])
            )
            .values(flags="blended", flux_jy=99.0)
        )
    normalize_all(settings=settings)
    rec = get_image_normalization(sim.data_ids[11], settings=settings)
    assert rec.status == "not_normalizable" and rec.n_candidates == 4


def test_variable_reference_is_dropped_and_recorded(settings):
    sim = _sim(n_epochs=40, n_references=10)
    # reference 0 varies by +-15 % (a scintillating source wrongly selected as a reference)
    sim.flux_jy[0, 0, :] *= 1 + 0.15 * np.sin(np.arange(40) / 3.0)
    write_simulated_photometry(sim, settings=settings)
    out = normalize_all(settings=settings)
    assert out["dropped"] == 1
    refs = {r["source_id"]: r for r in list_references(settings=settings)}
    bad = refs[sim.source_ids[0]]
    assert bad["status"] == "dropped" and bad["drop_reason"].startswith("variable: reduced chi2")
    assert sum(r["status"] == "active" for r in refs.values()) == 9
    assert get_image_normalization(sim.data_ids[5], settings=settings).n_refs == 9


def test_references_come_from_the_master_catalog(db_settings):
    from astropy.table import Table

    from dsa110_contimg.catalog import ingest_table

    sim = _sim(n_epochs=14, n_references=8)
    master = Table(
        {
            "source_id": [str(s) for s in sim.source_ids],
            "ra_deg": sim.ra_deg,
            "dec_deg": sim.dec_deg,
            "flux_mjy": sim.baseline_flux_jy * 1e3,
            "is_reference": sim.is_reference,
        }
    )
    ingest_table("master", master, settings=db_settings)
    for i, did in enumerate(sim.data_ids):
        write_simulated_photometry(sim, images=[i], register_references=False, settings=db_settings)
        out = on_photometry_written(did, normalize=True, settings=db_settings)
    assert out["normalization"]["status"] == "normalized"
    refs = list_references(settings=db_settings)
    assert {r["source_id"] for r in refs} == set(sim.source_ids[sim.is_reference])
    assert all(r["catalog"] == "master" and r["origin"] == "master" for r in refs)
    assert all(r["status"] == "active" for r in refs)
    assert get_image_normalization(sim.data_ids[0], settings=db_settings).n_refs == 8


def test_dropped_references_are_explained_and_summarized_once(settings):
    """Each dropped reference says in its log line what it means and what to do; repeated,
    the CLI's repeat summary gives the rest as one line that carries the same explanation."""
    import logging

    from dsa110_contimg.cli._common import RepeatSummary

    sim = _sim(n_epochs=40, n_references=14)
    wobble = 1 + 0.15 * np.sin(np.arange(40) / 3.0)
    for r in range(5):  # five scintillating sources wrongly selected as references
        sim.flux_jy[0, r, :] *= wobble if r % 2 else wobble[::-1]
    write_simulated_photometry(sim, settings=settings)

    shown: list[str] = []
    summary = RepeatSummary(keep=3)

    class Keep(logging.Handler):
        def emit(self, record):
            shown.append(record.getMessage())

    handler = Keep(logging.WARNING)
    handler.addFilter(summary)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        out = normalize_all(settings=settings)
    finally:
        root.removeHandler(handler)
    assert out["dropped"] == 5
    dropped = [m for m in shown if m.startswith("reference ")]
    assert len(dropped) == 3  # the first three, in full
    for line in dropped:
        sid = line.split(":", 2)[1].split(" ")[0]
        assert sid in {str(s) for s in sim.source_ids[:5]}
        assert "scatters" in line and "times its errors" in line  # what it means
        assert "no longer normalizes images" in line
        assert "Nothing to do unless many are dropped (over 20%" in line  # what to do
    lines = summary.summary()
    assert len(lines) == 1 and lines[0].startswith("... 2 more like: reference …:… dropped:")
    assert "no longer normalizes images" in lines[0] and "(over 20%: suspect" in lines[0]
