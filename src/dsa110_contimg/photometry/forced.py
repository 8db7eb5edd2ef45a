"""Forced photometry: the restoring-beam amplitude at fixed positions, with calibrated errors.

Estimator
---------
At each position the image is modelled, over a cutout of about three beams, as the restoring
beam (an elliptical Gaussian, evaluated in the image's local pixel frame through the WCS
Jacobian, so nothing assumes north-up images) times an amplitude: the peak flux density in
Jy/beam. The amplitude is the least-squares solution; with the noise rms constant over the few
beams of a cutout the noise weights cancel in the estimate and set chi2.

Positions closer than ``duplicate_beams`` (0.5 FWHM) are merged and measured once, at their
mean position (flag ``duplicate``). Sources whose separation is under ``blend_radius_beams``
(in FWHM along their separation) are fitted jointly: positions and shapes fixed, amplitudes
free. Because every kernel is a sampled Gaussian of the same covariance, the normal-equation
matrix is ``G_kl = sqrt(G_kk G_ll) exp(-d^T S^-1 d / 4)`` (``S`` the beam covariance in
pixels, ``d`` the separation), with the diagonal summed on the pixels; it is sparse, and all
joint amplitudes come from one sparse solve (isolated pairs in closed form), so time and
memory grow linearly with the positions. NaN pixels are left out of the fit (``partial``).

Errors
------
Radio image noise is correlated over the *dirty* beam. Its autocorrelation ``rho`` is
measured on the image (:func:`~dsa110_contimg.photometry.noise.noise_autocorrelation`), and
an isolated amplitude has ``flux_err = sigma sqrt(k^T C k) / k.k`` with ``C`` built from
``rho`` (:class:`~dsa110_contimg.photometry.noise.CorrelatedNoise`). For noise correlated like
the restoring beam this is ``sigma sqrt(4/3)`` whatever the sampling; a sparse array's
sidelobes change it (0.94 rms instead of 1.15 rms on an AMI-LA image). Jointly fitted
amplitudes have, in normalised form, ``Cov(a) = sigma^2 (4/3) R^-1 Q R^-1`` with
``R_kl = exp(-d^T S^-1 d / 4)`` and ``Q_kl = exp(-d^T S^-1 d / 6)``, scaled by the measured
isolated factor over 4/3, and evaluated on each position's group of at most
``max_neighbours`` (a documented approximation for very large groups). The same
autocorrelation gives the distribution of chi2 behind the ``poor_fit`` flag. See
docs/photometry.md.

Flags
-----
A bad position never raises: it gets NaN flux and a flag (see :data:`FLAGS`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from ..errors import InvalidImageError
from .beam import FWHM_TO_SIGMA, local_jacobian, pixel_covariance, sky_covariance
from .image import FitsImage, image_jy_per_unit, read_image
from .noise import (
    CorrelatedNoise,
    beam_autocorrelation,
    local_rms,
    noise_autocorrelation,
    tile_geometry,
)

__all__ = [
    "FLAGS",
    "ForcedOptions",
    "ForcedPhotometryResult",
    "measure_forced_peak",
    "measure_image",
    "measure_many",
    "result_rows",
]

log = logging.getLogger(__name__)

#: Flag names and their meaning (``flags`` is a comma-separated subset; '' when clean).
FLAGS = {
    "bad_position": "RA/Dec not finite or |Dec| > 90 (NaN flux)",
    "off_image": "position outside the image or beyond its projection (NaN flux)",
    "edge": "cutout crosses the image edge (NaN flux)",
    "blanked": (
        "a NaN/blanked pixel within centre_beams (0.5) FWHM of the position, or under "
        "min_finite_fraction (1/2) of the fitting box finite (NaN flux)"
    ),
    "bad_noise": "local noise is zero, negative or NaN (NaN flux)",
    "fit_failed": (
        "joint fit not constrained: the amplitude's variance exceeds max_variance_inflation "
        "(100) times an isolated source's (NaN flux)"
    ),
    "no_beam": "no restoring beam in the header: peak pixel in a small box (flux given)",
    "blended": "a neighbour within blended_flag_beams was fitted jointly (flux given)",
    "partial": (
        "some pixels of the fitting box are NaN: fitted on the finite pixels, error from "
        "those pixels (flux given)"
    ),
    "duplicate": (
        "positions closer than duplicate_beams (0.5 FWHM) were merged: measured once at their "
        "mean position, the result shared (flux given)"
    ),
    "poor_fit": (
        "residual chi2 above the 1 - poor_fit_alpha (99.9%) point of its distribution for a "
        "point source on this image's noise plus poor_fit_model_fraction (5%) of the model's "
        "power: a resolved source, or emission not in the position list (flux given)"
    ),
}

_INT_FIELDS = ("dof",)


@dataclass(frozen=True)
class ForcedOptions:
    """Tuning of the forced-photometry engine (all sizes in beam FWHM).

    Parameters
    ----------
    cutout_beams : float
        Side of the square fitting cutout in beam major axes.
    blend_radius_beams : float
        Positions closer than this (FWHM along the separation) are fitted jointly.
    blended_flag_beams : float
        Jointly fitted positions closer than this are flagged ``blended``.
    noise_tile_beams : float
        Side of the noise-estimation tiles.
    noise_mask_beams : float
        Radius around every given position excluded from the noise estimate.
    clip_sigma : float
        Sigma-clipping threshold of the noise estimate.
    peak_box_pix : int
        Half-width of the peak-pixel box used when the image has no beam.
    chunk_size : int
        Positions processed per batch (bounds memory).
    duplicate_beams : float
        Positions closer than this (FWHM along the separation) are merged and measured once.
    centre_beams : float
        A NaN pixel within this radius (FWHM) of the position blanks it.
    min_finite_fraction : float
        Fewer finite pixels than this fraction of the fitting box blanks the position.
    noise_correlation : str
        ``"measured"``: the noise autocorrelation is measured on the image (the errors and the
        chi2 distribution follow from it); ``"beam"``: assumed to be the restoring beam.
    poor_fit_alpha : float
        False-alarm probability of the ``poor_fit`` flag for a point source on noise.
    poor_fit_model_fraction : float
        Model error tolerated before ``poor_fit``: residual power up to this fraction squared
        of the source model's power (deconvolution and calibration errors of real images
        scale with the source's brightness).
    max_variance_inflation : float
        A jointly fitted amplitude whose variance exceeds this multiple of an isolated
        source's is ``fit_failed``.
    max_neighbours : int
        Largest group used for each jointly fitted position's error (itself included).
    """

    cutout_beams: float = 3.0
    blend_radius_beams: float = 2.5
    blended_flag_beams: float = 1.5
    noise_tile_beams: float = 8.0
    noise_mask_beams: float = 1.5
    clip_sigma: float = 3.0
    peak_box_pix: int = 1
    chunk_size: int = 8192
    duplicate_beams: float = 0.5
    centre_beams: float = 0.5
    min_finite_fraction: float = 0.5
    noise_correlation: str = "measured"
    poor_fit_alpha: float = 0.001
    poor_fit_model_fraction: float = 0.05
    max_variance_inflation: float = 100.0
    max_neighbours: int = 32


@dataclass(frozen=True)
class ForcedPhotometryResult:
    """One forced measurement (the fields are the columns of :func:`measure_many`).

    Attributes
    ----------
    source_id : str
        Identifier given, or the J-name of the position.
    ra_deg, dec_deg : float
        Position measured.
    x_pix, y_pix : float
        0-based pixel position in the image.
    flux_jy : float
        Peak flux density (Jy/beam); NaN when flagged unusable.
    flux_err_jy : float
        1-sigma error, calibrated for beam-correlated noise.
    local_rms_jy : float
        Robust local rms (or the noise map value).
    snr : float
        ``flux_jy / flux_err_jy``.
    chi2 : float
        Sum of squared, noise-normalised residuals over the cutout.
    dof : int
        Cutout pixels minus fitted amplitudes.
    flags : str
        '' when clean, else comma-separated names from :data:`FLAGS`.
    """

    source_id: str
    ra_deg: float
    dec_deg: float
    x_pix: float
    y_pix: float
    flux_jy: float
    flux_err_jy: float
    local_rms_jy: float
    snr: float
    chi2: float
    dof: int
    flags: str


COLUMNS = tuple(f.name for f in fields(ForcedPhotometryResult))


def _options(options: dict[str, Any]) -> ForcedOptions:
    known = {f.name for f in fields(ForcedOptions)}
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"unknown forced-photometry options: {sorted(unknown)}")
    return ForcedOptions(**options)


def _coords(coords: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(coords, "colnames"):
        return (
            np.asarray(coords["ra_deg"], dtype=float),
            np.asarray(coords["dec_deg"], dtype=float),
        )
    arr = np.asarray(coords, dtype=float)
    if arr.size == 0:
        return np.empty(0), np.empty(0)
    if arr.ndim == 1 and arr.size == 2:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError("coords must be a sequence of (ra_deg, dec_deg) pairs or an (N, 2) array")
    return arr[:, 0].copy(), arr[:, 1].copy()


def _world_to_pixel(image: FitsImage, ra: np.ndarray, dec: np.ndarray):
    x = np.full(ra.size, np.nan)
    y = np.full(ra.size, np.nan)
    good = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90)
    if good.any():
        w = image.wcs
        with np.errstate(all="ignore"):
            if not _is_equatorial_j2000(w):
                from astropy.coordinates import SkyCoord
                from astropy.wcs.utils import skycoord_to_pixel

                sky = SkyCoord(ra[good], dec[good], unit="deg", frame="icrs")
                px, py = skycoord_to_pixel(sky, w, origin=0, mode="all")
            elif w.has_distortion:
                px, py = w.all_world2pix(ra[good], dec[good], 0, quiet=True)
            else:
                px, py = w.wcs_world2pix(ra[good], dec[good], 0)
        x[good], y[good] = px, py
    return x, y


def _is_equatorial_j2000(wcs) -> bool:
    """RA/Dec axes in ICRS or FK5 J2000 (positions can be used as given)."""
    if not str(wcs.wcs.ctype[0]).upper().startswith("RA"):
        return False
    radesys = str(wcs.wcs.radesys or "").upper()
    if radesys in ("", "ICRS"):
        return True
    equinox = wcs.wcs.equinox
    return radesys == "FK5" and (not np.isfinite(equinox) or abs(equinox - 2000.0) < 1e-6)


def _jy_scale(image: FitsImage) -> float:
    return image_jy_per_unit(image)


def _sample_map(noise: FitsImage, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Value of a (noise) map at sky positions, nearest pixel; NaN outside."""
    x, y = _world_to_pixel(noise, ra, dec)
    ny, nx = noise.shape
    out = np.full(ra.size, np.nan)
    ok = np.isfinite(x) & np.isfinite(y) & (x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)
    if ok.any():
        ix = np.rint(x[ok]).astype(int)
        iy = np.rint(y[ok]).astype(int)
        out[ok] = np.asarray(noise.data[iy, ix], dtype=np.float64)
    return out


