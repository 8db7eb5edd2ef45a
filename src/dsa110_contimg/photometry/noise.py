"""Robust local noise of a radio image at many positions.

The image is divided into square tiles sized in beams (default 8 beam major axes). Only the tiles
needed by the requested positions are read, each subsampled at about 0.9 of the beam minor axis
(neighbouring pixels of a radio image are correlated over the beam, so denser sampling adds
little information). Samples near the given source positions are masked, so bright neighbours
cannot inflate the estimate (a tile the masks leave with too few samples, as in a crowded
field, takes the rms of the unmasked samples of the other tiles read, or of the whole image);
what remains is sigma-clipped (median and MAD, then clipped standard deviation corrected for
the truncation). The rms at a position is interpolated bilinearly between tile centres. The
cost grows with the number of tiles touched, never with (number of positions x image size).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CorrelatedNoise",
    "beam_autocorrelation",
    "clipped_rms",
    "local_rms",
    "noise_autocorrelation",
    "robust_rms",
    "tile_geometry",
]

_MAD_TO_SIGMA = 1.482602218505602


def _truncation_factor(k: float) -> float:
    """Return the standard deviation of a unit normal truncated at +-k."""
    import math

    p = math.erf(k / math.sqrt(2.0))  # P(|x| < k)
    pdf = math.exp(-0.5 * k * k) / math.sqrt(2.0 * math.pi)
    return float(np.sqrt(1.0 - 2.0 * k * pdf / p))


def clipped_rms(
    samples: np.ndarray, *, clip_sigma: float = 3.0, iterations: int = 3, min_samples: int = 10
) -> np.ndarray:
    """Sigma-clipped standard deviation of each row, ignoring NaN.

    Each row is sorted once; the first estimate comes from the 15.87 and 84.13 percentiles
    around the median, then each clipping pass keeps the contiguous sorted range within
    ``clip_sigma`` of the centre and takes its mean and standard deviation from cumulative
    sums (corrected for the truncation of a normal distribution).

    Parameters
    ----------
    samples : numpy.ndarray
        (n, m) array; NaN marks missing samples.
    clip_sigma : float
        Clip at this many standard deviations from the centre.
    iterations : int
        Clipping passes after the percentile estimate.
    min_samples : int
        Rows with fewer finite samples give NaN.

    Returns
    -------
    numpy.ndarray
        (n,) robust rms per row.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(0, 2.0, (1, 5000)); x[0, :50] = 1e3  # outliers
    >>> bool(abs(clipped_rms(x)[0] / 2.0 - 1) < 0.05)
    True
    """
    x = np.asarray(samples)
    if x.ndim != 2:
        raise ValueError("samples must be 2-D (rows of samples)")
    n, m = x.shape
    if m == 0 or n == 0:
        return np.full(n, np.nan)
    srt = np.sort(x, axis=1)  # NaN sort to the end
    finite = np.isfinite(srt)
    count = finite.sum(axis=1)
    z = np.where(finite, srt, 0.0).astype(np.float64)
    cs1 = np.zeros((n, m + 1))
    cs2 = np.zeros((n, m + 1))
    np.cumsum(z, axis=1, out=cs1[:, 1:])
    np.cumsum(z * z, axis=1, out=cs2[:, 1:])
    rows = np.arange(n)
    last = np.maximum(count - 1, 0)

    def quantile(p: float) -> np.ndarray:
        pos = p * last
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, last)
        f = pos - i0
        return (1 - f) * z[rows, i0] + f * z[rows, i1]

    centre = quantile(0.5)
    sigma = 0.5 * (quantile(0.841344746) - quantile(0.158655254))
    corr = _truncation_factor(clip_sigma)
    for _ in range(iterations):
        lo = np.sum(srt < (centre - clip_sigma * sigma)[:, None], axis=1)
        hi = np.sum(srt <= (centre + clip_sigma * sigma)[:, None], axis=1)
        k = hi - lo
        with np.errstate(invalid="ignore", divide="ignore"):
            s1 = cs1[rows, hi] - cs1[rows, lo]
            s2 = cs2[rows, hi] - cs2[rows, lo]
            mean = s1 / k
            var = np.maximum(s2 - k * mean * mean, 0.0) / (k - 1)
            new_sigma = np.sqrt(var) / corr
        good = k > 1
        centre = np.where(good, mean, centre)
        sigma = np.where(good, new_sigma, sigma)
    return np.where(count >= min_samples, sigma, np.nan)


def tile_geometry(
    shape: tuple[int, int], bmaj_pix: float, bmin_pix: float, tile_beams: float
) -> tuple[int, int]:
    """Return the sampling step and tile side (pixels) that :func:`local_rms` uses."""
    ny, nx = shape
    step = max(1, int(round(0.9 * bmin_pix)))
    tile = max(4 * step, int(round(tile_beams * bmaj_pix / step)) * step)
    tile = min(tile, max(step, (max(nx, ny) // step) * step))
    return step, tile


def local_rms(
    data: np.ndarray,
    x_pix: np.ndarray,
    y_pix: np.ndarray,
    *,
    bmaj_pix: float,
    bmin_pix: float,
    tile_beams: float = 8.0,
    mask_x: np.ndarray | None = None,
    mask_y: np.ndarray | None = None,
    mask_radius_beams: float = 1.5,
    clip_sigma: float = 3.0,
) -> np.ndarray:
    """Robust local rms at many pixel positions.

    Parameters
    ----------
    data : numpy.ndarray
        2-D (y, x) image (may be memory-mapped and big-endian; only needed tiles are read).
    x_pix, y_pix : numpy.ndarray
        0-based positions (N,) where the rms is wanted (finite, inside the image).
    bmaj_pix, bmin_pix : float
        Beam FWHM in pixels (major, minor); set the tile size and the sampling step.
    tile_beams : float
        Tile side in beam major axes.
    mask_x, mask_y : numpy.ndarray, optional
        Known source positions whose surroundings are excluded (default: ``x_pix, y_pix``).
    mask_radius_beams : float
        Radius of the excluded disk, in beam major axes.
    clip_sigma : float
        Sigma-clipping threshold.

    Returns
    -------
    numpy.ndarray
        (N,) rms in the image's units; NaN where every nearby sample is blanked.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> img = rng.normal(0, 0.5, (200, 200))
    >>> r = local_rms(img, np.array([100.0]), np.array([100.0]), bmaj_pix=3, bmin_pix=3)
    >>> bool(abs(r[0] / 0.5 - 1) < 0.1)
    True
    """
    ny, nx = data.shape
    x = np.asarray(x_pix, dtype=float).ravel()
    y = np.asarray(y_pix, dtype=float).ravel()
    if x.size == 0:
        return np.empty(0)
    step, tile = tile_geometry((ny, nx), bmaj_pix, bmin_pix, tile_beams)
    ts = tile // step  # samples per tile side
    ntx = -(-nx // tile)
    nty = -(-ny // tile)
    # tile-centre coordinates; bilinear interpolation between the four surrounding centres
    fx = np.clip((x - (tile - 1) / 2.0) / tile, 0, max(ntx - 1, 0))
    fy = np.clip((y - (tile - 1) / 2.0) / tile, 0, max(nty - 1, 0))
    tx0 = np.floor(fx).astype(int)
    ty0 = np.floor(fy).astype(int)
    tx1 = np.minimum(tx0 + 1, ntx - 1)
    ty1 = np.minimum(ty0 + 1, nty - 1)
    wx = fx - tx0
    wy = fy - ty0
    corners = [
        (ty0, tx0, (1 - wy) * (1 - wx)),
        (ty0, tx1, (1 - wy) * wx),
        (ty1, tx0, wy * (1 - wx)),
        (ty1, tx1, wy * wx),
    ]
    tile_ids = np.unique(np.concatenate([ty * ntx + tx for ty, tx, _ in corners]))
    off = step // 2
    gny, gnx = nty * ts, ntx * ts  # subsampled grid covering every tile
    mx = x if mask_x is None else np.asarray(mask_x, float).ravel()
    my = y if mask_y is None else np.asarray(mask_y, float).ravel()
    keep_m = np.isfinite(mx) & np.isfinite(my)
    mx, my = mx[keep_m], my[keep_m]
    grid_mask = None
    if mx.size and mask_radius_beams > 0:
        # surroundings of known sources, on the subsampled grid
        grid_mask = np.zeros((gny, gnx), dtype=bool)
        rad = mask_radius_beams * bmaj_pix / step
        r = int(np.ceil(rad))
        oy, ox = np.mgrid[-r : r + 1, -r : r + 1]
        disk = ox**2 + oy**2 <= rad**2
        oy, ox = oy[disk], ox[disk]
        gx = np.rint((mx - off) / step).astype(int)
        gy = np.rint((my - off) / step).astype(int)
        px = np.clip(gx[:, None] + ox[None, :], 0, gnx - 1)
        py = np.clip(gy[:, None] + oy[None, :], 0, gny - 1)
        grid_mask[py.ravel(), px.ravel()] = True
    sub = None
    if tile_ids.size * ts * ts > 0.3 * gny * gnx:
        # most tiles needed: one strided read of the subsampled image
        sub = np.full((gny, gnx), np.nan, dtype=np.float32)
        part = data[off::step, off::step]
        sub[: part.shape[0], : part.shape[1]] = part
        samples = sub.reshape(nty, ts, ntx, ts).transpose(0, 2, 1, 3).reshape(nty * ntx, ts, ts)
        samples = samples[tile_ids]
        if grid_mask is not None:
            masked = grid_mask.reshape(nty, ts, ntx, ts).transpose(0, 2, 1, 3)
            masked = masked.reshape(nty * ntx, ts, ts)[tile_ids]
    else:
        tyn = tile_ids // ntx
        txn = tile_ids % ntx
        gr = tyn[:, None] * ts + np.arange(ts)[None, :]  # (T, ts) subsampled rows
        gc = txn[:, None] * ts + np.arange(ts)[None, :]
        rows = off + step * gr
        cols = off + step * gc
        valid = (rows < ny)[:, :, None] & (cols < nx)[:, None, :]
        rr = np.minimum(rows, ny - 1)
        cc = np.minimum(cols, nx - 1)
        samples = np.asarray(data[rr[:, :, None], cc[:, None, :]], dtype=np.float32)
        samples = np.where(valid, samples, np.float32(np.nan))
        if grid_mask is not None:
            masked = grid_mask[gr[:, :, None], gc[:, None, :]]
    samples = samples.reshape(tile_ids.size, -1)
    samples_all = samples
    if grid_mask is not None:
        masked = masked.reshape(tile_ids.size, -1)
        masked_samples = np.where(masked, np.float32(np.nan), samples)
        n_left = np.isfinite(masked_samples).sum(axis=1)
        enough = n_left >= max(30, ts * ts // 5)
        samples = masked_samples
    sigma_tiles = clipped_rms(samples, clip_sigma=clip_sigma, iterations=2)
    if grid_mask is not None and not enough.all():
        # crowded tiles (the masks leave too few samples): the rms of every unmasked sample
        # of the image, so that crowded fields do not measure their sources as noise
        rows = np.flatnonzero(enough)
        rows = rows[:: max(1, rows.size * ts * ts // 40_000)]
        free = masked_samples[rows].ravel()
        free = free[np.isfinite(free)]
        if free.size < 2000:  # the tiles read are all crowded: every unmasked sample
            if sub is None:
                sub = np.full((gny, gnx), np.nan, dtype=np.float32)
                part = data[off::step, off::step]
                sub[: part.shape[0], : part.shape[1]] = part
            free = sub[~grid_mask]
        free = free[:: max(1, free.size // 20_000)]  # 2e4 samples: 0.5% precision
        pooled = clipped_rms(free[None, :], clip_sigma=clip_sigma, iterations=2)[0]
        if not np.isfinite(pooled):  # nothing unmasked at all: the crowded tiles' own rms
            pooled_tiles = clipped_rms(
                np.where(enough[:, None], np.nan, samples_all), clip_sigma=clip_sigma
            )
            sigma_tiles = np.where(enough, sigma_tiles, pooled_tiles)
        else:
            sigma_tiles = np.where(enough, sigma_tiles, pooled)
    lookup = np.full(ntx * nty, np.nan)
    lookup[tile_ids] = sigma_tiles
    num = np.zeros(x.size)
    den = np.zeros(x.size)
    for ty, tx, w in corners:
        s = lookup[ty * ntx + tx]
        ok = np.isfinite(s) & (w > 0)
        num += np.where(ok, w * s, 0.0)
        den += np.where(ok, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    return np.where(den > 1e-6, out, np.nan)


def robust_rms(data: np.ndarray, *, max_pixels: int = 1_000_000) -> float | None:
    """Return the robust rms (1.4826 x MAD) of the finite pixels of an image.

    Large images are sampled on a regular sub-grid of at most ``max_pixels`` pixels, which
    changes the estimate by far less than its own scatter.

    Parameters
    ----------
    data : numpy.ndarray
        2-D image (any byte order).
    max_pixels : int
        Largest number of pixels used.

    Returns
    -------
    float or None
        The rms, or None when the image has no finite pixel.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> round(robust_rms(rng.normal(0.0, 2.0, (300, 300))), 1)
    2.0
    """
    arr = np.asarray(data)
    if arr.ndim == 2 and arr.size > max_pixels:
        step = int(np.ceil(np.sqrt(arr.size / max_pixels)))
        arr = arr[::step, ::step]
    values = np.asarray(arr, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    med = np.median(values)
    return float(_MAD_TO_SIGMA * np.median(np.abs(values - med)))


def beam_autocorrelation(ainv: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation of noise whose correlation is the restoring beam, on integer lags.

    Parameters
    ----------
    ainv : numpy.ndarray
        (2, 2) inverse beam covariance in pixels, ordered (x, y).
    max_lag : int
        Largest lag (pixels) along each axis.

    Returns
    -------
    numpy.ndarray
        (2 max_lag + 1, 2 max_lag + 1) array indexed [lag_y + max_lag, lag_x + max_lag], 1 at
        zero lag.
    """
    lag = np.arange(-max_lag, max_lag + 1, dtype=float)
    ly, lx = np.meshgrid(lag, lag, indexing="ij")
    q = ainv[0, 0] * lx**2 + 2 * ainv[0, 1] * lx * ly + ainv[1, 1] * ly**2
    return np.exp(-0.5 * q)


