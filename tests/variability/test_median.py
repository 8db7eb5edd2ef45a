"""The exact running median of the metric state (``median_flux_jy``), against numpy.

Injection: light curves with known values (stationary noise, long dips, steps, ties) are folded
in one point at a time as the pipeline does; a source whose median left the band is rebuilt
from its series, as ``update_metrics_for_image`` does. After every point the stored median
equals ``numpy.median`` of the points so far, to the last bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.variability.metrics import (
    MEDIAN_BAND,
    derive,
    fold_points,
    new_state,
    run_series,
)
from dsa110_contimg.variability.packing import pack_states, state_width, unpack_states

P = dict(window_days=0.0, baseline_epochs=4, cusum_k=1.0)


def _curves(rng, n_src, n_pts):
    t = np.arange(n_pts, dtype=float)
    flux = 1.0 + 0.05 * rng.standard_normal((n_src, n_pts))
    flux[1, n_pts // 3 :] -= 0.5  # a long dip: every later point below the median
    flux[2] = np.linspace(2.0, 0.5, n_pts)  # a steady decline
    flux[3] = np.round(flux[3], 1)  # many ties
    flux[4, ::2] = np.nan  # missing points
    return np.broadcast_to(t, flux.shape).copy(), flux


@pytest.mark.parametrize("n_pts", [7, 150])
def test_incremental_median_is_exact(n_pts):
    rng = np.random.default_rng(3)
    n_src = 12
    mjd, flux = _curves(rng, n_src, n_pts)
    err = np.full(flux.shape, 0.05)
    img = np.full(flux.shape, "i", dtype=object)
    st = new_state(n_src, baseline_epochs=P["baseline_epochs"])
    rebuilt = 0
    for j in range(n_pts):
        # store and read back the state, as the pipeline does between images
        back = new_state(n_src, baseline_epochs=P["baseline_epochs"])
        unpack_states(
            back,
            np.arange(n_src),
            pack_states(st),
            list(st["open_image"]),
            baseline_epochs=P["baseline_epochs"],
        )
        st = back
        stale, _ = fold_points(st, mjd[:, j], flux[:, j], err[:, j], img[:, j], merge=False, **P)
        for i in np.flatnonzero(stale):  # recompute from the stored series
            full = run_series(
                mjd[i : i + 1, : j + 1],
                flux[i : i + 1, : j + 1],
                err[i : i + 1, : j + 1],
                merge=False,
                **P,
            )
            for key in st:
                st[key][i] = full[key][0]
            rebuilt += 1
        got = derive(st, cusum_k=1.0)["median_flux_jy"]
        for i in range(n_src):
            seen = flux[i, : j + 1]
            seen = seen[np.isfinite(seen)]
            want = np.median(seen) if seen.size else np.nan
            np.testing.assert_equal(got[i], want, err_msg=f"source {i} after {j + 1} points")
    if n_pts > 2 * MEDIAN_BAND:
        assert rebuilt > 0  # the dip and the decline did leave the band
        assert rebuilt < n_pts  # ...but not at every point


def test_epoch_series_median_includes_the_open_epoch():
    """Epoch series: the median of the epoch fluxes, the provisional open epoch included."""
    # three images per epoch, 0.01 d apart; epochs 1 d apart
    t = (np.arange(10)[:, None] + np.array([0.0, 0.01, 0.02])[None, :]).ravel()
    rng = np.random.default_rng(1)
    f = 1.0 + 0.1 * rng.standard_normal(t.size)
    e = 0.05 + 0.05 * rng.random(t.size)
    st = run_series(
        t[None], f[None], e[None], merge=True, window_days=0.1, baseline_epochs=3, cusum_k=1.0
    )
    w = 1.0 / e.reshape(10, 3) ** 2
    epochs = (w * f.reshape(10, 3)).sum(axis=1) / w.sum(axis=1)
    got = derive(st, cusum_k=1.0)["median_flux_jy"][0]
    assert got == pytest.approx(np.median(epochs), rel=1e-12)


def test_state_width_grew_by_the_band():
    """Old (narrower) stored vectors are refused, so the pipeline recomputes them."""
    st = new_state(1, baseline_epochs=3)
    vec = pack_states(st)
    assert vec.shape == (1, state_width(3))
    with pytest.raises(ValueError, match="width"):
        unpack_states(st, np.array([0]), vec[:, :-MEDIAN_BAND], [None], baseline_epochs=3)
