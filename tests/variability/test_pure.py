"""The pure variability package: arrays in, arrays out, no database (and none imported)."""

import subprocess
import sys

import numpy as np
import pytest

from dsa110_contimg.variability import (
    PRESETS,
    advance,
    assess_references,
    candidate_values,
    derive,
    fold_points,
    lightcurve_table,
    new_state,
    normalize_arrays,
    normalize_image_arrays,
    reference_baselines,
    run_series,
    series_points,
    strictest_presets,
)
from dsa110_contimg.variability.packing import pack_states, state_width, unpack_states

PURE = [
    "baselines",
    "epochs",
    "ese",
    "metrics",
    "normalization",
    "packing",
    "references",
    "series",
]


def test_importing_the_science_leaves_the_database_unloaded():
    mods = ", ".join(f"dsa110_contimg.variability.{m}" for m in PURE)
    code = (
        f"import sys, dsa110_contimg.variability, dsa110_contimg.photometry, {mods}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'\n"
        "             or m.startswith(('dsa110_contimg.database', 'dsa110_contimg.config',\n"
        "                              'dsa110_contimg.variability.pipeline')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _image(n_refs=6, gain=1.07, seed=1):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.1, 1.0, n_refs + 3)
    flux = base * gain * (1 + 0.001 * rng.standard_normal(base.size))
    err = np.full(base.size, 1e-3)
    cats = ["nvss"] * base.size
    ids = [f"s{i}" for i in range(base.size)]
    baselines = {("master", f"s{i}"): base[i] for i in range(n_refs)}
    return cats, ids, flux, err, base, baselines


def test_image_normalization_recovers_the_gain_and_leaves_references_out():
    cats, ids, flux, err, base, baselines = _image()
    out = normalize_image_arrays(
        "img", cats, ids, flux, err, [""] * len(ids), baselines, min_references=3
    )
    assert out.record.status == "normalized" and out.record.n_refs == 6
    assert out.record.factor == pytest.approx(1.07, rel=2e-3)
    assert out.references_seen == frozenset(baselines)
    np.testing.assert_allclose(out.normalized_flux_jy[6:], base[6:], rtol=5e-3)
    # a reference's own value uses the factor without it: not exactly flux / factor
    assert out.normalized_flux_jy[0] != flux[0] / out.record.factor


def test_image_normalization_refusals_are_results_with_reasons():
    cats, ids, flux, err, _, baselines = _image(n_refs=2)
    out = normalize_image_arrays("img", cats, ids, flux, err, [""] * len(ids), baselines,
                                 min_references=3)  # fmt: skip
    assert out.record.status == "not_normalizable" and out.normalized_flux_jy is None
    assert "too few references with baselines: 2 measured cleanly" in out.record.reason
    out = normalize_image_arrays("img", cats, ids, flux, err, [""] * len(ids), {},
                                 min_references=1)  # fmt: skip
    assert out.record.reason.startswith("no reference has a baseline yet")
    flags = ["edge"] * len(ids)  # flagged measurements are never references
    out = normalize_image_arrays("img", cats, ids, flux, err, flags, baselines, min_references=1)
    assert out.record.n_candidates == 0 and out.references_seen == frozenset()
    with pytest.raises(ValueError, match="same length"):
        normalize_image_arrays("img", cats[:-1], ids, flux, err, flags, baselines,
                               min_references=1)  # fmt: skip


def test_image_path_equals_the_light_curve_path():
    """normalize_image_arrays on each image == normalize_arrays on the whole light curves."""
    rng = np.random.default_rng(5)
    n_src, n_img, k = 12, 15, 5
    true = rng.uniform(0.2, 1.0, n_src)
    gains = 1 + 0.05 * rng.standard_normal(n_img)
    err = np.full((n_src, n_img), 2e-3)
    flux = true[:, None] * gains[None, :] + err * rng.standard_normal((n_src, n_img))
    is_ref = np.arange(n_src) < 8
    whole = normalize_arrays(flux, err, is_ref, baseline_epochs=k)
    ids = [f"s{i}" for i in range(n_src)]
    b = reference_baselines(
        [("master", s) for s in np.array(ids)[is_ref]],
        ["nvss"] * (n_src * k),
        [ids[i] for i in range(n_src) for _ in range(k)],
        [float(j) for _ in range(n_src) for j in range(k)],
        flux[:, :k].ravel(),
        err[:, :k].ravel(),
        baseline_epochs=k,
    )
    for j in range(n_img):
        out = normalize_image_arrays(
            f"i{j}", ["nvss"] * n_src, ids, flux[:, j], err[:, j], [""] * n_src,
            {key: v[0] for key, v in b.items()}, min_references=1,
        )  # fmt: skip
        np.testing.assert_allclose(out.normalized_flux_jy, whole["normalized_flux_jy"][:, j],
                                   rtol=1e-12)  # fmt: skip
        assert out.record.factor == pytest.approx(whole["factor"][j], rel=1e-12)


def test_reference_baselines_take_the_first_k_points_in_time():
    b = reference_baselines([("master", "a"), ("racs", "b")], ["nvss"] * 4 + ["racs"],
                            ["a"] * 4 + ["b"], [4.0, None, 1.0, 2.0, 1.0],
                            [100.0, 50.0, 1.0, 3.0, 7.0], [0.1] * 5, baseline_epochs=3)  # fmt: skip
    assert b[("master", "a")][0] == 3.0  # median of 1, 3, 100 (the MJD-less point sorts last)
    assert ("racs", "b") not in b  # one point, three needed


def test_variable_reference_is_dropped_with_its_statistics():
    tests = assess_references([1.1, 8.0, None, 8.0], [30, 30, 30, 5], series="image",
                              drop_chi2=3.0, drop_p=1e-3, min_epochs=10)  # fmt: skip
    assert tests[0].drop is False and tests[2] is None and tests[3] is None
    assert tests[1].drop and "reduced chi2 8.00 over 30 image points" in tests[1].reason


def test_packing_round_trip_and_incremental_equals_batch():
    rng = np.random.default_rng(3)
    n, m, k = 7, 20, 4
    mjd = np.sort(rng.uniform(0, 30, (n, m)), axis=1)
    flux = 1 + 0.05 * rng.standard_normal((n, m))
    err = np.full((n, m), 0.02)
    img = np.array([[f"i{j}" for j in range(m)]] * n, dtype=object)
    p = dict(window_days=0.04, baseline_epochs=k, cusum_k=1.0)
    batch = run_series(mjd, flux, err, img, merge=True, **p)
    st = new_state(n, baseline_epochs=k)
    for j in range(m):  # store and reload the state between points, as the database path does
        vec = pack_states(st)
        assert vec.shape == (n, state_width(k))
        back = new_state(n, baseline_epochs=k)
        unpack_states(back, np.arange(n), vec, list(st["open_image"]), baseline_epochs=k)
        stale, changed = fold_points(back, mjd[:, j], flux[:, j], err[:, j], img[:, j],
                                     merge=True, **p)  # fmt: skip
        assert not stale.any() and changed.size == n
        st = back
    for key in ("eta", "v", "max_cusum", "max_dip_sigma", "n_points"):
        np.testing.assert_array_equal(derive(st, cusum_k=1.0)[key], derive(batch, cusum_k=1.0)[key])
    with pytest.raises(ValueError, match="width"):
        unpack_states(new_state(1, baseline_epochs=k), np.array([0]), np.zeros((1, 3)), [None],
                      baseline_epochs=k)  # fmt: skip


def test_fold_points_marks_unreadable_and_late_points_stale():
    st = new_state(3, baseline_epochs=2)
    advance(st, np.array([5.0, 5.0, 5.0]), np.ones(3), np.full(3, 0.1), np.array(["a"] * 3),
            merge=False, window_days=0.0, baseline_epochs=2, cusum_k=1.0)  # fmt: skip
    stale, changed = fold_points(
        st, np.array([4.0, 6.0, 6.0]), np.ones(3), np.full(3, 0.1), np.array(["b"] * 3),
        unreadable=np.array([False, False, True]), merge=False, window_days=0.0,
        baseline_epochs=2, cusum_k=1.0,
    )  # fmt: skip
    assert stale.tolist() == [True, False, True] and changed.tolist() == [1]


def test_series_points_never_mix_and_sort_by_time():
    pts, seen = series_points(
        ["c"] * 5, ["s", "s", "s", "t", "u"], [2.0, 1.0, 1.5, 1.0, None],
        [1.0, 2.0, 3.0, 4.0, 5.0], [0.1, 0.1, 0.1, 0.0, 0.1],
        ["b", "a", "m", "x", "y"], ["image", "image", "mosaic", "image", "image"],
    )  # fmt: skip
    assert pts["image"].keys == [("c", "s")] and pts["image"].flux.tolist() == [[2.0, 1.0]]
    assert pts["epoch"].image.tolist() == [["a", "b"]]
    assert pts["mosaic"].flux.tolist() == [[3.0]]
    assert seen == {("c", "s"), ("c", "t"), ("c", "u")}  # unusable points still name a source


def test_lightcurve_table_series():
    t = lightcurve_table(
        np.array([0.0, 0.01, 0.02, 1.0]), ["a", "b", "m", "c"], np.array([1.0, 3.0, 9.0, 2.0]),
        np.ones(4), np.array([1.0, 3.0, 9.0, np.nan]), np.array([1.0, 1.0, 1.0, np.nan]),
        ["", "", "", "edge"], ["image", "image", "mosaic", "image"], series="epoch",
        window_days=1 / 24,
    )  # fmt: skip
    assert list(t["flux_jy"]) == [2.0] and list(t["normalized_flux_jy"]) == [2.0]
    t = lightcurve_table(np.array([0.0]), ["m"], np.ones(1), np.ones(1), np.ones(1), np.ones(1),
                         [""], ["mosaic"], series="image", window_days=1.0)  # fmt: skip
    assert len(t) == 0 and "flags" in t.colnames
    with pytest.raises(ValueError, match="series"):
        lightcurve_table(np.zeros(0), [], *[np.zeros(0)] * 4, [], [], series="day", window_days=1)


def test_candidates_carry_the_strictest_preset():
    d = {
        "max_cusum": np.array([50.0, 25.0, 5.0]),
        "max_dip_sigma": np.array([9.0, 6.0, 9.0]),
        "max_dip_depth": np.array([0.2, 0.2, 0.2]),
    }
    assert strictest_presets(d).tolist()[:2] == ["conservative", "moderate"]
    full = dict(d, n_points=np.array([10, 11, 12]))
    for k in ("eta", "v", "vs", "m", "dip_sigma", "cusum", "dip_start_mjd", "dip_end_mjd"):
        full[k] = np.array([1.0, np.nan, 2.0])
    vals = candidate_values([("c", "a"), ("c", "b"), ("c", "x")], full)
    assert set(vals) == {("c", "a"), ("c", "b")}  # 5 sigma-days of CUSUM is below the loosest
    assert vals[("c", "b")]["eta"] is None and vals[("c", "a")]["preset"] == "conservative"
    assert candidate_values([], None) == {}
    assert set(PRESETS) == {"conservative", "moderate", "sensitive"}
