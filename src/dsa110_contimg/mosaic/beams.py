"""Restoring beams of mosaic inputs: the common beam and the convolution to it.

A Gaussian restoring beam is described by its covariance matrix in the local (east, north)
plane, ``Sigma = R diag(s_maj**2, s_min**2) R.T`` with ``s = FWHM / sqrt(8 ln 2)`` and ``R`` the
rotation by the position angle (from north through east). Convolving two Gaussians adds their
covariances, so an input beam ``Sigma_i`` can be brought to a target ``Sigma_c`` by a Gaussian
kernel exactly when ``Sigma_c - Sigma_i`` is positive semi-definite, which is also exactly the
condition that the FWHM ellipse of ``Sigma_c`` encloses the one of ``Sigma_i``.

The common beam of a mosaic is therefore the **smallest-area ellipse enclosing every input
beam**: ``Sigma_c`` minimising ``det(Sigma_c)`` subject to ``Sigma_c >= Sigma_i`` for all
inputs (a convex problem, solved exactly for two beams by simultaneous diagonalisation and
refined numerically from that feasible start for more).
"""

from __future__ import annotations

import math

import numpy as np

from ..photometry.beam import FWHM_TO_SIGMA, pixel_covariance, sky_covariance
from ..photometry.image import Beam

__all__ = [
    "gaussian_convolve",
    "noise_scale",
    "beam_area_ratio",
    "beam_covariance",
    "common_beam",
    "convolution_kernel",
    "covariance_to_beam",
    "deconvolve",
]

def beam_covariance(beam: Beam) -> np.ndarray:
    """Return the 2x2 covariance (deg^2) of a beam in the (east, north) plane.

    Examples
    --------
    >>> c = beam_covariance(Beam(2.0, 1.0, 0.0))   # major axis north
    >>> bool(c[1, 1] > c[0, 0])
    True
    """
    return sky_covariance(beam.bmaj_deg, beam.bmin_deg, beam.bpa_deg)


def covariance_to_beam(cov: np.ndarray) -> Beam:
    """Return the beam of a 2x2 covariance in the (east, north) plane (inverse of the above).

    Examples
    --------
    >>> b = covariance_to_beam(beam_covariance(Beam(3.0, 2.0, 30.0)))
    >>> round(b.bmaj_deg, 9), round(b.bmin_deg, 9), round(b.bpa_deg, 6)
    (3.0, 2.0, 30.0)
    """
    cov = 0.5 * (np.asarray(cov, dtype=float) + np.asarray(cov, dtype=float).T)
    vals, vecs = np.linalg.eigh(cov)
    vals = np.clip(vals, 0.0, None)
    smin2, smaj2 = float(vals[0]), float(vals[1])
    east, north = float(vecs[0, 1]), float(vecs[1, 1])
    pa = math.degrees(math.atan2(east, north))
    while pa <= -90.0:
        pa += 180.0
    while pa > 90.0:
        pa -= 180.0
    if math.isclose(smaj2, smin2, rel_tol=1e-12):
        pa = 0.0
    to_fwhm = 1.0 / float(FWHM_TO_SIGMA)
    return Beam(math.sqrt(smaj2) * to_fwhm, math.sqrt(smin2) * to_fwhm, float(pa))


