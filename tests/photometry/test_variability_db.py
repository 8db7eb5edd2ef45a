"""Light-curve series (image, epoch, mosaic) and metrics from the database."""

import time

import numpy as np
import pytest

from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.database.products import insert_photometry_rows
from dsa110_contimg.database.tables import images
from dsa110_contimg.errors import ConfigError, NotFoundError
from dsa110_contimg.photometry.lightcurve import advance, combine_epochs, derive, new_state
from dsa110_contimg.photometry.normalize import normalize_all, on_photometry_written
from dsa110_contimg.photometry.variability import get_lightcurve, get_metrics
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry


def _add_mosaic(settings, sim, mjd):
    with write_transaction(get_engine(settings)) as conn:
        conn.execute(
            images.insert().values(
                data_id="mos-1",
                path="sim://mos-1",
                kind="mosaic",
                mjd_mid=mjd,
                created_at=time.time(),
            )
        )
        insert_photometry_rows(
            conn,
            {
                "data_id": "mos-1",
                "catalog": "nvss",
                "source_id": list(sim.source_ids),
                "ra_deg": sim.ra_deg,
                "dec_deg": sim.dec_deg,
                "flux_jy": sim.baseline_flux_jy,
                "flux_err_jy": np.full(len(sim.source_ids), 1e-3),
                "mjd": mjd,
            },
        )


def test_three_series_never_mixed(db_settings):
    db_settings.normalize.metric_series = ["image", "epoch", "mosaic"]  # image metrics opt-in
    sim = simulate_lightcurves(
        n_epochs=12, images_per_epoch=3, n_references=6, targets=[{"snr": 80}], seed=2
    )
    for i, did in enumerate(sim.data_ids):
        write_simulated_photometry(sim, images=[i], settings=db_settings)
        on_photometry_written(did, normalize=True, settings=db_settings)
    _add_mosaic(db_settings, sim, float(sim.mjd[1]))
    on_photometry_written("mos-1", normalize=True, settings=db_settings)
    sid = sim.source_ids[-1]
    img = get_lightcurve("nvss", sid, series="image", settings=db_settings)
    ep = get_lightcurve("nvss", sid, series="epoch", settings=db_settings)
    mos = get_lightcurve("nvss", sid, series="mosaic", settings=db_settings)
    assert len(img) == 36 and len(ep) == 12 and len(mos) == 1
    for t in (img, ep, mos):
        assert t.colnames[:6] == [
            "mjd",
            "image",
            "flux_jy",
            "flux_err_jy",
            "normalized_flux_jy",
            "normalized_flux_err_jy",
        ]
        assert np.all(np.diff(t["mjd"]) >= 0)
    assert list(ep["image"]) == [str(d) for d in sim.data_ids[::3]]
    assert np.all(ep["n_images"] == 3)
    # epoch point = inverse-variance combination of its three images
    w = 1 / img["flux_err_jy"][:3] ** 2
    assert ep["flux_jy"][0] == pytest.approx(np.sum(w * img["flux_jy"][:3]) / np.sum(w))
    assert np.all(np.isfinite(ep["normalized_flux_jy"]))
    assert mos["image"][0] == "mos-1"
    metrics = {m["series"]: m for m in get_metrics("nvss", sid, settings=db_settings)}
    assert metrics["image"]["n_points"] == 36 and metrics["epoch"]["n_points"] == 12
    assert metrics["mosaic"]["n_points"] == 1
    with pytest.raises(NotFoundError):
        get_lightcurve("nvss", "J000000+000000", settings=db_settings)
    with pytest.raises(ConfigError):
        get_lightcurve("nvss", sid, series="both", settings=db_settings)


def test_out_of_order_image_recomputes(settings):
    sim = simulate_lightcurves(n_epochs=15, n_references=6, targets=[{"snr": 80}], seed=4)
    write_simulated_photometry(sim, settings=settings)
    normalize_all(settings=settings)
    sid = sim.source_ids[-1]
    ref = get_metrics("nvss", sid, series="epoch", settings=settings)[0]
    # processing an already-folded image again must not count it twice
    on_photometry_written(sim.data_ids[3], normalize=True, settings=settings)
    again = get_metrics("nvss", sid, series="epoch", settings=settings)[0]
    assert again["n_points"] == ref["n_points"] == 15
    assert again["eta"] == pytest.approx(ref["eta"], rel=1e-9)


def test_metrics_from_running_sums_match_direct_formulas():
    rng = np.random.default_rng(0)
    f = 1 + 0.01 * rng.standard_normal(50)
    e = np.full(50, 0.01) * rng.uniform(0.8, 1.2, 50)
    st = new_state(1, baseline_epochs=10)
    for i in range(50):
        advance(
            st,
            np.array([float(i)]),
            f[i : i + 1],
            e[i : i + 1],
            np.array(["x"]),
            merge=False,
            window_days=0,
            baseline_epochs=10,
            cusum_k=1.0,
        )
    d = derive(st, cusum_k=1.0)
    w = 1 / e**2
    mean = np.sum(w * f) / np.sum(w)
    assert d["eta"][0] == pytest.approx(np.sum(w * (f - mean) ** 2) / 49, rel=1e-8)
    assert d["v"][0] == pytest.approx(np.std(f, ddof=1) / np.mean(f), rel=1e-8)
    i, j = np.argmax(f), np.argmin(f)
    assert d["vs"][0] == pytest.approx((f[i] - f[j]) / np.hypot(e[i], e[j]))
    assert d["m"][0] == pytest.approx(2 * (f[i] - f[j]) / (f[i] + f[j]))
    assert st["baseline_flux_jy"][0] == pytest.approx(np.median(f[:10]))


