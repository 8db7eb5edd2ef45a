"""The master catalog: NVSS sources cross-matched to FIRST, VLASS and RACS.

Every NVSS source becomes one master source with the NVSS ``source_id``, position and flux.
Counterparts are the FIRST, VLASS and RACS sources within ``match_radius_arcsec``
(:class:`~dsa110_contimg.config.CatalogSettings`). From them:

- ``spectral_index`` (S ~ nu^alpha) between NVSS (1.4 GHz) and VLASS (3.0 GHz, the summed
  flux of the VLASS counterparts divided by ``vlass_flux_correction`` for the Epoch 1 Quick
  Look deficit), else RACS-low (0.8875 GHz); with its error from the flux errors.
- ``resolved_flag``: FIRST deconvolved major axis above ``resolved_size_arcsec`` (or, with no
  FIRST counterpart, an NVSS deconvolved major axis that is a measurement, not an upper
  limit, above ``nvss_resolved_size_arcsec``; for CATALOG41, which has only fitted axes, the
  fitted major axis deconvolved from the 45" NVSS beam).
- ``confusion_flag``: more than one counterpart in FIRST or VLASS, or another NVSS source
  within ``confusion_radius_arcsec`` (about one DSA-110 beam).
- ``snr``: the NVSS *detection* SNR, by the rule of the NVSS file's format
  (:mod:`~dsa110_contimg.catalog.snr`: without the 3% scale term of the VizieR/HEASARC
  errors; S / 0.45 mJy for files without errors).
- ``is_reference``: unresolved, unconfused, ``snr`` >= ``reference_min_snr``, flux >=
  ``reference_min_flux_mjy`` and alpha <= ``reference_max_spectral_index`` (steep spectrum:
  compact flat-spectrum sources are the scintillating population, not references).
  **Fallback** (``reference_fallback``, on by default): where neither VLASS nor RACS covers
  the source (no source of theirs in its HEALPix cell at ``spectral_coverage_nside``, ~0.46
  deg) no spectral index
  can exist, and the source may be a reference on NVSS alone when it is also isolated (no
  NVSS neighbour within ``reference_fallback_isolation_arcsec``); such references carry the
  flag ``reference=nvss_only``. Variable ones are dropped later by the normalization's
  chi-square test of their own light curves.

Catalogs that are not ingested are simply not used (their counts are 0 and the flags that
depend on them fall back as described). The reference counts per declination strip are
recorded in ``reference_strips`` (:mod:`~dsa110_contimg.catalog.coverage`). See
docs/catalog.md for what a fixed match radius misses and docs/photometry-references.md for
the reference selection.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from astropy.table import Table

from ..config import Settings, resolve_settings
from ..errors import CatalogError
from .readers.nvss_catalog41 import NVSS_BEAM_ARCSEC
from .snr import nvss_snr
from .store import MASTER_CATALOG, CatalogInfo, ingest_table, list_catalogs, read_all_sources

__all__ = [
    "FREQ_HZ",
    "neighbour_counts",
    "spectral_coverage",
    "build_master_catalog",
    "crossmatch_counts",
    "spectral_index",
]

log = logging.getLogger(__name__)

#: Reference frequencies of the surveys.
FREQ_HZ = {"nvss": 1.4e9, "first": 1.4e9, "vlass": 3.0e9, "racs": 0.8875e9}


def _unit_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


def crossmatch_counts(
    ra1: np.ndarray,
    dec1: np.ndarray,
    ra2: np.ndarray,
    dec2: np.ndarray,
    radius_arcsec: float,
    *,
    exclude_self: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match every position of set 1 to set 2 within a radius.

    Parameters
    ----------
    ra1, dec1, ra2, dec2 : numpy.ndarray
        Positions in degrees.
    radius_arcsec : float
        Match radius.
    exclude_self : bool
        Sets 1 and 2 are the same; do not count a source as its own match.

    Returns
    -------
    count : numpy.ndarray of int
        Number of set-2 sources within the radius of each set-1 source.
    nearest : numpy.ndarray of int
        Index of the nearest one (-1 when none).
    pairs : numpy.ndarray, shape (m, 2)
        Every matching (i1, i2) pair.

    Examples
    --------
    >>> c, n, p = crossmatch_counts(np.array([10.0]), np.array([0.0]),
    ...                             np.array([10.0, 10.001, 11.0]), np.zeros(3), 5.0)
    >>> int(c[0]), int(n[0])
    (2, 0)
    """
    from scipy.spatial import cKDTree

    n1 = len(ra1)
    count = np.zeros(n1, dtype=np.int64)
    nearest = np.full(n1, -1, dtype=np.int64)
    if n1 == 0 or len(ra2) == 0:
        return count, nearest, np.zeros((0, 2), dtype=np.int64)
    v1, v2 = _unit_vectors(ra1, dec1), _unit_vectors(ra2, dec2)
    chord = 2.0 * math.sin(math.radians(radius_arcsec / 3600.0) / 2.0)
    tree = cKDTree(v2)
    lists = tree.query_ball_point(v1, chord)
    i1 = np.repeat(np.arange(n1), [len(x) for x in lists])
    i2 = np.fromiter((j for x in lists for j in x), dtype=np.int64, count=i1.size)
    if exclude_self:
        keep = i1 != i2
        i1, i2 = i1[keep], i2[keep]
    np.add.at(count, i1, 1)
    if i1.size:
        d = np.sum((v1[i1] - v2[i2]) ** 2, axis=1)
        order = np.lexsort((d, i1))
        first = np.ones(order.size, dtype=bool)
        first[1:] = i1[order][1:] != i1[order][:-1]
        nearest[i1[order][first]] = i2[order][first]
    return count, nearest, np.column_stack([i1, i2])