def _enclose_two(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest covariance >= both ``a`` and ``b`` (exact, by simultaneous diagonalisation)."""
    chol = np.linalg.cholesky(a)
    inv = np.linalg.inv(chol)
    bb = inv @ b @ inv.T
    vals, vecs = np.linalg.eigh(0.5 * (bb + bb.T))
    out = chol @ vecs @ np.diag(np.maximum(vals, 1.0)) @ vecs.T @ chol.T
    return 0.5 * (out + out.T)


def _min_margin(cov: np.ndarray, covs: list[np.ndarray]) -> float:
    return min(float(np.linalg.eigvalsh(cov - c)[0]) for c in covs)


def common_beam(beams: list[Beam]) -> Beam:
    """Return the smallest-area beam whose ellipse encloses every beam of ``beams``.

    Every input can then be convolved to it (see :func:`convolution_kernel`).

    Parameters
    ----------
    beams : list of Beam
        The restoring beams of the inputs (at least one).

    Returns
    -------
    Beam
        The common beam; identical to the input when all inputs are equal.

    Examples
    --------
    >>> b = common_beam([Beam(2.0, 1.0, 0.0), Beam(2.0, 1.0, 90.0)])
    >>> round(b.bmaj_deg, 6), round(b.bmin_deg, 6)
    (2.0, 2.0)
    """
    if not beams:
        raise ValueError("common_beam needs at least one beam")
    covs = [beam_covariance(b) for b in beams]
    scale = max(float(np.trace(c)) for c in covs)
    covs = [c / scale for c in covs]  # work near unit magnitude
    best = covs[0]
    for c in covs[1:]:
        best = _enclose_two(best, c)
    # ``best`` encloses every input; it is optimal for one or two distinct beams. With more,
    # refine: maximise -log det subject to every (cov - c_i) being positive semi-definite.
    distinct = {tuple(np.round(c.ravel(), 12)) for c in covs}
    if len(distinct) > 2:
        from scipy.optimize import minimize

        def unpack(p: np.ndarray) -> np.ndarray:
            return np.array([[p[0], p[1]], [p[1], p[2]]])

        cons = [
            {"type": "ineq", "fun": (lambda p, c=c: float(np.linalg.eigvalsh(unpack(p) - c)[0]))}
            for c in covs
        ]
        start = np.array([best[0, 0], best[0, 1], best[1, 1]])
        res = minimize(
            lambda p: float(np.log(max(np.linalg.det(unpack(p)), 1e-300))),
            start,
            method="SLSQP",
            constraints=cons,
            options={"ftol": 1e-12, "maxiter": 200},
        )
        if res.success:
            cand = unpack(res.x)
            margin = _min_margin(cand, covs)
            if margin < 0:  # nudge onto the feasible side
                cand = cand + (-margin + 1e-12) * np.eye(2)
            if np.linalg.det(cand) < np.linalg.det(best):
                best = cand
    return covariance_to_beam(best * scale)


def beam_area_ratio(target: Beam, beam: Beam) -> float:
    """Return ``area(target) / area(beam)`` (the Jy/beam rescale after convolving to target)."""
    return (target.bmaj_deg * target.bmin_deg) / (beam.bmaj_deg * beam.bmin_deg)


def noise_scale(target: Beam, beam: Beam) -> float:
    """Factor by which convolving to ``target`` (and rescaling to Jy/target beam) scales the rms.

    Image noise correlated like the restoring beam is white noise filtered by a Gaussian of
    half the beam covariance ``S = Sigma_in / 2`` (its autocorrelation is then the beam). The
    kernel adds ``Sigma_k = Sigma_c - Sigma_in`` to that filter, and the variance of filtered
    white noise goes as ``det(S)^-1/2``; with the beam-area rescale ``r`` the rms becomes::

        sigma' / sigma = r * (det(S) / det(S + Sigma_k)) ** (1/4)

    Examples
    --------
    >>> b = Beam(1.0, 1.0, 0.0)
    >>> noise_scale(b, b)
    1.0
    >>> round(noise_scale(Beam(2.0, 2.0, 0.0), b), 4)   # r = 4, (1/2 / 7/2)^(1/2)
    1.5119
    """
    ct, cb = beam_covariance(target), beam_covariance(beam)
    half = 0.5 * cb
    ratio = float(np.linalg.det(half) / np.linalg.det(half + (ct - cb)))
    return float(beam_area_ratio(target, beam) * ratio**0.25)


def deconvolve(target: Beam, beam: Beam) -> np.ndarray | None:
    """Return the covariance (deg^2, east/north) of the kernel taking ``beam`` to ``target``.

    ``None`` when the two beams are equal to within 1e-6 of the target's area (no convolution
    needed). Raises ``ValueError`` when ``target`` does not enclose ``beam``.
    """
    ct, cb = beam_covariance(target), beam_covariance(beam)
    k = ct - cb
    vals = np.linalg.eigvalsh(k)
    tol = 1e-6 * float(np.trace(ct))
    if vals[0] < -tol:
        raise ValueError(f"beam {beam} is not enclosed by the target beam {target}")
    if vals[1] <= tol:
        return None
    w, v = np.linalg.eigh(k)
    return v @ np.diag(np.clip(w, 0.0, None)) @ v.T


def convolution_kernel(
    target: Beam, beam: Beam, pixel_matrix_deg: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """Return the pixel covariance of the kernel taking ``beam`` to ``target``, and the rescale.

    Parameters
    ----------
    target, beam : Beam
        Common beam and input beam.
    pixel_matrix_deg : ndarray, shape (2, 2)
        Jacobian d(east, north)/d(x, y) in degrees per pixel at the image centre
        (:func:`dsa110_contimg.photometry.beam.local_jacobian`).

    Returns
    -------
    (cov_pix, rescale) or None
        ``cov_pix`` the 2x2 kernel covariance in pixel^2 ordered (x, y), possibly degenerate
        (a kernel along one direction only), and ``rescale = area(target) / area(beam)``, which
        keeps a point source's peak in Jy/beam after convolving with the unit-sum kernel.
        ``None`` when no convolution is needed.
    """
    k = deconvolve(target, beam)
    if k is None:
        return None
    kpix = pixel_covariance(k, np.asarray(pixel_matrix_deg, dtype=float))
    return 0.5 * (kpix + kpix.T), beam_area_ratio(target, beam)


def gaussian_convolve(data: np.ndarray, cov_pix: np.ndarray) -> np.ndarray:
    """Convolve an image with a unit-sum Gaussian of covariance ``cov_pix`` (pixel^2, (x, y)).

    The kernel is applied as its exact Fourier transform ``exp(-k^T C k / 2)`` on a zero-padded
    grid (no wrap-around), so narrow or degenerate kernels, which a sampled kernel would
    misrepresent, are exact. float32 in, float32 out.

    Examples
    --------
    >>> img = np.zeros((64, 64), np.float32); img[32, 32] = 1.0
    >>> out = gaussian_convolve(img, np.diag([4.0, 1.0]))
    >>> round(float(out.sum()), 4), bool(out[32, 34] > out[34, 32])
    (1.0, True)
    """
    from scipy import fft

    ny, nx = data.shape
    reach = int(math.ceil(5.0 * math.sqrt(max(float(np.max(np.diag(cov_pix))), 0.0)))) + 2
    py = fft.next_fast_len(ny + 2 * reach, real=True)
    px = fft.next_fast_len(nx + 2 * reach, real=True)
    spec = fft.rfft2(np.asarray(data, dtype=np.float32), s=(py, px), workers=-1)
    kx = (2.0 * np.pi * fft.rfftfreq(px)).astype(np.float32)
    ky = (2.0 * np.pi * fft.fftfreq(py)).astype(np.float32)
    c = np.asarray(cov_pix, dtype=np.float32)
    for row in range(0, py, 1024):  # the transfer function, a block of rows at a time
        kyb = ky[row : row + 1024, None]
        spec[row : row + 1024] *= np.exp(
            -0.5 * (c[0, 0] * kx[None, :] ** 2 + 2 * c[0, 1] * kx[None, :] * kyb + c[1, 1] * kyb**2)
        )
    out = fft.irfft2(spec, s=(py, px), workers=-1)
    del spec
    return np.ascontiguousarray(out[:ny, :nx], dtype=np.float32)