def test_combine_epochs_window():
    first, n, cf, ce = combine_epochs(
        np.array([0.0, 0.02, 0.04, 0.5, 1.0]), np.ones(5), np.ones(5), window_days=1 / 24
    )
    assert first.tolist() == [0, 3, 4] and n.tolist() == [3, 1, 1]
    assert ce[0] == pytest.approx(1 / np.sqrt(3))


def test_combine_epochs_matches_the_sequential_rule():
    """Random cadences, including runs of points longer than one window: the epochs are those
    of the plain rule (a new epoch at the first point more than a window after the current
    epoch's first point)."""
    rng = np.random.default_rng(11)
    window = 1 / 24
    for _ in range(200):
        n = int(rng.integers(1, 80))
        gaps = rng.choice([0.003, 0.01, 0.03, 0.5, 1.0], size=n) * rng.uniform(0.5, 1.5, n)
        mjd = 61000 + np.cumsum(gaps)
        group, start = [], None
        for t in mjd:
            if start is None or t - start > window:
                start = t
                group.append(len(group) and group[-1] + 1)
            else:
                group.append(group[-1])
        group = np.array(group)
        f, e = rng.normal(1, 0.1, n), rng.uniform(0.01, 0.1, n)
        first, counts, cf, ce = combine_epochs(mjd, f, e, window_days=window)
        assert first.tolist() == np.flatnonzero(np.r_[True, np.diff(group) != 0]).tolist()
        assert counts.tolist() == np.bincount(group).tolist()
        w = 1 / e**2
        np.testing.assert_allclose(cf, np.bincount(group, w * f) / np.bincount(group, w))
        np.testing.assert_allclose(ce, 1 / np.sqrt(np.bincount(group, w)))


def test_epoch_images_out_of_order_fold_in_incrementally():
    """Images of one transit finished out of order by two workers give the sorted result."""
    rng = np.random.default_rng(5)
    t = np.repeat(np.arange(20.0), 3) + np.tile([0.0, 0.0035, 0.007], 20)
    f = 1 + 0.01 * rng.standard_normal(60)
    e = np.full(60, 0.01)
    kw = dict(merge=True, window_days=1 / 24, baseline_epochs=5, cusum_k=1.0)
    order = np.arange(60).reshape(20, 3)[:, [1, 0, 2]].ravel()  # middle image first
    st = new_state(1, baseline_epochs=5)
    for i in order:
        stale = advance(st, t[i : i + 1], f[i : i + 1], e[i : i + 1], np.array([f"i{i}"]), **kw)
        assert not stale[0]
    ref = new_state(1, baseline_epochs=5)
    for i in range(60):
        advance(ref, t[i : i + 1], f[i : i + 1], e[i : i + 1], np.array([f"i{i}"]), **kw)
    a, b = derive(st, cusum_k=1.0), derive(ref, cusum_k=1.0)
    for k in ("n_points", "eta", "v", "vs", "max_cusum", "baseline_flux_jy"):
        assert a[k][0] == pytest.approx(b[k][0], rel=1e-12), k
    assert st["open_image"][0] == ref["open_image"][0] == "i57"
    # the same image again (even the middle one), or a point before the last committed epoch
    assert advance(st, t[58:59], f[58:59], e[58:59], np.array(["i58"]), **kw)[0]
    assert advance(st, t[3:4], f[3:4], e[3:4], np.array(["i3"]), **kw)[0]


def test_point_flagged_on_a_later_image_leaves_its_metrics_alone(settings):
    """A source with metrics that is flagged (blended, edge, ...) on a new image is skipped.

    Regression: the metric rows were joined on every photometry row of the image while only
    the clean ones were folded in, so such a source raised KeyError and the hook failed.
    """
    sim = simulate_lightcurves(n_epochs=14, n_references=6, targets=[{"snr": 80}], seed=5)
    sid = sim.source_ids[-1]
    for i, did in enumerate(sim.data_ids):
        write_simulated_photometry(sim, images=[i], settings=settings)
        if i == len(sim.data_ids) - 1:
            with write_transaction(get_engine(settings)) as conn:
                conn.exec_driver_sql(
                    "UPDATE photometry SET flags = 'blended' WHERE data_id = ? AND source_id = ?",
                    (did, sid),
                )
        on_photometry_written(did, normalize=True, settings=settings)
    metrics = get_metrics("nvss", sid, series="epoch", settings=settings)[0]
    assert metrics["n_points"] == len(sim.data_ids) - 1