class _Flags:
    """Boolean flag columns, turned into strings at the end."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.cols: dict[str, np.ndarray] = {}

    def set(self, name: str, mask: np.ndarray) -> None:
        assert name in FLAGS
        col = self.cols.setdefault(name, np.zeros(self.n, dtype=bool))
        col |= mask

    def strings(self) -> np.ndarray:
        out = np.full(self.n, "", dtype=object)
        for name in FLAGS:
            col = self.cols.get(name)
            if col is None or not col.any():
                continue
            idx = np.flatnonzero(col)
            out[idx] = [f"{s},{name}" if s else name for s in out[idx]]
        return out


def _gather(data: np.ndarray, iy: np.ndarray, ix: np.ndarray, half: int) -> np.ndarray:
    """(N, w, w) float64 cutouts centred on integer pixels (caller ensures they fit).

    Indexes a sliding-window view of the (memory-mapped) image, so each cutout is copied row
    by row from the pages it touches; big-endian data are converted on the way.
    """
    w = 2 * half + 1
    if iy.size == 0:
        return np.empty((0, w, w))
    windows = np.lib.stride_tricks.sliding_window_view(data, (w, w))
    return np.asarray(windows[iy - half, ix - half], dtype=np.float64)


def _kernels(
    x: np.ndarray, y: np.ndarray, ix: np.ndarray, iy: np.ndarray, ainv: np.ndarray, half: int
) -> np.ndarray:
    """Unit-peak beam kernels on the cutout grids centred on (ix, iy), (N, w, w).

    With ``dx = fx + j`` and ``dy = fy + i`` (``fx = ix - x``), the quadratic form
    ``a dx^2 + 2 b dx dy + c dy^2`` is linear in the six monomials (1, j, i, j^2, ij, i^2), so
    the exponent of every kernel is one (N, 6) x (6, w^2) matrix product.
    """
    w = 2 * half + 1
    off = np.arange(-half, half + 1, dtype=np.float64)
    ii, jj = np.meshgrid(off, off, indexing="ij")
    basis = np.stack(
        [
            np.ones(w * w),
            jj.ravel(),
            ii.ravel(),
            jj.ravel() ** 2,
            (ii * jj).ravel(),
            ii.ravel() ** 2,
        ]
    )  # (6, w*w)
    fx = ix - x
    fy = iy - y
    a = ainv[:, 0, 0]
    b = ainv[:, 0, 1]
    c = ainv[:, 1, 1]
    coeff = np.empty((x.size, 6))
    coeff[:, 0] = a * fx * fx + 2 * b * fx * fy + c * fy * fy
    coeff[:, 1] = 2 * (a * fx + b * fy)
    coeff[:, 2] = 2 * (b * fx + c * fy)
    coeff[:, 3] = a
    coeff[:, 4] = 2 * b
    coeff[:, 5] = c
    coeff *= -0.5
    q = coeff @ basis
    np.exp(q, out=q)
    return q.reshape(x.size, w, w)


def _fwhm_pix(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ev = np.linalg.eigvalsh(cov)
    return np.sqrt(ev[..., 1]) / FWHM_TO_SIGMA, np.sqrt(ev[..., 0]) / FWHM_TO_SIGMA


def _components(n: int, pi: np.ndarray, pj: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(pi.size), (pi, pj)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels


def _mask(n: int, idx: np.ndarray) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    m[idx] = True
    return m


def _find_pairs(pos: np.ndarray, ainv: np.ndarray, fmaj: np.ndarray, radius_beams: float):
    """Pairs closer than ``radius_beams`` (FWHM along their separation): (i, j, sep, md2).

    ``md2 = d^T S^-1 d`` is the squared separation in beam sigmas (``S`` the mean covariance
    of the pair).
    """
    empty = np.empty(0, dtype=int)
    if pos.shape[0] < 2 or radius_beams <= 0:
        return empty, empty, np.empty(0), np.empty(0)
    from scipy.spatial import cKDTree

    tree = cKDTree(pos)
    pairs = tree.query_pairs(radius_beams * float(np.max(fmaj)), output_type="ndarray")
    if pairs.size == 0:
        return empty, empty, np.empty(0), np.empty(0)
    pi, pj = pairs[:, 0], pairs[:, 1]
    dvec = pos[pi] - pos[pj]
    abar = 0.5 * (ainv[pi] + ainv[pj])
    dx, dy = dvec[:, 0], dvec[:, 1]
    md2 = abar[:, 0, 0] * dx * dx + 2.0 * abar[:, 0, 1] * dx * dy + abar[:, 1, 1] * dy * dy
    sep = np.sqrt(md2) * FWHM_TO_SIGMA  # in FWHM along the separation direction
    near = sep < radius_beams
    return pi[near], pj[near], sep[near], md2[near]


def _joint_amplitudes(
    members: np.ndarray,
    pi: np.ndarray,
    pj: np.ndarray,
    rval: np.ndarray,
    b: np.ndarray,
    kk: np.ndarray,
) -> np.ndarray:
    """Least-squares amplitudes of all jointly fitted positions: one sparse solve.

    The normal matrix is ``G = D R D`` with ``D = diag(sqrt(k.k))`` and ``R`` the (sparse)
    overlap of unit-normalised kernels, so ``a = D^-1 R^-1 D^-1 b``. ``R`` has one row per
    member and non-zeros only for pairs within the blend radius: memory and time grow
    linearly with the positions (sparse LU of a planar-like graph).
    """
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import spsolve

    m = members.size
    slot = np.full(b.size, -1)
    slot[members] = np.arange(m)
    si, sj = slot[pi], slot[pj]
    rows = np.concatenate([np.arange(m), si, sj])
    cols = np.concatenate([np.arange(m), sj, si])
    # a tiny ridge keeps SuperLU away from exact singularity; it changes well-conditioned
    # amplitudes by ~1e-12 relative
    vals = np.concatenate([np.full(m, 1.0 + 1e-12), rval, rval])
    rmat = csc_matrix((vals, (rows, cols)), shape=(m, m))
    sk = np.sqrt(kk[members])
    with np.errstate(all="ignore"):
        u = np.atleast_1d(spsolve(rmat, b[members] / sk))
    return u / sk


def _local_variance_ratio(
    members: np.ndarray,
    pi: np.ndarray,
    pj: np.ndarray,
    rval: np.ndarray,
    pos: np.ndarray,
    ainv: np.ndarray,
    max_neighbours: int,
    chunk: int = 1024,
) -> np.ndarray:
    """Variance of each jointly fitted amplitude over an isolated one's (>= 1).

    Exact for a group: ``Cov(a) = sigma^2 (4/3) R^-1 Q R^-1`` in normalised form (see the
    module docstring). For large groups the inverse is dense, so each position's variance is
    taken from the joint fit of the position and its ``max_neighbours - 1`` most strongly
    overlapping neighbours (those within the blend radius): the neighbours' own neighbours
    change it only at second order in the overlaps (documented in docs/photometry.md).
    """
    out = np.empty(members.size)
    slot = np.full(pos.shape[0], -1)
    slot[members] = np.arange(members.size)
    # isolated pairs in closed form: R = [[1, r], [r, 1]], Q = [[1, q], [q, 1]]
    deg = np.bincount(np.concatenate([pi, pj]), minlength=pos.shape[0])
    lone = (deg[pi] == 1) & (deg[pj] == 1)
    if lone.any():
        r = rval[lone]
        q = r ** (2.0 / 3.0)  # exp(-md2/6) = exp(-md2/4)^(2/3)
        v = (1.0 - 2.0 * r * q + r * r) / (1.0 - r * r) ** 2
        out[slot[pi[lone]]] = v
        out[slot[pj[lone]]] = v
        pi, pj, rval = pi[~lone], pj[~lone], rval[~lone]
    if pi.size == 0:
        return out
    rest = np.unique(np.concatenate([pi, pj]))
    dst = np.concatenate([pi, pj])
    src = np.concatenate([pj, pi])
    r = np.concatenate([rval, rval])
    order = np.lexsort((-r, dst))
    dst, src = dst[order], src[order]
    first = np.r_[0, np.flatnonzero(dst[1:] != dst[:-1]) + 1]
    rank = np.arange(dst.size) - np.repeat(first, np.diff(np.r_[first, dst.size]))
    keep = rank < max(1, max_neighbours - 1)
    dst, src, rank = dst[keep], src[keep], rank[keep]
    width = int(rank.max()) + 2
    rslot = np.full(pos.shape[0], -1)
    rslot[rest] = np.arange(rest.size)
    nb = np.full((rest.size, width), -1)
    nb[:, 0] = rest
    nb[rslot[dst], rank + 1] = src
    eye = np.eye(width)
    for s in range(0, rest.size, chunk):
        idx = nb[s : s + chunk]
        valid = idx >= 0
        safe = np.where(valid, idx, idx[:, :1])
        p = pos[safe]  # (g, M, 2)
        a = ainv[safe]  # (g, M, 2, 2)
        d = p[:, :, None, :] - p[:, None, :, :]  # (g, M, M, 2)
        # d^T (A_j + A_l)/2 d, elementwise (einsum with three operands is slow here)
        a00 = a[:, :, 0, 0]
        a01 = a[:, :, 0, 1]
        a11 = a[:, :, 1, 1]
        s00 = 0.5 * (a00[:, :, None] + a00[:, None, :])
        s01 = 0.5 * (a01[:, :, None] + a01[:, None, :])
        s11 = 0.5 * (a11[:, :, None] + a11[:, None, :])
        dx, dy = d[..., 0], d[..., 1]
        md2 = s00 * dx * dx + 2.0 * s01 * dx * dy + s11 * dy * dy
        vv = valid[:, :, None] & valid[:, None, :]
        rmat = np.where(vv, np.exp(-0.25 * md2), eye)
        qmat = np.where(vv, np.exp(-md2 / 6.0), 0.0)
        e0 = np.zeros(idx.shape + (1,))
        e0[:, 0, 0] = 1.0
        with np.errstate(all="ignore"):
            try:
                v = np.linalg.solve(rmat, e0)[:, :, 0]
            except np.linalg.LinAlgError:
                v = (np.linalg.pinv(rmat) @ e0)[:, :, 0]
            out[slot[rest[s : s + chunk]]] = np.sum(v * (qmat @ v[:, :, None])[:, :, 0], axis=1)
    return out  # (R^-1 Q R^-1)_00, 1 for an isolated position


def _noise_model(
    image, ainv_c: np.ndarray, half: int, opts: ForcedOptions, xy: np.ndarray
) -> CorrelatedNoise:
    """Return the noise autocorrelation (measured, or the beam model) and its statistics."""
    w = 2 * half + 1
    zero = np.zeros(1)
    kernel = _kernels(zero, zero, zero, zero, ainv_c[None], half)[0]
    rho = None
    if opts.noise_correlation == "measured":
        fmaj, fmin = _fwhm_pix(np.linalg.inv(ainv_c))
        rho = noise_autocorrelation(
            image.data,
            max_lag=w - 1,
            bmaj_pix=float(fmaj),
            bmin_pix=float(fmin),
            mask_x=xy[:, 0],
            mask_y=xy[:, 1],
        )
        if rho is None:
            log.debug(
                "%s: too few noise pixels to measure the noise autocorrelation; "
                "using the restoring beam's",
                image.path,
            )
    elif opts.noise_correlation != "beam":
        raise ValueError(
            f"noise_correlation must be 'measured' or 'beam', not {opts.noise_correlation!r}"
        )
    source = "measured"
    if rho is None:
        rho = beam_autocorrelation(ainv_c, w - 1)
        source = "beam"
    return CorrelatedNoise(rho, kernel, source)


def _measure_with_beam(image, x, y, ok, sigma, bkg, opts, flags, out, meta):
    ny, nx = image.shape
    nall = flags.n
    beam = image.beam
    sky_cov = sky_covariance(beam.bmaj_deg, beam.bmin_deg, beam.bpa_deg)
    sel = np.flatnonzero(ok)
    if sel.size == 0:
        return
    jac = local_jacobian(image.wcs, x[sel], y[sel])
    cov = pixel_covariance(sky_cov, jac)
    ainv_all = np.linalg.inv(cov)
    fmaj_all, _ = _fwhm_pix(cov)
    half = max(2, int(np.ceil(0.5 * opts.cutout_beams * np.max(fmaj_all))))
    w = 2 * half + 1
    npix = w * w
    # --- near-duplicates: merged, measured once at their mean position, shared
    pos_all = np.column_stack([x[sel], y[sel]])
    # one pair search serves both the duplicates and (when there are none) the blends
    # listed neighbours whose beams reach into a box (beyond the box's half-diagonal plus
    # 1.5 beams they add < 1e-3 of their peak) are subtracted before the box's chi2
    chi2_radius = max(opts.blend_radius_beams, 0.5 * opts.cutout_beams * np.sqrt(2.0) + 1.5)
    ai, aj, asep, amd2 = _find_pairs(
        pos_all, ainv_all, fmaj_all, max(chi2_radius, opts.duplicate_beams)
    )
    dup = asep < opts.duplicate_beams
    any_dup = bool(dup.any())
    labels = _components(sel.size, ai[dup], aj[dup]) if any_dup else np.arange(sel.size)
    nrep = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=nrep)
    _, first = np.unique(labels, return_index=True)
    pos = np.column_stack(
        [
            np.bincount(labels, weights=pos_all[:, 0], minlength=nrep) / counts,
            np.bincount(labels, weights=pos_all[:, 1], minlength=nrep) / counts,
        ]
    )
    flags.set("duplicate", _mask(nall, sel[counts[labels] > 1]))
    ainv, fmaj, sig = ainv_all[first], fmaj_all[first], sigma[sel[first]]
    ix = np.rint(pos[:, 0]).astype(np.intp)
    iy = np.rint(pos[:, 1]).astype(np.intp)
    inside = (ix - half >= 0) & (ix + half < nx) & (iy - half >= 0) & (iy + half < ny)
    noise_bad = ~(np.isfinite(sig) & (sig > 0))
    flags.set("edge", _mask(nall, sel[~inside[labels]]))
    flags.set("bad_noise", _mask(nall, sel[(noise_bad & inside)[labels]]))
    krep = np.flatnonzero(inside & ~noise_bad)
    rep_to_k = np.full(nrep, -1)
    rep_to_k[krep] = np.arange(krep.size)
    pos, ainv, fmaj, sig, ix, iy = pos[krep], ainv[krep], fmaj[krep], sig[krep], ix[krep], iy[krep]
    n = krep.size
    if n == 0:
        return
    # --- noise model: autocorrelation of the noise and what it implies for the fit
    xc, yc = np.array([(nx - 1) / 2.0]), np.array([(ny - 1) / 2.0])
    with np.errstate(all="ignore"):
        ainv_c = np.linalg.inv(pixel_covariance(sky_cov, local_jacobian(image.wcs, xc, yc))[0])
    if not np.all(np.isfinite(ainv_c)):  # the image centre is off the sky (odd projections)
        ainv_c = ainv[0]
    model = _noise_model(image, ainv_c, half, opts, pos_all)
    if not meta.get("noise_from_map"):
        fmaj_c, fmin_c = _fwhm_pix(np.linalg.inv(ainv_c))
        _, tile = tile_geometry(image.shape, float(fmaj_c), float(fmin_c), opts.noise_tile_beams)
        model.set_rms_area(tile * tile)
    meta["noise_correlation"] = model.source
    meta["flux_var_factor"] = model.var_factor
    # --- pairs fitted jointly
    if any_dup:
        ci, cj, csep, cmd2 = _find_pairs(pos, ainv, fmaj, chi2_radius)
    else:  # the positions are their own representatives: keep the pairs between kept ones
        ki, kj = rep_to_k[ai], rep_to_k[aj]
        keep_pair = (ki >= 0) & (kj >= 0) & (asep < chi2_radius)
        ci, cj, csep, cmd2 = ki[keep_pair], kj[keep_pair], asep[keep_pair], amd2[keep_pair]
    near = csep < opts.blend_radius_beams  # fitted jointly
    pi, pj, sep, md2 = ci[near], cj[near], csep[near], cmd2[near]
    member = np.zeros(n, dtype=bool)  # boxes whose chi2 needs neighbour models subtracted
    member[ci] = True
    member[cj] = True
    mslot = np.full(n, -1)
    mslot[member] = np.arange(int(member.sum()))
    md = np.empty((int(member.sum()), w, w), dtype=np.float32)
    mk = np.empty_like(md)
    mm = np.ones_like(md)  # finite-pixel masks of jointly fitted boxes (1 = used)
    b = np.empty(n)
    kk = np.empty(n)
    dd = np.empty(n)
    nfin = np.empty(n, dtype=np.int64)
    blank = np.zeros(n, dtype=bool)
    part_idx, part_k = [], []
    chunk = max(1, int(opts.chunk_size))
    for s in range(0, n, chunk):
        c = slice(s, s + chunk)
        d = _gather(image.data, iy[c], ix[c], half)
        if bkg is not None:
            d -= _gather(bkg.data, iy[c], ix[c], half)
        k = _kernels(pos[c, 0], pos[c, 1], ix[c], iy[c], ainv[c], half)
        dd[c] = np.einsum("nij,nij->n", d, d)
        nfin[c] = npix
        holes = np.flatnonzero(~np.isfinite(dd[c]))  # NaN (or inf) pixels in the box
        if holes.size:
            fin = np.isfinite(d[holes])
            nf = fin.sum(axis=(1, 2))
            nfin[s + holes] = nf
            # the centre (within centre_beams FWHM: kernel above exp(-4 ln2 r^2)) must be
            # finite and at least min_finite_fraction of the box left; else blanked
            kmin = np.exp(-4.0 * np.log(2.0) * opts.centre_beams**2)
            centre_hit = ((k[holes] >= kmin) & ~fin).any(axis=(1, 2))
            bad = centre_hit | (nf < opts.min_finite_fraction * npix)
            blank[s + holes[bad]] = True
            d[holes] = np.where(fin, d[holes], 0.0)
            k[holes] = k[holes] * fin
            dd[s + holes] = np.einsum("nij,nij->n", d[holes], d[holes])
            good = holes[~bad]
            if good.size:
                part_idx.append(s + good)
                part_k.append(k[good].copy())
            hm = holes[member[c][holes]]
            if hm.size:
                mm[mslot[c][hm]] = fin[member[c][holes]]
        b[c] = np.einsum("nij,nij->n", k, d)
        kk[c] = np.einsum("nij,nij->n", k, k)
        mem = member[c]
        if mem.any():
            md[mslot[c][mem]] = d[mem]
            mk[mslot[c][mem]] = k[mem]
    var = np.full(n, model.var_factor)
    partial = np.zeros(n, dtype=bool)
    if part_idx:
        pidx = np.concatenate(part_idx)
        partial[pidx] = True
        var[pidx] = model.masked_var_factor(np.concatenate(part_k))
    if blank.any() and ci.size:
        good_pair = ~(blank[pi] | blank[pj])
        pi, pj, sep, md2 = pi[good_pair], pj[good_pair], sep[good_pair], md2[good_pair]
        good_c = ~(blank[ci] | blank[cj])
        ci, cj = ci[good_c], cj[good_c]
    with np.errstate(invalid="ignore", divide="ignore"):
        amp = b / kk
        chi2 = (dd - 2.0 * amp * b + amp * amp * kk) / sig**2
    failed = np.zeros(n, dtype=bool)
    nnb = np.zeros(n, dtype=int)
    blended = np.zeros(n, dtype=bool)
    if pi.size:
        close = sep < opts.blended_flag_beams
        blended[pi[close]] = True
        blended[pj[close]] = True
        np.add.at(nnb, pi, 1)
        np.add.at(nnb, pj, 1)
        rval = np.exp(-0.25 * md2)
        members = np.unique(np.concatenate([pi, pj]))
        deg = np.bincount(np.concatenate([pi, pj]), minlength=n)
        lone = (deg[pi] == 1) & (deg[pj] == 1)  # isolated pairs: 2 x 2 solves in closed form
        if lone.any():
            i, j, r = pi[lone], pj[lone], rval[lone]
            ui, uj = b[i] / np.sqrt(kk[i]), b[j] / np.sqrt(kk[j])
            with np.errstate(all="ignore"):
                det = 1.0 - r * r
                amp[i] = (ui - r * uj) / det / np.sqrt(kk[i])
                amp[j] = (uj - r * ui) / det / np.sqrt(kk[j])
        if not lone.all():
            rest = np.unique(np.concatenate([pi[~lone], pj[~lone]]))
            amp[rest] = _joint_amplitudes(rest, pi[~lone], pj[~lone], rval[~lone], b, kk)
        inflation = _local_variance_ratio(
            members, pi, pj, rval, pos, ainv, max(2, int(opts.max_neighbours))
        )
        var[members] *= inflation
        bad = ~np.isfinite(inflation) | (inflation > opts.max_variance_inflation)
        bad |= ~np.isfinite(amp[members])
        failed[members[bad]] = True
    if ci.size:
        _blend_chi2(md, mk, mm, mslot, pos, ainv, ix, iy, amp, ci, cj, half, sig, chi2)
    amp[failed] = np.nan
    var[failed] = np.nan
    err = sig * np.sqrt(var)
    threshold = model.chi2_threshold(opts.poor_fit_alpha, nfin / npix)
    meta["chi2_threshold_full_box"] = float(model.chi2_threshold(opts.poor_fit_alpha))
    with np.errstate(invalid="ignore"):
        # tolerated model error: residual power up to poor_fit_model_fraction^2 of the
        # source's own model power (sum (a k)^2 / sigma^2), as CLEAN and calibration leave
        # around every bright point source of a real image
        tolerated = (opts.poor_fit_model_fraction * amp) ** 2 * kk / sig**2
        poor = ~blank & ~failed & (chi2 > threshold + tolerated)
    # --- back to the input rows (every member of a merged group gets its group's result)
    kidx = rep_to_k[labels]
    has = kidx >= 0
    tgt, src = sel[has], kidx[has]
    valid = ~blank[src]
    tv, sv = tgt[valid], src[valid]
    out["flux_jy"][tv] = amp[sv]
    out["flux_err_jy"][tv] = err[sv]
    out["chi2"][tv] = np.where(failed, np.nan, chi2)[sv]
    out["dof"][tv] = (nfin - 1 - nnb)[sv]
    flags.set("blanked", _mask(nall, tgt[blank[src]]))
    flags.set("partial", _mask(nall, tv[partial[sv]]))
    flags.set("fit_failed", _mask(nall, tv[failed[sv]]))
    flags.set("blended", _mask(nall, tv[blended[sv]]))
    flags.set("poor_fit", _mask(nall, tv[poor[sv]]))


def _blend_chi2(md, mk, mm, mslot, pos, ainv, ix, iy, amp, pi, pj, half, sigma, chi2, chunk=16384):
    """Chi2 of boxes with the models of every listed neighbour that reaches them subtracted."""
    members = np.flatnonzero(mslot >= 0)
    resid = md  # modified in place (the cutouts are not needed afterwards)
    amp_m = np.nan_to_num(amp[members]).astype(np.float32)
    resid[mslot[members]] -= amp_m[:, None, None] * mk[mslot[members]]
    # directed pairs: the model of `src` evaluated on the cutout of `dst`, in bounded chunks
    dst_all = np.concatenate([pi, pj])
    src_all = np.concatenate([pj, pi])
    for s in range(0, dst_all.size, chunk):
        dst, src = dst_all[s : s + chunk], src_all[s : s + chunk]
        kn = _kernels(pos[src, 0], pos[src, 1], ix[dst], iy[dst], ainv[src], half)
        kn *= np.nan_to_num(amp[src])[:, None, None]
        kn = kn.astype(np.float32)
        # subtract rank by rank, so that no cutout repeats within one assignment
        order = np.argsort(dst, kind="stable")
        dsorted = dst[order]
        first = np.r_[0, np.flatnonzero(dsorted[1:] != dsorted[:-1]) + 1]
        rank = np.arange(dst.size) - np.repeat(first, np.diff(np.r_[first, dst.size]))
        rows = np.empty(dst.size, dtype=int)
        rows[order] = rank
        for r in range(int(rank.max()) + 1 if rank.size else 0):
            sel = rows == r
            resid[mslot[dst[sel]]] -= kn[sel]
    res = resid[mslot[members]] * mm[mslot[members]]  # blanked pixels take no part
    with np.errstate(invalid="ignore"):
        chi2[members] = np.einsum("nij,nij->n", res, res, dtype=np.float64) / sigma[members] ** 2


def _measure_peak(image, x, y, ok, sigma, bkg, opts, flags, out):
    """No beam: the highest pixel in a small box around each position."""
    ny, nx = image.shape
    sel = np.flatnonzero(ok)
    flags.set("no_beam", ok)
    if sel.size == 0:
        return
    half = max(0, int(opts.peak_box_pix))
    ix = np.rint(x[sel]).astype(np.intp)
    iy = np.rint(y[sel]).astype(np.intp)
    inside = (ix - half >= 0) & (ix + half < nx) & (iy - half >= 0) & (iy + half < ny)
    edge = np.zeros(flags.n, dtype=bool)
    edge[sel[~inside]] = True
    flags.set("edge", edge)
    noise_bad = ~(np.isfinite(sigma[sel]) & (sigma[sel] > 0))
    bad = np.zeros(flags.n, dtype=bool)
    bad[sel[noise_bad & inside]] = True
    flags.set("bad_noise", bad)
    keep = inside & ~noise_bad
    sel, ix, iy = sel[keep], ix[keep], iy[keep]
    if sel.size == 0:
        return
    d = _gather(image.data, iy, ix, half)
    if bkg is not None:
        d -= _gather(bkg.data, iy, ix, half)
    d = d.reshape(sel.size, -1)
    blank = ~np.isfinite(d).all(axis=1)
    mask = np.zeros(flags.n, dtype=bool)
    mask[sel[blank]] = True
    flags.set("blanked", mask)
    good = sel[~blank]
    out["flux_jy"][good] = d[~blank].max(axis=1)
    out["flux_err_jy"][good] = sigma[good]
    out["dof"][good] = 0


def measure_image(
    image: FitsImage,
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    *,
    source_ids: Sequence[str] | None = None,
    noise_map: FitsImage | None = None,
    background: FitsImage | None = None,
    options: ForcedOptions | None = None,
) -> Table:
    """Measure positions on an already opened image (see :func:`measure_many`).

    Parameters
    ----------
    image : FitsImage
        The image, as returned by :func:`~dsa110_contimg.photometry.image.read_image`.
    ra_deg, dec_deg : numpy.ndarray
        Positions (N,).
    source_ids : sequence of str, optional
        One identifier per position (default: the J-name of the position).
    noise_map, background : FitsImage, optional
        Noise rms map (sampled at each position) and background map (same grid as the
        image, subtracted from the cutouts).
    options : ForcedOptions, optional
        Engine tuning.

    Returns
    -------
    astropy.table.Table
        One row per position, in input order; columns as :class:`ForcedPhotometryResult`.
    """
    opts = options or ForcedOptions()
    ra = np.asarray(ra_deg, dtype=float).ravel()
    dec = np.asarray(dec_deg, dtype=float).ravel()
    n = ra.size
    if dec.size != n:
        raise ValueError("ra_deg and dec_deg must have the same length")
    if background is not None and background.shape != image.shape:
        raise InvalidImageError(
            f"background map shape {background.shape} differs from the image's {image.shape}",
            path=background.path,
        )
    scale = _jy_scale(image)  # an unknown BUNIT fails here, before any work
    flags = _Flags(n)
    x, y = _world_to_pixel(image, ra, dec)
    finite = np.isfinite(x) & np.isfinite(y)
    valid_sky = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90)
    flags.set("bad_position", ~valid_sky)
    ny, nx = image.shape
    with np.errstate(invalid="ignore"):
        on = finite & (x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)
    flags.set("off_image", valid_sky & ~on)  # includes positions the projection cannot reach
    out = {
        "flux_jy": np.full(n, np.nan),
        "flux_err_jy": np.full(n, np.nan),
        "local_rms_jy": np.full(n, np.nan),
        "chi2": np.full(n, np.nan),
        "dof": np.zeros(n, dtype=np.int64),
    }
    sigma = np.full(n, np.nan)
    beam = image.beam
    if on.any():
        if noise_map is not None:
            sigma[on] = _sample_map(noise_map, ra[on], dec[on])
        else:
            if beam is not None:
                sky_cov = sky_covariance(beam.bmaj_deg, beam.bmin_deg, beam.bpa_deg)
                xc, yc = np.array([(nx - 1) / 2.0]), np.array([(ny - 1) / 2.0])
                fmaj, fmin = _fwhm_pix(
                    pixel_covariance(sky_cov, local_jacobian(image.wcs, xc, yc))[0]
                )
            else:
                fmaj = fmin = 3.0
            sigma[on] = local_rms(
                image.data,
                x[on],
                y[on],
                bmaj_pix=float(fmaj),
                bmin_pix=float(fmin),
                tile_beams=opts.noise_tile_beams,
                mask_radius_beams=opts.noise_mask_beams,
                clip_sigma=opts.clip_sigma,
            )
    if noise_map is not None:
        # the noise map may be in other units than the image (Jy vs mJy per beam)
        sigma *= _jy_scale(noise_map) / _jy_scale(image)
    meta: dict[str, Any] = {"noise_from_map": noise_map is not None}
    if beam is not None:
        _measure_with_beam(image, x, y, on, sigma, background, opts, flags, out, meta)
    else:
        _measure_peak(image, x, y, on, sigma, background, opts, flags, out)
    out["local_rms_jy"] = sigma * scale
    out["flux_jy"] *= scale
    out["flux_err_jy"] *= scale
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = out["flux_jy"] / out["flux_err_jy"]
    if source_ids is None:
        ids = np.full(n, "", dtype=object)
        good = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90)
        if good.any():
            from ..catalog.ids import position_source_ids

            ids[good] = position_source_ids(ra[good], dec[good])
    else:
        ids = np.asarray([str(s) for s in source_ids], dtype=object)
        if ids.size != n:
            raise ValueError(f"{ids.size} source_ids for {n} positions")
    table = Table()
    table["source_id"] = np.asarray(ids, dtype=str) if n else np.array([], dtype=str)
    table["ra_deg"] = ra
    table["dec_deg"] = dec
    table["x_pix"] = x
    table["y_pix"] = y
    table["flux_jy"] = out["flux_jy"]
    table["flux_err_jy"] = out["flux_err_jy"]
    table["local_rms_jy"] = out["local_rms_jy"]
    table["snr"] = snr
    table["chi2"] = out["chi2"]
    table["dof"] = out["dof"]
    strings = flags.strings()
    table["flags"] = np.asarray(strings, dtype=str) if n else np.array([], dtype=str)
    table.meta["image"] = str(image.path)
    table.meta.update(meta)
    if beam is not None:
        table.meta["bmaj_deg"], table.meta["bmin_deg"], table.meta["bpa_deg"] = (
            beam.bmaj_deg,
            beam.bmin_deg,
            beam.bpa_deg,
        )
    return table


def measure_many(
    fits_path: str | Path | FitsImage,
    coords: Any,
    *,
    source_ids: Sequence[str] | None = None,
    noise_map_path: str | Path | None = None,
    background_path: str | Path | None = None,
    **options: Any,
) -> Table:
    """Measure the flux density at many positions on one image (read once).

    Parameters
    ----------
    fits_path : str, Path or FitsImage
        The image (2-D or 4-D FITS, any celestial projection).
    coords : array_like or Table
        (ra_deg, dec_deg) pairs, an (N, 2) array, or a table with ``ra_deg``/``dec_deg``.
    source_ids : sequence of str, optional
        Identifiers (default: the J-name of each position).
    noise_map_path : str or Path, optional
        rms map sampled at each position instead of the local estimate.
    background_path : str or Path, optional
        Background map on the image's grid, subtracted before fitting.
    **options
        Fields of :class:`ForcedOptions` (e.g. ``cutout_beams=3``).

    Returns
    -------
    astropy.table.Table
        One row per position in input order: ``source_id, ra_deg, dec_deg, x_pix, y_pix,
        flux_jy, flux_err_jy, local_rms_jy, snr, chi2, dof, flags``.

    Raises
    ------
    InvalidImageError
        If the image (or a map) is not a FITS image with a celestial WCS. A bad position never
        raises: it gets NaN flux and a flag.

    Examples
    --------
    >>> import tempfile, os
    >>> from dsa110_contimg.simulation import make_fits_image
    >>> p = os.path.join(tempfile.mkdtemp(), "im.fits")
    >>> truth = make_fits_image(p, shape=(256, 256), n_sources=5, noise_jy=1e-3, seed=4)
    >>> t = measure_many(p, list(zip(truth["ra_deg"], truth["dec_deg"])))
    >>> bool(np.all(np.abs(t["flux_jy"] - truth["flux_jy"]) < 5 * t["flux_err_jy"]))
    True
    """
    opts = _options(options)
    image = fits_path if isinstance(fits_path, FitsImage) else read_image(fits_path)
    ra, dec = _coords(coords)
    if source_ids is None and hasattr(coords, "colnames") and "source_id" in coords.colnames:
        source_ids = [str(s) for s in coords["source_id"]]
    noise = read_image(noise_map_path) if noise_map_path is not None else None
    bkg = read_image(background_path) if background_path is not None else None
    return measure_image(
        image, ra, dec, source_ids=source_ids, noise_map=noise, background=bkg, options=opts
    )


def measure_forced_peak(
    fits_path: str | Path | FitsImage,
    ra_deg: float,
    dec_deg: float,
    **kw: Any,
) -> ForcedPhotometryResult:
    """Measure the flux density at one position (a thin wrapper over :func:`measure_many`).

    Parameters
    ----------
    fits_path : str, Path or FitsImage
        The image.
    ra_deg, dec_deg : float
        Position.
    **kw
        ``source_id`` (str), and any keyword of :func:`measure_many`.

    Returns
    -------
    ForcedPhotometryResult
        The measurement.

    Examples
    --------
    >>> import tempfile, os
    >>> from dsa110_contimg.simulation import make_fits_image
    >>> p = os.path.join(tempfile.mkdtemp(), "im.fits")
    >>> _ = make_fits_image(p, shape=(128, 128), sources=[(180.0, 55.0, 0.2)], seed=1)
    >>> r = measure_forced_peak(p, 180.0, 55.0)
    >>> abs(r.flux_jy - 0.2) < 5 * r.flux_err_jy, r.flags
    (True, '')
    """
    source_id = kw.pop("source_id", None)
    ids = [source_id] if source_id is not None else kw.pop("source_ids", None)
    table = measure_many(fits_path, [(ra_deg, dec_deg)], source_ids=ids, **kw)
    return result_rows(table)[0]


def result_rows(table: Table) -> list[ForcedPhotometryResult]:
    """Rows of a :func:`measure_many` table as :class:`ForcedPhotometryResult` records.

    Parameters
    ----------
    table : astropy.table.Table
        Output of :func:`measure_many`.

    Returns
    -------
    list of ForcedPhotometryResult
        One record per row.
    """
    out = []
    for row in table:
        out.append(
            ForcedPhotometryResult(
                **{
                    name: (
                        str(row[name])
                        if name in ("source_id", "flags")
                        else int(row[name])
                        if name in _INT_FIELDS
                        else float(row[name])
                    )
                    for name in COLUMNS
                }
            )
        )
    return out