def neighbour_counts(
    ra: np.ndarray, dec: np.ndarray, radii_arcsec: tuple[float, ...]
) -> list[np.ndarray]:
    """Count the other positions of one set within each of several radii (one tree pass).

    Examples
    --------
    >>> near, far = neighbour_counts(np.array([0.0, 0.01, 0.05]), np.zeros(3), (40.0, 200.0))
    >>> near.tolist(), far.tolist()
    ([1, 1, 0], [2, 2, 2])
    """
    n = len(ra)
    if n == 0 or not radii_arcsec:
        return [np.zeros(n, dtype=np.int64) for _ in radii_arcsec]
    _, _, pairs = crossmatch_counts(ra, dec, ra, dec, max(radii_arcsec), exclude_self=True)
    v = _unit_vectors(ra, dec)
    d = np.sqrt(np.sum((v[pairs[:, 0]] - v[pairs[:, 1]]) ** 2, axis=1))
    out = []
    for r in radii_arcsec:
        chord = 2.0 * math.sin(math.radians(r / 3600.0) / 2.0)
        out.append(np.bincount(pairs[d <= chord, 0], minlength=n).astype(np.int64))
    return out


def spectral_coverage(
    ra: np.ndarray, dec: np.ndarray, others: list[tuple[np.ndarray, np.ndarray]], nside: int
) -> np.ndarray:
    """Whether a spectral-index catalog covers each position: its HEALPix cell holds a source.

    A cell of ``nside`` 128 is ~0.46 deg across (0.21 deg^2): VLASS and RACS-low hold ~12
    sources in one, so an empty cell means the catalog does not cover it. Sorting and
    searching, no tree: ~1 s for the whole NVSS.

    Examples
    --------
    >>> spectral_coverage(np.array([10.0, 20.0]), np.zeros(2),
    ...                   [(np.array([10.1]), np.zeros(1))], 128).tolist()
    [True, False]
    """
    from .spatial import healpix_ring_index

    cell = healpix_ring_index(ra, dec, nside=nside)
    covered = np.zeros(len(ra), dtype=bool)
    for ra2, dec2 in others:
        if len(ra2):
            covered |= np.isin(cell, np.unique(healpix_ring_index(ra2, dec2, nside=nside)))
    return covered


