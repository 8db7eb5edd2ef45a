"""Seeded synthetic radio catalogs with NVSS-like density and flux distribution."""

from __future__ import annotations

import math

import numpy as np
from astropy.table import Table

__all__ = ["NVSS_DENSITY_PER_DEG2", "make_catalog"]

#: NVSS: 1,773,484 sources over the sky north of Dec -40 deg (33,880 deg2).
NVSS_DENSITY_PER_DEG2 = 52.3


def make_catalog(
    n_sources: int | None = None,
    *,
    center: tuple[float, float] | None = None,
    radius_deg: float | None = None,
    all_sky: bool = False,
    dec_min_deg: float = -40.0,
    density_per_deg2: float = NVSS_DENSITY_PER_DEG2,
    min_flux_mjy: float = 2.5,
    max_flux_mjy: float = 1.0e5,
    count_slope: float = 0.9,
    beam_arcsec: float = 45.0,
    rms_mjy: float = 0.45,
    seed: int = 0,
) -> Table:
    """Return a seeded synthetic catalog in the store's unit convention.

    Positions are uniform on the sphere (in a cone, or over ``dec >= dec_min_deg`` with
    ``all_sky``); fluxes follow integral counts ``N(>S) ~ S**-count_slope`` between
    ``min_flux_mjy`` and ``max_flux_mjy`` (NVSS-like: 53 sources per deg2 above 2.5 mJy).

    Parameters
    ----------
    n_sources : int, optional
        Number of sources; by default the area times ``density_per_deg2``.
    center : (float, float), optional
        Cone centre (RA, Dec in degrees); requires ``radius_deg``.
    radius_deg : float, optional
        Cone radius in degrees.
    all_sky : bool
        Cover the whole sky north of ``dec_min_deg`` instead of a cone.
    dec_min_deg : float
        Southern limit of an all-sky catalog.
    density_per_deg2 : float
        Source density used when ``n_sources`` is not given.
    min_flux_mjy, max_flux_mjy, count_slope : float
        Flux distribution (integrated flux, mJy).
    beam_arcsec : float
        Survey beam (sets the position errors).
    rms_mjy : float
        Noise used for the errors.
    seed : int
        Random seed; the same arguments give the same catalog.

    Returns
    -------
    astropy.table.Table
        The columns of an NVSS catalog in the store's convention: ``source_id`` (J-names,
        unique), ``ra_deg``, ``dec_deg``, ``flux_mjy``, ``flux_err_mjy``, position errors
        (arcsec), deconvolved axes (arcsec, upper limits flagged) and PA, ``flags``.

    Examples
    --------
    >>> t = make_catalog(center=(180.0, 54.6), radius_deg=1.0, seed=1)
    >>> 100 < len(t) < 230 and float(t["flux_mjy"].min()) >= 2.5
    True
    """
    from ..catalog.ids import position_source_ids

    rng = np.random.default_rng(seed)
    if all_sky:
        z_lo, z_hi = math.sin(math.radians(dec_min_deg)), 1.0
        area = 2 * math.pi * (z_hi - z_lo) * (180 / math.pi) ** 2
    else:
        if center is None or radius_deg is None:
            raise ValueError("give center and radius_deg, or all_sky=True")
        z_lo, z_hi = math.cos(math.radians(radius_deg)), 1.0
        area = 2 * math.pi * (1 - z_lo) * (180 / math.pi) ** 2
    n = int(round(area * density_per_deg2)) if n_sources is None else int(n_sources)
    z = rng.uniform(z_lo, z_hi, n)
    phi = rng.uniform(0.0, 2 * math.pi, n)
    if all_sky:
        ra = np.degrees(phi)
        dec = np.degrees(np.arcsin(z))
    else:
        ra, dec = _rotate_from_pole(z, phi, *center)
    u = rng.uniform(0.0, 1.0, n)
    a = (max_flux_mjy / min_flux_mjy) ** (-count_slope)
    flux = min_flux_mjy * (1.0 - u * (1.0 - a)) ** (-1.0 / count_slope)
    flux_err = np.sqrt(rms_mjy**2 + (0.03 * flux) ** 2)
    snr = flux / rms_mjy
    # mostly unresolved sources (deconvolved sizes are upper limits), a tail of resolved ones
    resolved = rng.uniform(size=n) < 0.2
    dc_maj = np.where(resolved, rng.uniform(15.0, 60.0, n), rng.uniform(5.0, 20.0, n))
    dc_min = dc_maj * rng.uniform(0.3, 1.0, n)
    pa = rng.uniform(0.0, 180.0, n)
    pos_err = np.hypot(0.6 * beam_arcsec / snr, 0.5)
    ids = np.array(position_source_ids(ra, dec), dtype=str)
    _, first = np.unique(ids, return_index=True)
    keep = np.sort(first)
    table = Table(
        {
            "source_id": ids,
            "ra_deg": ra,
            "dec_deg": dec,
            "flux_mjy": flux,
            "flux_err_mjy": flux_err,
            "ra_err_arcsec": pos_err,
            "dec_err_arcsec": pos_err,
            "dc_maj_arcsec": dc_maj,
            "dc_min_arcsec": dc_min,
            "dc_pa_deg": np.where(resolved, pa, np.nan),
            "flags": np.where(resolved, "", "dc_maj_limit,dc_min_limit"),
        }
    )
    return table[keep]


def _rotate_from_pole(z: np.ndarray, phi: np.ndarray, ra0: float, dec0: float):
    """Positions given around the north pole, rotated so the pole lands on (ra0, dec0)."""
    s = np.sqrt(np.clip(1 - z * z, 0.0, None))
    x, y = s * np.cos(phi), s * np.sin(phi)
    th = math.radians(90.0 - dec0)
    a = math.radians(ra0)
    x1 = x * math.cos(th) + z * math.sin(th)
    z1 = -x * math.sin(th) + z * math.cos(th)
    x2 = x1 * math.cos(a) - y * math.sin(a)
    y2 = x1 * math.sin(a) + y * math.cos(a)
    ra = np.mod(np.degrees(np.arctan2(y2, x2)), 360.0)
    dec = np.degrees(np.arcsin(np.clip(z1, -1.0, 1.0)))
    return ra, dec
