"""The spatial index of the catalog store: HEALPix pixels (RING order) and cone ranges.

Every stored source carries the RING-ordered HEALPix pixel of its position at
:data:`HPX_NSIDE`. In the RING scheme the pixels of one iso-latitude ring are numbered
consecutively, so the pixels a cone can touch form, ring by ring, one run of consecutive
indices (two where the run crosses RA 0/360). A cone therefore becomes a few ``BETWEEN``
clauses on the clustered ``(catalog, hpx, source_id)`` key, and the ranges are computed in
closed form (no pixel lists), which is the cheap part of a millisecond cone search.

The ranges are a superset of the pixels that overlap the cone (each ring is widened by one
pixel on both sides and taken over the whole latitude band its pixels span); the exact
angular cut is made afterwards on the fetched rows (:func:`angular_separation_deg`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "HPX_NSIDE",
    "angular_separation_deg",
    "cone_ranges",
    "healpix_ring_index",
]

#: HEALPix ``nside`` of the stored ``hpx`` column (RING order): pixels of ~6.9 arcmin, so a
#: 1.75 deg cone spans ~45 rings with ~15% over-fetch, and a 0.1 deg cone a handful of pixels.
HPX_NSIDE = 512


def healpix_ring_index(
    ra_deg: ArrayLike, dec_deg: ArrayLike, *, nside: int = HPX_NSIDE
) -> np.ndarray:
    """Return the RING-ordered HEALPix pixel of each position.

    Parameters
    ----------
    ra_deg, dec_deg : array_like
        Positions in degrees.
    nside : int
        HEALPix resolution.

    Returns
    -------
    numpy.ndarray of int64
        Pixel indices.

    Examples
    --------
    >>> int(healpix_ring_index([0.0], [90.0], nside=1)[0])
    0
    """
    import astropy.units as u
    from astropy_healpix import HEALPix

    hp = HEALPix(nside=nside, order="ring")
    ra = np.mod(np.asarray(ra_deg, dtype=float), 360.0)
    dec = np.clip(np.asarray(dec_deg, dtype=float), -90.0, 90.0)
    return np.asarray(hp.lonlat_to_healpix(ra * u.deg, dec * u.deg), dtype=np.int64)


def _ring_of_z(z: float, nside: int) -> float:
    """Continuous ring number (1 at the north pole side) of a height z = sin(dec)."""
    if z > 2.0 / 3.0:
        return nside * math.sqrt(3.0 * (1.0 - z))
    if z < -2.0 / 3.0:
        return 4 * nside - nside * math.sqrt(3.0 * (1.0 + z))
    return nside * (2.0 - 1.5 * z)


def _ring_geometry(rings: np.ndarray, nside: int) -> tuple[np.ndarray, ...]:
    """Return (z, npix in ring, first pixel index, phase) of ring numbers 1..4N-1."""
    i = rings.astype(np.int64)
    npix = 12 * nside * nside
    ip = np.minimum(i, 4 * nside - i)  # ring number counted from the nearer pole
    cap = ip < nside
    south = i > 3 * nside
    zc = 1.0 - ip * ip / (3.0 * nside * nside)
    z = np.where(cap, np.where(south, -zc, zc), (4.0 / 3.0) - 2.0 * i / (3.0 * nside))
    n = np.where(cap, 4 * ip, 4 * nside)
    first = np.where(
        cap,
        np.where(south, npix - 2 * ip * (ip + 1), 2 * ip * (ip - 1)),
        2 * nside * (nside - 1) + (i - nside) * 4 * nside,
    )
    # pixel k (0-based) of a ring is centred at phi = 2 pi (k + phase) / n
    phase = np.where(cap | (((i - nside + 1) % 2) == 1), 0.5, 0.0)
    return z, n, first, phase


@functools.lru_cache(maxsize=8)
def _rings(nside: int) -> tuple[np.ndarray, ...]:
    """Return per-ring constants of rings 1..4N-1 (a pure function of nside, memoized).

    The latitude band (radians) a ring's pixels span, from the next ring's latitude to the
    previous one's (the poles for the first and last rings), its pixel count, first pixel and
    phase.
    """
    rings = np.arange(1, 4 * nside)
    z, n, first, phase = _ring_geometry(rings, nside)
    dec = np.arcsin(z)
    band_hi = np.concatenate(([math.pi / 2], dec[:-1]))
    band_lo = np.concatenate((dec[1:], [-math.pi / 2]))
    for arr in (band_hi, band_lo, n, first, phase):
        arr.setflags(write=False)
    return band_hi, band_lo, n, first, phase


def _half_width(dec_lo: np.ndarray, dec_hi: np.ndarray, dec0: float, radius: float) -> np.ndarray:
    """Largest RA half-width (radians) of a cone over latitude bands (radians); pi = whole ring."""
    sd0, cd0, cr = math.sin(dec0), math.cos(dec0), math.cos(radius)
    lo = np.maximum(dec_lo, dec0 - radius)
    hi = np.minimum(dec_hi, dec0 + radius)
    cands = [lo, hi]
    s_star = sd0 / cr if cr > 0 else 2.0
    if -1.0 < s_star < 1.0:
        b_star = math.asin(s_star)
        cands.append(np.minimum(np.maximum(b_star, lo), hi))
    best = np.zeros_like(lo)
    for b in cands:
        cb = np.cos(b)
        denom = cb * cd0
        with np.errstate(divide="ignore", invalid="ignore"):
            c = (cr - np.sin(b) * sd0) / denom
        w = np.where(
            (denom <= 1e-12) | (c <= -1.0), np.pi, np.arccos(np.minimum(np.maximum(c, -1.0), 1.0))
        )
        best = np.maximum(best, w)
    return best


def cone_ranges(
    ra_deg: float, dec_deg: float, radius_deg: float, *, nside: int = HPX_NSIDE
) -> list[tuple[int, int]]:
    """Return inclusive ``(first, last)`` RING pixel ranges covering a cone.

    Parameters
    ----------
    ra_deg, dec_deg : float
        Cone centre in degrees.
    radius_deg : float
        Cone radius in degrees (any size; 180 covers the sphere).
    nside : int
        HEALPix resolution of the stored index.

    Returns
    -------
    list of (int, int)
        Sorted, disjoint, merged ranges whose union contains every pixel that overlaps the
        cone.

    Examples
    --------
    >>> cone_ranges(10.0, 90.0, 1.0, nside=4)
    [(0, 3)]
    """
    radius_deg = float(radius_deg)
    npix_total = 12 * nside * nside
    if radius_deg >= 180.0:
        return [(0, npix_total - 1)]
    dec0 = math.radians(dec_deg)
    r = math.radians(radius_deg)
    phi0 = math.radians(ra_deg % 360.0)
    # rings whose pixels can reach the cone's declination band (one extra ring each side)
    z_top = math.sin(min(dec0 + r, math.pi / 2))
    z_bot = math.sin(max(dec0 - r, -math.pi / 2))
    i_lo = max(1, int(math.floor(_ring_of_z(z_top, nside))) - 1)
    i_hi = min(4 * nside - 1, int(math.ceil(_ring_of_z(z_bot, nside))) + 1)
    band_hi_all, band_lo_all, n_all, first_all, phase_all = _rings(nside)
    sl = slice(i_lo - 1, i_hi)  # ring i is at index i - 1
    band_hi, band_lo = band_hi_all[sl], band_lo_all[sl]
    n, first, phase = n_all[sl], first_all[sl], phase_all[sl]
    keep = (band_hi >= dec0 - r) & (band_lo <= dec0 + r)
    if not keep.all():
        if not keep.any():
            return []
        band_hi, band_lo, n, first, phase = (
            band_hi[keep],
            band_lo[keep],
            n[keep],
            first[keep],
            phase[keep],
        )
    half = _half_width(band_lo, band_hi, dec0, r)
    width = 2.0 * np.pi / n
    half = half + width  # one pixel of margin on each side
    k_lo = np.ceil((phi0 - half) / width - phase).astype(np.int64)
    k_hi = np.floor((phi0 + half) / width - phase).astype(np.int64)
    out: list[tuple[int, int]] = []
    for f, nn, a, b, h in zip(
        first.tolist(), n.tolist(), k_lo.tolist(), k_hi.tolist(), half.tolist(), strict=True
    ):
        if h >= math.pi or b - a + 1 >= nn:
            out.append((f, f + nn - 1))
            continue
        a_m, b_m = a % nn, b % nn
        if a_m <= b_m:
            out.append((f + a_m, f + b_m))
        else:  # wraps through RA 0
            out.append((f, f + b_m))
            out.append((f + a_m, f + nn - 1))
    out.sort()
    merged: list[tuple[int, int]] = []
    for a, b in out:
        if merged and a <= merged[-1][1] + 1:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def angular_separation_deg(
    ra_deg: ArrayLike, dec_deg: ArrayLike, ra0_deg: float, dec0_deg: float
) -> np.ndarray:
    """Great-circle distance (degrees) of positions from one point (haversine, stable).

    Examples
    --------
    >>> round(float(angular_separation_deg([359.5], [0.0], 0.5, 0.0)[0]), 9)
    1.0
    """
    ra = np.radians(np.asarray(ra_deg, dtype=float))
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    ra0, d0 = math.radians(ra0_deg), math.radians(dec0_deg)
    sdlat = np.sin((dec - d0) / 2.0)
    sdlon = np.sin((ra - ra0) / 2.0)
    a = sdlat * sdlat + np.cos(dec) * math.cos(d0) * sdlon * sdlon
    return np.degrees(2.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))
