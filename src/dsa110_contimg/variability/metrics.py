"""Variability metrics of light curves, updated in constant time per new point.

Pure numpy, no storage: the stored path (:mod:`dsa110_contimg.variability.pipeline`) and the
statistical tests run exactly these functions. A *metric state* is a dict of arrays, one
element per source, whose keys are the numeric columns of the ``source_metrics`` table (plus
``open_image``, a ``buffer`` of shape ``(n_sources, K, 2)`` holding the first ``K``
committed points until the source's baseline is set, and ``open_mjds``, the times of the open
epoch's points). :func:`advance` folds one new point per
source into the state in O(1) per source, whatever the length of the history:

- *Epoch series*: image measurements within ``window_days`` of the first one of an epoch are
  combined by inverse variance (the open epoch); the epoch is committed when a later point
  starts a new one. Image and mosaic series commit every point (``merge=False``).
- Running sums over committed points (n, sum w, sum w f, sum w f^2, sum f, sum f^2) give the
  weighted mean, ``eta`` (reduced chi-square about it) and ``V`` (modulation index).
- Running extremes (the lowest and highest points with their errors) give the most
  significant two-epoch pair ``Vs = (f_max - f_min) / sqrt(e_max^2 + e_min^2)`` and
  ``m = 2 (f_max - f_min) / (f_max + f_min)`` (an approximation of the maximum over all pairs
  that is exact when the errors are similar).
- The median of the committed points is exact, in O(1) per point: the state keeps the
  :data:`MEDIAN_BAND` committed values nearest the median, sorted (the *band*), and counts the
  values below and above it. A new value inside the band is inserted (the value farthest from
  the median rank then leaves it, counted on its side); one outside is counted. When the
  median's rank leaves the band (after ~``MEDIAN_BAND / 2`` points on one side, e.g. a long
  dip), the median is unknown and the source is recomputed from its stored series
  (:func:`fold_points` marks it stale); :func:`run_series` sees every point and re-centres the
  band on the exact median (measured: a stationary source is recomputed ~0.3 times per 1,000
  points; a source in a long dip every ~16 points of the dip).
- The source's own baseline is the median of its first ``K`` committed points. Each later
  point gets a dip significance ``z = (b - f) / sqrt(e^2 + e_b^2)`` (not bounded by
  sqrt(N - 1), unlike statistics about the mean) and a one-sided CUSUM
  ``S = max(0, S + z - k)`` accumulates sustained dips.

Derived values (:func:`derive`) include the open epoch as a provisional point.

Examples
--------
>>> import numpy as np
>>> st = new_state(1, baseline_epochs=3)
>>> for t, f in enumerate([1.0, 1.01, 0.99, 1.0, 0.8]):
...     _ = advance(st, np.array([t]), np.array([f]), np.array([0.01]), np.array(["i"]),
...                 merge=False, window_days=0.0, baseline_epochs=3, cusum_k=1.0)
>>> d = derive(st, cusum_k=1.0)
>>> round(float(d["dip_sigma"][0]), 1), int(d["n_points"][0])
(13.6, 5)
"""

from __future__ import annotations

import numpy as np

from .baselines import robust_baseline

__all__ = [
    "MEDIAN_BAND",
    "OPEN_SLOTS",
    "STATE_FLOAT_KEYS",
    "advance",
    "derive",
    "fold_points",
    "new_state",
    "median_known",
    "run_series",
    "trim_band",
]