def spectral_index(
    s1: np.ndarray, e1: np.ndarray, f1: float, s2: np.ndarray, e2: np.ndarray, f2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Two-point spectral index alpha (S ~ nu^alpha) and its error.

    Examples
    --------
    >>> a, _ = spectral_index(np.array([10.0]), np.array([0.1]), 1.4e9,
    ...                       np.array([10 * (3 / 1.4) ** -0.7]), np.array([0.1]), 3.0e9)
    >>> round(float(a[0]), 6)
    -0.7
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = math.log(f2 / f1)
        alpha = np.log(s2 / s1) / lr
        err = np.sqrt((e1 / s1) ** 2 + (e2 / s2) ** 2) / abs(lr)
    ok = (s1 > 0) & (s2 > 0)
    return np.where(ok, alpha, np.nan), np.where(ok, err, np.nan)


def _sum_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    np.add.at(out, index, np.nan_to_num(values))
    return out


def _column(table: Table, name: str) -> np.ndarray:
    """Return a float column, or NaN when the catalog stores none (all-NULL ones are not read)."""
    if name in table.colnames:
        return np.asarray(table[name], dtype=float)
    return np.full(len(table), np.nan)


def build_master_catalog(*, settings: Settings | None = None) -> CatalogInfo:
    """Cross-match the ingested NVSS with FIRST, VLASS and RACS into catalog ``master``.

    Parameters
    ----------
    settings : Settings, optional
        Database and the ``catalog`` limits (match radius, VLASS correction, reference cuts).

    Returns
    -------
    CatalogInfo
        The stored master catalog; ``skipped`` holds counts of references and flags.

    Raises
    ------
    CatalogError
        NVSS is not ingested.
    """
    settings = resolve_settings(settings)
    cfg = settings.catalog
    infos = {c.name: c for c in list_catalogs(settings=settings)}
    present = set(infos)
    if "nvss" not in present:
        raise CatalogError("the master catalog needs NVSS: run 'contimg catalog ingest nvss FILE'")
    nvss = read_all_sources("nvss", settings=settings)
    n = len(nvss)
    ra, dec = np.asarray(nvss["ra_deg"]), np.asarray(nvss["dec_deg"])
    flux = _column(nvss, "flux_mjy")
    published_err = _column(nvss, "flux_err_mjy")  # absent (all NULL) in lsmtool sky models
    rms = _column(nvss, "rms_mjy")
    flux_err = rms if np.all(np.isnan(published_err)) else published_err
    out: dict[str, np.ndarray] = {name: np.asarray(nvss[name]) for name in nvss.colnames}
    out.pop("catalog")
    counts: dict[str, np.ndarray] = {}
    summed: dict[str, np.ndarray] = {}
    summed_err: dict[str, np.ndarray] = {}
    first_size = np.full(n, np.nan)
    coverage_sets: list[tuple[np.ndarray, np.ndarray]] = []  # VLASS/RACS positions
    for other in ("first", "vlass", "racs"):
        counts[other] = np.zeros(n, dtype=np.int64)
        summed[other] = np.full(n, np.nan)
        summed_err[other] = np.full(n, np.nan)
        if other not in present:
            continue
        cat = read_all_sources(other, settings=settings)
        c, nearest, pairs = crossmatch_counts(
            ra, dec, np.asarray(cat["ra_deg"]), np.asarray(cat["dec_deg"]), cfg.match_radius_arcsec
        )
        counts[other] = c
        if other in ("vlass", "racs"):
            coverage_sets.append((np.asarray(cat["ra_deg"]), np.asarray(cat["dec_deg"])))
        f = np.asarray(cat["flux_mjy"], dtype=float)
        fe = (
            np.asarray(cat["flux_err_mjy"], dtype=float) if "flux_err_mjy" in cat.colnames else None
        )
        if fe is None:
            fe = np.full(len(cat), np.nan)
        s = _sum_by(pairs[:, 0], f[pairs[:, 1]], n)
        se = np.sqrt(_sum_by(pairs[:, 0], fe[pairs[:, 1]] ** 2, n))
        summed[other] = np.where(c > 0, s, np.nan)
        summed_err[other] = np.where(c > 0, se, np.nan)
        if other == "first" and "dc_maj_arcsec" in cat.colnames:
            size = np.asarray(cat["dc_maj_arcsec"], dtype=float)
            has = nearest >= 0
            first_size[has] = size[nearest[has]]
    # spectral index: VLASS (corrected) first, else RACS
    vl = summed["vlass"] / cfg.vlass_flux_correction
    vl_err = summed_err["vlass"] / cfg.vlass_flux_correction
    vl_err = np.where(np.isnan(vl_err), 0.1 * vl, vl_err)
    a_v, e_v = spectral_index(flux, flux_err, FREQ_HZ["nvss"], vl, vl_err, FREQ_HZ["vlass"])
    rc, rc_err = summed["racs"], summed_err["racs"]
    rc_err = np.where(np.isnan(rc_err), 0.1 * rc, rc_err)
    a_r, e_r = spectral_index(flux, flux_err, FREQ_HZ["nvss"], rc, rc_err, FREQ_HZ["racs"])
    alpha = np.where(np.isfinite(a_v), a_v, a_r)
    alpha_err = np.where(np.isfinite(a_v), e_v, e_r)
    # resolved: FIRST size, else an NVSS measured (not upper-limit) size
    flags = np.asarray(nvss["flags"], dtype=str)
    nvss_limit = np.char.find(flags, "dc_maj_limit") >= 0
    nvss_size = np.asarray(out.get("dc_maj_arcsec", np.full(n, np.nan)), dtype=float)
    # CATALOG41 has fitted axes only: deconvolve them from the 45" beam where the excess is
    # significant (> 2 sigma, sigma_maj ~ maj * sqrt(2) / (peak / rms), Condon 1997); a
    # smaller excess is an upper limit, as NVSSlist reports it.
    fitted = np.asarray(out.get("maj_arcsec", np.full(n, np.nan)), dtype=float)
    peak_snr = _column(nvss, "peak_flux_mjy") / rms
    with np.errstate(divide="ignore", invalid="ignore"):
        significant = fitted - NVSS_BEAM_ARCSEC > 2.0 * fitted * math.sqrt(2.0) / peak_snr
    no_dc = ~np.isfinite(nvss_size) & np.isfinite(fitted)
    nvss_size[no_dc] = np.where(
        significant[no_dc],
        np.sqrt(np.maximum(fitted[no_dc] ** 2 - NVSS_BEAM_ARCSEC**2, 0.0)),
        0.0,
    )
    resolved = np.where(
        np.isfinite(first_size),
        first_size > cfg.resolved_size_arcsec,
        ~nvss_limit & (np.nan_to_num(nvss_size) > cfg.nvss_resolved_size_arcsec),
    )
    # confusion: several counterparts, or an NVSS neighbour within a DSA-110 beam
    # NVSS neighbours: within a DSA-110 beam (confusion) and within the fallback's isolation
    neighbours, crowded = neighbour_counts(
        ra,
        dec,
        (
            cfg.confusion_radius_arcsec,
            cfg.reference_fallback_isolation_arcsec if cfg.reference_fallback else 0.0,
        ),
    )
    confused = (
        (counts["first"] > 1) | (counts["vlass"] > 1) | (counts["racs"] > 1) | (neighbours > 0)
    )
    snr, snr_rule = nvss_snr(
        flux, published_err, infos["nvss"].format, rms_mjy=rms, nvss_rms_mjy=cfg.nvss_rms_mjy
    )
    steep = np.ones(n, dtype=bool)
    if cfg.reference_max_spectral_index is not None:
        steep = np.where(
            np.isfinite(alpha),
            alpha <= cfg.reference_max_spectral_index,
            cfg.reference_allow_unknown_spectral_index,
        )
    base = (
        ~resolved
        & ~confused
        & (np.nan_to_num(snr) >= cfg.reference_min_snr)
        & (np.nan_to_num(flux) >= cfg.reference_min_flux_mjy)
    )
    fallback = np.zeros(n, dtype=bool)
    if cfg.reference_fallback:
        covered = spectral_coverage(ra, dec, coverage_sets, cfg.spectral_coverage_nside)
        fallback = base & ~covered & ~np.isfinite(alpha) & (crowded == 0) & ~steep
    is_ref = (base & steep) | fallback
    if fallback.any():
        sep = np.where(flags == "", "", ",")
        tagged = np.char.add(np.char.add(flags, sep), "reference=nvss_only")
        flags = np.where(fallback, tagged, flags)
        out["flags"] = flags
    out.update(
        snr=snr,
        spectral_index=alpha,
        spectral_index_err=alpha_err,
        resolved_flag=resolved.astype(bool),
        confusion_flag=confused,
        is_reference=is_ref,
        n_first=counts["first"],
        n_vlass=counts["vlass"],
        n_racs=counts["racs"],
        first_flux_mjy=summed["first"],
        vlass_flux_mjy=summed["vlass"],
        racs_flux_mjy=summed["racs"],
    )
    used = ",".join(c for c in ("nvss", "first", "vlass", "racs") if c in present)
    summary = {
        "references": int(is_ref.sum()),
        "references_nvss_only": int(fallback.sum()),
        "resolved": int(resolved.sum()),
        "confused": int(confused.sum()),
        "with_spectral_index": int(np.isfinite(alpha).sum()),
    }
    info = ingest_table(
        MASTER_CATALOG,
        Table(out),
        settings=settings,
        format="master",
        file_name=used,
        skipped=summary,
    )
    log.info("master catalog: %d NVSS sources (%s), SNR %s, %s", n, used, snr_rule, summary)
    from .coverage import record_reference_strips

    record_reference_strips(dec, is_ref, fallback, settings=settings)
    return info