def noise_autocorrelation(
    data: np.ndarray,
    *,
    max_lag: int,
    bmaj_pix: float,
    bmin_pix: float,
    target_beams: float = 4000.0,
    min_beams: float = 300.0,
    clip_sigma: float = 4.0,
    mask_beams: float = 1.0,
    mask_x: np.ndarray | None = None,
    mask_y: np.ndarray | None = None,
    mask_radius_beams: float = 2.0,
    max_side: int = 1024,
) -> np.ndarray | None:
    """Measured autocorrelation of an image's noise, normalised to 1 at zero lag.

    The noise of a synthesis image is correlated over the *dirty* beam, not the restoring
    beam: its autocorrelation has the PSF's sidelobes (negative and positive), which a
    Gaussian model ignores. It is measured here on a square holding about ``target_beams``
    beam areas (the whole image when smaller; the centre or the corner square with most free
    pixels, so that a crowded centre does not measure its faint sources as noise). Pixels
    beyond ``clip_sigma`` robust sigma and their surroundings (``mask_beams``) are masked, as
    are NaN pixels and the measured positions' surroundings; the mean of the pixels left is
    subtracted and the autocorrelation is the FFT-computed mean product of the unmasked pixel
    pairs at each lag.

    Parameters
    ----------
    data : numpy.ndarray
        2-D (y, x) image (any byte order, may be memory-mapped).
    max_lag : int
        Largest lag wanted (pixels).
    bmaj_pix, bmin_pix : float
        Beam FWHM in pixels (set the region size and the source masks).
    target_beams, min_beams : float
        Beam areas wanted in the region; below ``min_beams`` unmasked beam areas the
        estimate is refused (None).
    clip_sigma : float
        Pixels beyond this many robust sigma are masked (sources).
    mask_beams : float
        Radius (beam major axes) masked around those pixels (the sources' wings).
    mask_x, mask_y : numpy.ndarray, optional
        Known source positions (0-based pixels; the positions measured), masked within
        ``mask_radius_beams`` beam major axes unless that leaves too few pixels.
    mask_radius_beams : float
        Radius of those masks.
    max_side : int
        Largest side of the region (bounds the cost on big images).

    Returns
    -------
    numpy.ndarray or None
        (2 max_lag + 1, 2 max_lag + 1) correlation indexed [lag_y + max_lag, lag_x +
        max_lag], or None when the image has too few usable pixels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> rho = noise_autocorrelation(rng.normal(size=(300, 300)), max_lag=2, bmaj_pix=1,
    ...                             bmin_pix=1)
    >>> float(rho[2, 2]), bool(abs(rho[2, 3]) < 0.02)
    (1.0, True)
    """
    from scipy import fft

    ny, nx = data.shape
    beam_area = 1.1331 * bmaj_pix * bmin_pix
    side = int(np.ceil(np.sqrt(target_beams * beam_area)))
    side = max(side, 4 * (max_lag + 1))
    sy, sx = min(ny, side, max_side), min(nx, side, max_side)
    y0, x0 = _quietest_square(data, sy, sx, mask_x, mask_y, mask_radius_beams * bmaj_pix)
    region = np.asarray(data[y0 : y0 + sy, x0 : x0 + sx], dtype=np.float64)
    finite = np.isfinite(region)
    if finite.sum() < min_beams * beam_area:
        return None
    vals = region[finite]
    vals = vals[:: max(1, vals.size // 20_000)]  # robust sigma from 2e4 pixels: ample
    med = float(np.median(vals))
    sigma = _MAD_TO_SIGMA * float(np.median(np.abs(vals - med)))
    if not np.isfinite(sigma) or sigma <= 0:
        return None
    x = np.where(finite, region - med, 0.0)
    hot = finite & (np.abs(x) > clip_sigma * sigma)
    if hot.any():
        hy, hx = np.nonzero(hot)
        hot = _disks(hot.shape, hx, hy, max(1.0, mask_beams * float(bmaj_pix)))
    mask = (finite & ~hot).astype(np.float64)
    if mask_x is not None and mask_y is not None and mask_radius_beams > 0:
        mx = np.asarray(mask_x, float) - x0
        my = np.asarray(mask_y, float) - y0
        rad = mask_radius_beams * bmaj_pix
        near = (mx > -rad) & (mx < sx + rad) & (my > -rad) & (my < sy + rad)
        if near.any():
            around = _disks((sy, sx), mx[near], my[near], rad)
            if (mask * ~around).sum() >= min_beams * beam_area:
                mask *= ~around
    if mask.sum() < min_beams * beam_area:
        return None
    # zero mean over the pixels used: an offset d would add d^2 at every lag
    used = mask > 0
    x = np.where(used, x - x[used].mean(), 0.0)
    shape = (fft.next_fast_len(sy + max_lag + 1), fft.next_fast_len(sx + max_lag + 1))
    fx = fft.rfft2(x, s=shape, workers=1)
    fm = fft.rfft2(mask, s=shape, workers=1)
    num = fft.irfft2(fx * np.conj(fx), s=shape, workers=1)
    den = fft.irfft2(fm * np.conj(fm), s=shape, workers=1)
    idx_y = np.arange(-max_lag, max_lag + 1) % shape[0]
    idx_x = np.arange(-max_lag, max_lag + 1) % shape[1]
    num = num[np.ix_(idx_y, idx_x)]
    den = np.rint(den[np.ix_(idx_y, idx_x)])
    if np.any(den < 0.25 * mask.sum()):
        return None
    acf = num / den
    return acf / acf[max_lag, max_lag]


def _disks(shape: tuple[int, int], x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """Boolean map of the pixels within ``radius`` of any of the points (x, y)."""
    out = np.zeros(shape, dtype=bool)
    if len(x) == 0:
        return out
    r = int(np.ceil(radius))
    oy, ox = np.mgrid[-r : r + 1, -r : r + 1]
    keep = ox**2 + oy**2 <= max(radius, 0.5) ** 2
    oy, ox = oy[keep], ox[keep]
    cy = np.rint(np.asarray(y, float)).astype(int)
    cx = np.rint(np.asarray(x, float)).astype(int)
    for s in range(0, cy.size, 4096):  # bounded memory: 4096 disks at a time
        py = (cy[s : s + 4096, None] + oy[None, :]).ravel()
        px = (cx[s : s + 4096, None] + ox[None, :]).ravel()
        ok = (py >= 0) & (py < shape[0]) & (px >= 0) & (px < shape[1])
        out[py[ok], px[ok]] = True
    return out


def _quietest_square(data, sy, sx, mask_x, mask_y, radius) -> tuple[int, int]:
    """Corner of the square (the centre or one of the four corners) with most free pixels.

    Free: finite (judged on a coarse grid) and not within ``radius`` of a given position.
    The centre wins ties: it is where the primary beam is best.
    """
    ny, nx = data.shape
    corners = [
        ((ny - sy) // 2, (nx - sx) // 2),
        (0, 0),
        (0, nx - sx),
        (ny - sy, 0),
        (ny - sy, nx - sx),
    ]
    if sy == ny and sx == nx:
        return corners[0]
    step = max(1, int(max(ny, nx) // 256))  # a 256^2 grid at most: cheap on any image
    coarse = np.isfinite(np.asarray(data[::step, ::step], dtype=np.float64))
    if mask_x is not None and mask_y is not None and len(mask_x):
        mx, my = np.asarray(mask_x, float) / step, np.asarray(mask_y, float) / step
        coarse &= ~_disks(coarse.shape, mx, my, radius / step)
    scores = [
        float(coarse[y0 // step : (y0 + sy) // step, x0 // step : (x0 + sx) // step].sum())
        for y0, x0 in corners
    ]
    best = int(np.argmax(np.asarray(scores) * (1.0 + 1e-9 * (np.arange(5) == 0))))
    return corners[best]


class CorrelatedNoise:
    """Statistics of a fixed-kernel amplitude fit on noise of a given autocorrelation.

    For a unit-peak kernel ``k`` on a ``w x w`` box and noise of unit variance with pixel
    correlation matrix ``C`` (built from the autocorrelation ``rho``), the least-squares
    amplitude ``a = k.d / k.k`` has variance ``k^T C k / (k.k)^2`` (:attr:`var_factor`; 4/3
    for noise correlated as a Gaussian restoring beam), and the residual sum of squares
    ``chi2 = d^T P d`` (``P = I - k k^T / k.k``) has mean ``tr(PC)`` and variance
    ``2 tr(PCPC)`` (:attr:`chi2_mean`, :attr:`chi2_var`). Its distribution, a weighted sum of
    chi-square variables, is approximated by ``g chi2_h`` with the same two moments
    (Satterthwaite), which gives :meth:`chi2_threshold`.

    Parameters
    ----------
    rho : numpy.ndarray
        (2w - 1, 2w - 1) autocorrelation on integer lags, 1 at the centre.
    kernel : numpy.ndarray
        (w, w) unit-peak beam kernel centred on the box.
    source : str
        ``"measured"`` or ``"beam"`` (what ``rho`` is), recorded in results.
    """

    def __init__(self, rho: np.ndarray, kernel: np.ndarray, source: str) -> None:
        from scipy.signal import fftconvolve

        w = kernel.shape[0]
        if rho.shape != (2 * w - 1, 2 * w - 1):
            raise ValueError("rho must cover lags -(w-1)..(w-1)")
        self.rho = rho
        self.kernel = kernel
        self.source = source
        self.w = w
        self.npix = w * w
        kk = float(np.sum(kernel * kernel))
        ak = fftconvolve(kernel, kernel[::-1, ::-1], mode="full")  # kernel autocorrelation
        kck = float(np.sum(ak * rho))
        self.var_factor = kck / kk**2
        lag = np.arange(-(w - 1), w)
        overlap = (w - np.abs(lag))[:, None] * (w - np.abs(lag))[None, :]
        tr_cc = float(np.sum(overlap * rho * rho))
        ck = fftconvolve(kernel, rho, mode="full")[w - 1 : 2 * w - 1, w - 1 : 2 * w - 1]
        kcck = float(np.sum(ck * ck))
        self.chi2_mean = self.npix - kck / kk
        self.chi2_var = 2.0 * (tr_cc - 2.0 * kcck / kk + (kck / kk) ** 2)
        #: integral of rho^2 over lags (pixels): one noise variance estimated from A pixels
        #: has relative variance 2 * sum_rho2 / A
        self.sum_rho2 = float(np.sum(rho * rho))
        self.rms_rel_var = 0.0

    def set_rms_area(self, pixels: float | None) -> None:
        """Area (pixels) of the region each local rms is estimated from (None: exact rms).

        The chi2 is divided by the estimated variance, which has relative variance
        ``2 sum_rho2 / pixels``; :meth:`chi2_threshold` includes it.
        """
        self.rms_rel_var = 0.0 if not pixels else 2.0 * self.sum_rho2 / float(pixels)

    def masked_var_factor(self, kernels: np.ndarray) -> np.ndarray:
        """Variance factor of fits using only some pixels: ``kernels`` (n, w, w), 0 where unused.

        Returns ``k_m^T C k_m / (k_m . k_m)^2`` per kernel (in units of the noise variance).
        """
        from scipy.signal import fftconvolve

        if kernels.shape[0] == 0:
            return np.empty(0)
        ak = fftconvolve(kernels, kernels[:, ::-1, ::-1], mode="full", axes=(1, 2))
        kck = np.einsum("nij,ij->n", ak, self.rho)
        kk = np.einsum("nij,nij->n", kernels, kernels)
        return kck / kk**2

    def chi2_threshold(self, alpha: float, fraction: np.ndarray | float = 1.0) -> np.ndarray:
        """Chi2 exceeded with probability ``alpha`` by a point source on this noise.

        Parameters
        ----------
        alpha : float
            False-alarm probability.
        fraction : array_like
            Fraction of the box's pixels used (blanked pixels scale the mean and variance).

        Returns
        -------
        numpy.ndarray
            The threshold (in units of the noise variance, as the fit's chi2).
        """
        from scipy.optimize import brentq
        from scipy.special import chdtrc  # chi-square survival function (a fast ufunc)

        f = np.atleast_1d(np.asarray(fraction, dtype=float))
        # the chi2 is divided by an estimated variance sigma^2 (1 + delta), delta ~ N(0, v):
        # P(X / (1 + delta) > T) = E_delta P(X > T (1 + delta)), by Gauss-Hermite quadrature
        nodes, weights = np.polynomial.hermite_e.hermegauss(24)
        weights = weights / weights.sum()
        delta = np.sqrt(self.rms_rel_var) * nodes
        keep = delta > -0.9
        delta, weights = delta[keep], weights[keep] / weights[keep].sum()
        out = np.full(f.shape, np.nan)
        uniq, inv = np.unique(f, return_inverse=True)
        vals = np.full(uniq.shape, np.nan)
        for i, fi in enumerate(uniq):
            mean, var = self.chi2_mean * fi, self.chi2_var * fi
            if not (mean > 0 and var > 0):
                continue
            g, h = var / (2.0 * mean), 2.0 * mean**2 / var

            def tail(t: float, g: float = g, h: float = h) -> float:
                return float(np.sum(weights * chdtrc(h, t * (1.0 + delta) / g))) - alpha

            lo, hi = mean, mean * 2.0
            while tail(hi) > 0:
                hi *= 2.0
            vals[i] = brentq(tail, lo, hi, rtol=1e-6) if tail(lo) > 0 else lo
        out = vals[inv.ravel()].reshape(f.shape)
        return out if np.ndim(fraction) else out[0]