#: Numeric state keys (columns of ``source_metrics``); NaN means "not set".
STATE_FLOAT_KEYS = (
    "n",
    "sum_w",
    "sum_wf",
    "sum_wf2",
    "sum_f",
    "sum_f2",
    "min_flux_jy",
    "min_err_jy",
    "min_mjd",
    "max_flux_jy",
    "max_err_jy",
    "max_mjd",
    "last_mjd",
    "open_mjd",
    "open_last_mjd",
    "open_n",
    "open_sw",
    "open_swf",
    "baseline_flux_jy",
    "baseline_err_jy",
    "cusum",
    "max_cusum",
    "dip_sigma",
    "max_dip_sigma",
    "max_dip_depth",
    "max_dip_mjd",
    "run_start_mjd",
    "peak_start_mjd",
    "peak_mjd",
    "band_lo_n",
    "band_hi_n",
)
#: Committed values kept around the median (the band; see the module docstring).
MEDIAN_BAND = 32
#: MJDs of the open epoch's points remembered to recognise an image folded in twice.
OPEN_SLOTS = 8
_ZERO_KEYS = (
    "n",
    "sum_w",
    "sum_wf",
    "sum_wf2",
    "sum_f",
    "sum_f2",
    "open_n",
    "open_sw",
    "open_swf",
    "cusum",
    "max_cusum",
    "band_lo_n",
    "band_hi_n",
)


def new_state(
    n_sources: int, *, baseline_epochs: int, band: int = MEDIAN_BAND
) -> dict[str, np.ndarray]:
    """Return an empty metric state for ``n_sources`` sources.

    Parameters
    ----------
    n_sources : int
        Number of sources.
    baseline_epochs : int
        ``K``, the committed points that set each source's baseline.
    band : int
        Values kept around the median (:data:`MEDIAN_BAND`; 0: none kept).

    Returns
    -------
    dict of str to numpy.ndarray
        Zero sums, NaN extremes and baselines, an empty buffer and band.
    """
    st: dict[str, np.ndarray] = {}
    for key in STATE_FLOAT_KEYS:
        st[key] = np.zeros(n_sources) if key in _ZERO_KEYS else np.full(n_sources, np.nan)
    st["open_image"] = np.full(n_sources, None, dtype=object)
    st["buffer"] = np.full((n_sources, baseline_epochs, 2), np.nan)
    st["open_mjds"] = np.full((n_sources, OPEN_SLOTS), np.nan)
    st["band"] = np.full((n_sources, band), np.nan)
    return st


def _band_add(band, lo, hi, f, capacity):
    """Add one value per row to sorted bands; return the new ``(band, lo, hi)``.

    ``band`` rows are sorted with NaN padding at the end; ``lo``/``hi`` count the values below
    and above the band. A value outside the band on a side that has counted values is counted
    there; otherwise it is inserted, and when the band then holds more than ``capacity``
    values, the end farther from the median rank is dropped (and counted).
    """
    m, w = band.shape
    rows = np.arange(m)
    cnt = np.isfinite(band).sum(axis=1)
    first = band[:, 0]
    last = band[rows, np.maximum(cnt - 1, 0)]
    with np.errstate(invalid="ignore"):
        below = (lo > 0) & (f < first)
        above = (hi > 0) & (f > last)
        pos = np.sum(band < f[:, None], axis=1)
    ins = ~below & ~above
    nan_col = np.full((m, 1), np.nan)
    padded = np.concatenate([band, nan_col], axis=1)
    shifted = np.concatenate([nan_col, band], axis=1)
    j = np.arange(w + 1)[None, :]
    grown = np.where(j < pos[:, None], padded, np.where(j == pos[:, None], f[:, None], shifted))
    grown = np.where(ins[:, None], grown, padded)
    lo = lo + below
    hi = hi + above
    cnt = cnt + ins
    if capacity > w:  # room for the value: no eviction
        out = np.full((m, capacity), np.nan)
        out[:, : w + 1] = grown
        return out, lo, hi
    full = cnt > w
    rank = (lo + cnt + hi - 1) / 2.0
    drop_low = full & ((rank - lo) > (lo + cnt - 1 - rank))
    drop_high = full & ~drop_low
    out = np.where(drop_low[:, None], grown[:, 1:], grown[:, :w])
    return out, lo + drop_low, hi + drop_high


