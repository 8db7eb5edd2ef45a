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
    "OPEN_SLOTS",
    "STATE_FLOAT_KEYS",
    "advance",
    "derive",
    "fold_points",
    "new_state",
    "run_series",
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
)
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
)


def new_state(n_sources: int, *, baseline_epochs: int) -> dict[str, np.ndarray]:
    """Return an empty metric state for ``n_sources`` sources.

    Parameters
    ----------
    n_sources : int
        Number of sources.
    baseline_epochs : int
        ``K``, the committed points that set each source's baseline.

    Returns
    -------
    dict of str to numpy.ndarray
        Zero sums, NaN extremes and baselines, an empty buffer.
    """
    st: dict[str, np.ndarray] = {}
    for key in STATE_FLOAT_KEYS:
        st[key] = np.zeros(n_sources) if key in _ZERO_KEYS else np.full(n_sources, np.nan)
    st["open_image"] = np.full(n_sources, None, dtype=object)
    st["buffer"] = np.full((n_sources, baseline_epochs, 2), np.nan)
    st["open_mjds"] = np.full((n_sources, OPEN_SLOTS), np.nan)
    return st


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
        ``n_points``, ``mean_flux_jy`` (weighted), ``eta``, ``v``, ``vs``, ``m``,
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
    return {
        "n_points": n.astype(np.int64),
        "mean_flux_jy": mean_w,
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
    st = new_state(mjd.shape[0], baseline_epochs=baseline_epochs)
    for j in range(mjd.shape[1]):
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
    have a point are stale too.

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
    return stale, np.flatnonzero(act)