def _band_median(band, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Return the median of each row's values and whether it is known (NaN when not).

    Known when the value(s) of the median rank are in the band, or the row has no value.
    """
    m, w = band.shape
    rows = np.arange(m)
    cnt = np.isfinite(band).sum(axis=1)
    n = (lo + cnt + hi).astype(np.int64)
    a = (n - 1) // 2 - lo.astype(np.int64)
    b = n // 2 - lo.astype(np.int64)
    ok = (n > 0) & (a >= 0) & (b < cnt)
    ai, bi = np.clip(a, 0, max(w - 1, 0)), np.clip(b, 0, max(w - 1, 0))
    if w:
        med = np.where(ok, 0.5 * (band[rows, ai] + band[rows, bi]), np.nan)
    else:
        med = np.full(m, np.nan)
    return med, ok | (n == 0)


def trim_band(st: dict[str, np.ndarray], width: int = MEDIAN_BAND) -> None:
    """Keep the ``width`` band values centred on each source's median (in place).

    Examples
    --------
    >>> st = new_state(1, baseline_epochs=1, band=100)
    >>> st["band"][0, :50] = np.arange(50.0)
    >>> trim_band(st, 4)
    >>> st["band"][0].tolist(), float(st["band_lo_n"][0]), float(st["band_hi_n"][0])
    ([23.0, 24.0, 25.0, 26.0], 23.0, 23.0)
    """
    band, lo, hi = st["band"], st["band_lo_n"], st["band_hi_n"]
    m, w = band.shape
    cnt = np.isfinite(band).sum(axis=1)
    n = (lo + cnt + hi).astype(np.int64)
    a = (n - 1) // 2 - lo.astype(np.int64)
    start = np.clip(a - (width // 2 - 1), 0, np.maximum(cnt - width, 0))
    cols = start[:, None] + np.arange(width)[None, :]
    padded = np.concatenate([band, np.full((m, width), np.nan)], axis=1)
    st["band"] = padded[np.arange(m)[:, None], cols]
    st["band_lo_n"] = lo + start
    st["band_hi_n"] = hi + np.maximum(cnt - start - width, 0)


def median_known(st: dict[str, np.ndarray]) -> np.ndarray:
    """Return whether each source's median (open epoch included) is in its band."""
    return _open_band_median(st)[1]


def _open_band_median(st) -> tuple[np.ndarray, np.ndarray]:
    band, lo, hi = st["band"], st["band_lo_n"].copy(), st["band_hi_n"].copy()
    op = np.flatnonzero(st["open_n"] > 0)
    if op.size:
        of = st["open_swf"][op] / st["open_sw"][op]
        wide, lo_op, hi_op = _band_add(band[op], lo[op], hi[op], of, band.shape[1] + 1)
        med, ok = _band_median(band, lo, hi)
        med_op, ok_op = _band_median(wide, lo_op, hi_op)
        med[op], ok[op] = med_op, ok_op
        return med, ok
    return _band_median(band, lo, hi)


def _commit(st, idx, t, f, e, *, baseline_epochs, cusum_k):
    """Fold committed points (sources ``idx``) into the running sums, extremes and dips."""
    w = 1.0 / e**2
    st["n"][idx] += 1
    st["sum_w"][idx] += w
    st["sum_wf"][idx] += w * f
    st["sum_wf2"][idx] += w * f * f
    st["sum_f"][idx] += f
    st["sum_f2"][idx] += f * f
    lo = ~(f >= st["min_flux_jy"][idx])  # NaN min (first point) counts as lower
    hi = ~(f <= st["max_flux_jy"][idx])
    for key, val in (("min_flux_jy", f), ("min_err_jy", e), ("min_mjd", t)):
        st[key][idx[lo]] = val[lo]
    for key, val in (("max_flux_jy", f), ("max_err_jy", e), ("max_mjd", t)):
        st[key][idx[hi]] = val[hi]
    st["last_mjd"][idx] = t
    if st["band"].shape[1]:  # (run_series keeps no band while it runs: it sets it at the end)
        band, lo, hi = _band_add(
            st["band"][idx], st["band_lo_n"][idx], st["band_hi_n"][idx], f, st["band"].shape[1]
        )
        st["band"][idx], st["band_lo_n"][idx], st["band_hi_n"][idx] = band, lo, hi

    has_base = np.isfinite(st["baseline_flux_jy"][idx])
    # points before the baseline exists go to the buffer; the K-th sets the baseline
    bi, bf, be = idx[~has_base], f[~has_base], e[~has_base]
    if bi.size:
        slot = (st["n"][bi] - 1).astype(int)
        inbuf = slot < baseline_epochs
        st["buffer"][bi[inbuf], slot[inbuf], 0] = bf[inbuf]
        st["buffer"][bi[inbuf], slot[inbuf], 1] = be[inbuf]
        full = bi[slot == baseline_epochs - 1]
        if full.size:
            buf = st["buffer"][full]
            med, err = robust_baseline(buf[:, :, 0], buf[:, :, 1])
            st["baseline_flux_jy"][full] = med
            st["baseline_err_jy"][full] = err
            st["buffer"][full] = np.nan
    di, dt, df, de = idx[has_base], t[has_base], f[has_base], e[has_base]
    if di.size:
        z, depth = _dip(st, di, df, de)
        st["dip_sigma"][di] = z
        _cusum_step(st, di, dt, z, cusum_k, st)
        better = ~(z <= st["max_dip_sigma"][di])
        st["max_dip_sigma"][di[better]] = z[better]
        st["max_dip_depth"][di[better]] = depth[better]
        st["max_dip_mjd"][di[better]] = dt[better]


def _cusum_step(st, idx, t, z, cusum_k, out):
    """One CUSUM step for sources ``idx`` (read from ``st``, written to ``out``).

    Tracks when the current excursion above zero started and the start and time of the
    excursion that reached the peak CUSUM (the dip's first and last flagged MJD).
    """
    prev = st["cusum"][idx]
    new = np.maximum(0.0, prev + z - cusum_k)
    starting = (prev <= 0) & (new > 0)
    run_start = np.where(starting, t, st["run_start_mjd"][idx])
    run_start = np.where(new > 0, run_start, np.nan)
    peak = new > st["max_cusum"][idx]
    out["cusum"][idx] = new
    out["run_start_mjd"][idx] = run_start
    out["max_cusum"][idx] = np.where(peak, new, st["max_cusum"][idx])
    out["peak_start_mjd"][idx] = np.where(peak, run_start, st["peak_start_mjd"][idx])
    out["peak_mjd"][idx] = np.where(peak, t, st["peak_mjd"][idx])


def _dip(st, idx, f, e):
    b = st["baseline_flux_jy"][idx]
    eb = st["baseline_err_jy"][idx]
    z = (b - f) / np.sqrt(e**2 + eb**2)
    depth = 1.0 - f / b
    return z, depth


def advance(
    st: dict[str, np.ndarray],
    mjd: np.ndarray,
    flux: np.ndarray,
    err: np.ndarray,
    image: np.ndarray,
    *,
    merge: bool,
    window_days: float,
    baseline_epochs: int,
    cusum_k: float,
) -> np.ndarray:
    """Fold one new point per source into the state (in place), in O(1) per source.

    Parameters
    ----------
    st : dict
        Metric state from :func:`new_state` (or read from the database).
    mjd, flux, err : numpy.ndarray
        The new point of each source; a non-finite flux or error, or a non-positive error,
        means "no point for this source" (the source is left unchanged).
    image : numpy.ndarray
        The image ``data_id`` of each point (the first image names an epoch).
    merge : bool
        Combine points within ``window_days`` of the open epoch's first point (epoch series).
    window_days : float
        Epoch window, days.
    baseline_epochs : int
        ``K``: committed points that set the source's baseline.
    cusum_k : float
        CUSUM allowance in sigma.

    Returns
    -------
    numpy.ndarray of bool
        Sources whose point cannot be folded in incrementally: not later than the last
        committed point, earlier than an open epoch it does not fit in, or a repeat of one of
        the open epoch's points (an image processed twice; the first ``OPEN_SLOTS`` points of
        an epoch are remembered). They are left unchanged;
        their state must be recomputed from the stored series. Points of the open epoch may
        arrive in any order.
    """
    mjd = np.asarray(mjd, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    act = np.isfinite(flux) & np.isfinite(err) & (err > 0) & np.isfinite(mjd)
    has_open = st["open_n"] > 0
    if not merge:
        stale = act & (mjd <= st["last_mjd"])
        act &= ~stale
        idx = np.flatnonzero(act)
        _commit(
            st, idx, mjd[idx], flux[idx], err[idx], baseline_epochs=baseline_epochs, cusum_k=cusum_k
        )
        return stale
    # a point joins the open epoch (in any order: two workers may finish the images of one
    # transit out of order) when the epoch still spans at most the window with it
    with np.errstate(invalid="ignore"):
        span = np.fmax(st["open_last_mjd"], mjd) - np.fmin(st["open_mjd"], mjd)
        fits = has_open & (span <= window_days)
        dup = has_open & np.any(st["open_mjds"] == mjd[:, None], axis=1)
        before = has_open & ~fits & (mjd < st["open_mjd"])
        stale = act & ((mjd <= st["last_mjd"]) | dup | before)
    act &= ~stale
    join = act & fits
    start = act & ~join
    close = start & has_open
    ci = np.flatnonzero(close)
    if ci.size:
        sw = st["open_sw"][ci]
        _commit(
            st,
            ci,
            st["open_mjd"][ci],
            st["open_swf"][ci] / sw,
            1.0 / np.sqrt(sw),
            baseline_epochs=baseline_epochs,
            cusum_k=cusum_k,
        )
    w = 1.0 / err**2
    ji = np.flatnonzero(join)
    st["open_n"][ji] += 1
    st["open_sw"][ji] += w[ji]
    st["open_swf"][ji] += w[ji] * flux[ji]
    st["open_last_mjd"][ji] = np.fmax(st["open_last_mjd"][ji], mjd[ji])
    free = np.isnan(st["open_mjds"][ji])
    has_free = free.any(axis=1)
    slot = np.argmax(free, axis=1)
    st["open_mjds"][ji[has_free], slot[has_free]] = mjd[ji[has_free]]
    earlier = ji[mjd[ji] < st["open_mjd"][ji]]
    st["open_mjd"][earlier] = mjd[earlier]
    st["open_image"][earlier] = np.asarray(image, dtype=object)[earlier]
    si = np.flatnonzero(start)
    st["open_n"][si] = 1
    st["open_sw"][si] = w[si]
    st["open_swf"][si] = w[si] * flux[si]
    st["open_mjd"][si] = mjd[si]
    st["open_last_mjd"][si] = mjd[si]
    st["open_mjds"][si] = np.nan
    st["open_mjds"][si, 0] = mjd[si]
    st["open_image"][si] = np.asarray(image, dtype=object)[si]
    return stale


def derive(st: dict[str, np.ndarray], *, cusum_k: float) -> dict[str, np.ndarray]:
    """Return the variability metrics of each source, the open epoch included provisionally.

    Parameters
    ----------
    st : dict
        Metric state.
    cusum_k : float
        CUSUM allowance in sigma (as used by :func:`advance`).

    Returns
    -------
    dict of str to numpy.ndarray
        ``n_points``, ``mean_flux_jy`` (weighted), ``median_flux_jy`` (NaN if the band lost
        it, see :func:`fold_points`), ``eta``, ``v``, ``vs``, ``m``,
        ``dip_sigma`` (latest point), ``max_dip_sigma``, ``max_dip_depth``, ``max_dip_mjd``,
        ``cusum`` (current), ``max_cusum``, ``baseline_flux_jy``, ``baseline_err_jy``,
        ``dip_start_mjd`` and ``dip_end_mjd`` (first and
        last point of the CUSUM excursion that reached ``max_cusum``), ``last_mjd``.
    """
    n = st["n"].copy()
    sw, swf, swf2 = st["sum_w"].copy(), st["sum_wf"].copy(), st["sum_wf2"].copy()
    sf, sf2 = st["sum_f"].copy(), st["sum_f2"].copy()
    fmin, emin = st["min_flux_jy"].copy(), st["min_err_jy"].copy()
    fmax, emax = st["max_flux_jy"].copy(), st["max_err_jy"].copy()
    dip = st["dip_sigma"].copy()
    prov = {
        k: st[k].copy()
        for k in ("cusum", "max_cusum", "run_start_mjd", "peak_start_mjd", "peak_mjd")
    }
    mdip, mdepth, mdmjd = (
        st["max_dip_sigma"].copy(),
        st["max_dip_depth"].copy(),
        st["max_dip_mjd"].copy(),
    )
    last = st["last_mjd"].copy()
    op = np.flatnonzero(st["open_n"] > 0)
    if op.size:
        ow = st["open_sw"][op]
        of = st["open_swf"][op] / ow
        oe = 1.0 / np.sqrt(ow)
        n[op] += 1
        sw[op] += ow
        swf[op] += ow * of
        swf2[op] += ow * of * of
        sf[op] += of
        sf2[op] += of * of
        lo = ~(of >= fmin[op])
        fmin[op[lo]], emin[op[lo]] = of[lo], oe[lo]
        hi = ~(of <= fmax[op])
        fmax[op[hi]], emax[op[hi]] = of[hi], oe[hi]
        last[op] = st["open_mjd"][op]
        hb = np.isfinite(st["baseline_flux_jy"][op])
        bi = op[hb]
        if bi.size:
            z, depth = _dip(st, bi, of[hb], oe[hb])
            dip[bi] = z
            _cusum_step(st, bi, st["open_mjd"][bi], z, cusum_k, prov)
            better = ~(z <= mdip[bi])
            mdip[bi[better]] = z[better]
            mdepth[bi[better]] = depth[better]
            mdmjd[bi[better]] = st["open_mjd"][bi[better]]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_w = swf / sw
        eta = np.where(n > 1, (swf2 - swf * swf / sw) / (n - 1), np.nan)
        eta = np.where(np.isfinite(eta), np.maximum(eta, 0.0), np.nan)
        mean = sf / n
        var = np.where(n > 1, (sf2 - sf * sf / n) / (n - 1), np.nan)
        v = np.sqrt(np.maximum(var, 0.0)) / mean
        vs = np.where(n > 1, (fmax - fmin) / np.sqrt(emax**2 + emin**2), np.nan)
        m = np.where(n > 1, 2.0 * (fmax - fmin) / (fmax + fmin), np.nan)
    median, _ = _open_band_median(st)
    return {
        "n_points": n.astype(np.int64),
        "mean_flux_jy": mean_w,
        "median_flux_jy": median,
        "eta": eta,
        "v": v,
        "vs": vs,
        "m": m,
        "dip_sigma": dip,
        "max_dip_sigma": mdip,
        "max_dip_depth": mdepth,
        "max_dip_mjd": mdmjd,
        "cusum": prov["cusum"],
        "max_cusum": prov["max_cusum"],
        "baseline_flux_jy": st["baseline_flux_jy"].copy(),
        "baseline_err_jy": st["baseline_err_jy"].copy(),
        "dip_start_mjd": prov["peak_start_mjd"],
        "dip_end_mjd": prov["peak_mjd"],
        "last_mjd": last,
    }


def run_series(
    mjd: np.ndarray,
    flux: np.ndarray,
    err: np.ndarray,
    image: np.ndarray | None = None,
    *,
    merge: bool,
    window_days: float,
    baseline_epochs: int,
    cusum_k: float,
) -> dict[str, np.ndarray]:
    """Build the metric state of many sources from their whole series at once.

    Parameters
    ----------
    mjd, flux, err : numpy.ndarray
        Shape ``(n_sources, n_points)``, each row sorted by MJD; NaN pads missing points.
    image : numpy.ndarray, optional
        Image ``data_id`` of each point (same shape).
    merge, window_days, baseline_epochs, cusum_k
        As in :func:`advance`.

    Returns
    -------
    dict
        The metric state, identical to folding the points in one at a time.
    """
    mjd = np.atleast_2d(np.asarray(mjd, dtype=np.float64))
    flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
    err = np.atleast_2d(np.asarray(err, dtype=np.float64))
    if image is None:
        image = np.full(mjd.shape, None, dtype=object)
    n_src, n_pts = mjd.shape
    st = new_state(n_src, baseline_epochs=baseline_epochs, band=0)
    # every committed value, to centre the median band exactly at the end
    values = np.full((n_src, n_pts), np.nan)
    count = np.zeros(n_src, dtype=np.int64)
    for j in range(n_pts):
        n_before = st["n"].copy()
        with np.errstate(invalid="ignore", divide="ignore"):
            open_value = st["open_swf"] / st["open_sw"]  # what closing the open epoch commits
        advance(
            st,
            mjd[:, j],
            flux[:, j],
            err[:, j],
            image[:, j],
            merge=merge,
            window_days=window_days,
            baseline_epochs=baseline_epochs,
            cusum_k=cusum_k,
        )
        done = np.flatnonzero(st["n"] > n_before)
        values[done, count[done]] = open_value[done] if merge else flux[done, j]
        count[done] += 1
    values.sort(axis=1)  # NaN last
    st["band"], st["band_lo_n"], st["band_hi_n"] = values, np.zeros(n_src), np.zeros(n_src)
    trim_band(st)
    return st


def fold_points(
    st: dict[str, np.ndarray],
    mjd: np.ndarray,
    flux: np.ndarray,
    err: np.ndarray,
    image: np.ndarray,
    *,
    unreadable: np.ndarray | None = None,
    merge: bool,
    window_days: float,
    baseline_epochs: int,
    cusum_k: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold one image's points into its sources' states; say which changed and which cannot.

    :func:`advance` plus the bookkeeping of the incremental path: sources whose stored state
    could not be read (``unreadable``, e.g. written with another ``baseline_epochs``) and that
    have a point are stale too, as are sources whose median left their band (they are
    recomputed from the stored series, which re-centres it).

    Parameters
    ----------
    st : dict
        Metric state of the image's sources (changed in place).
    mjd, flux, err, image : numpy.ndarray
        The new point of each source (see :func:`advance`).
    unreadable : numpy.ndarray of bool, optional
        Sources whose stored state had another layout.
    merge, window_days, baseline_epochs, cusum_k
        As in :func:`advance`.

    Returns
    -------
    stale : numpy.ndarray of bool
        Sources to recompute from their stored series.
    changed : numpy.ndarray of int
        Indices of sources whose state advanced (to be stored).

    Examples
    --------
    >>> st = new_state(2, baseline_epochs=2)
    >>> stale, changed = fold_points(st, np.array([1.0, 1.0]), np.array([1.0, np.nan]),
    ...                              np.array([0.1, 0.1]), np.array(["a", "a"]), merge=False,
    ...                              window_days=0.0, baseline_epochs=2, cusum_k=1.0)
    >>> stale.tolist(), changed.tolist()
    ([False, False], [0])
    """
    flux = np.asarray(flux, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    if flux.shape != err.shape or np.shape(mjd) != flux.shape:
        raise ValueError("mjd, flux and err must have the same shape")
    stale = advance(
        st,
        mjd,
        flux,
        err,
        image,
        merge=merge,
        window_days=window_days,
        baseline_epochs=baseline_epochs,
        cusum_k=cusum_k,
    )
    if unreadable is not None:
        stale |= unreadable & np.isfinite(flux)
    act = np.isfinite(flux) & np.isfinite(err) & (err > 0) & ~stale
    lost = act & ~median_known(st)  # the median's rank left the band: recompute
    stale |= lost
    act &= ~lost
    return stale, np.flatnonzero(act)
