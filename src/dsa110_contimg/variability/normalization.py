"""Differential photometry: per-image correction factors from stable reference sources.

Method
------
- **References.** The master catalog's reference candidates (``is_reference``: unresolved at
  the DSA-110 beam, unconfused, high SNR, steep spectrum; or, where no VLASS/RACS covers a
  source, isolated on NVSS alone, see docs/photometry-references.md), kept in
  ``reference_sources``. The
  master ``source_id`` *is* the NVSS id, so a reference ``("master", id)`` matches photometry
  rows of catalog ``"master"`` or ``"nvss"`` with that id; references of any other catalog
  match rows of that catalog only. Tests, the demo and users may also register an explicit
  reference set (``set_references``). Only clean measurements (empty ``flags``) with a
  finite positive flux and error, on images whose QA did not fail, are used.
- **Baselines.** A reference's baseline is the median flux over its first
  ``normalize.baseline_epochs`` good measurements (``kind="image"``), with the uncertainty of
  :func:`~dsa110_contimg.variability.baselines.robust_baseline`; re-established on demand
  (``establish_baselines`` with ``force=True``). Because all references of a field get
  their baselines from the same images, the common gain of those images is a global scale that
  cancels in every ratio.
- **Factor.** On each image, the ratios flux / baseline of the references are averaged by
  inverse variance after iterative clipping around their median at ``clip_sigma`` times the
  larger of the robust scatter (1.4826 MAD) and each ratio's own error. The factor's error is
  the weighted-mean error inflated by the Birge ratio sqrt(max(1, reduced chi2)). Fewer than
  ``min_references`` references left: the image is recorded ``not_normalizable`` with the
  reason and its normalized columns are cleared, never silently left raw.
- **Normalized flux** = flux / factor with error
  sqrt((err / F)^2 + (flux * err_F / F^2)^2). A reference's own normalized flux uses the
  factor computed without it (leave-one-out), so its light curve is independent of itself.
- **Variable references.** A reference whose normalized light curve has a reduced chi-square
  above ``reference_drop_chi2`` with a p-value below ``reference_drop_p`` (after at least
  ``reference_min_epochs`` points) is dropped, with the statistics recorded as the reason.

Pure numpy: :func:`normalize_image_arrays` normalizes one image's measurements given the
reference baselines, :func:`normalize_arrays` whole light curves at once (the statistical
tests); the stored path (:mod:`dsa110_contimg.variability.pipeline.normalize`) loads the rows,
calls them and stores the result.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from .baselines import robust_baseline

__all__ = [
    "NVSS_ALIASES",
    "ImageNormalization",
    "NormalizedImage",
    "apply_factor",
    "canonical_catalog",
    "correction_factor",
    "leave_one_out",
    "normalize_arrays",
    "normalize_image_arrays",
]

#: Catalogs whose source ids are the same (the master catalog is NVSS-anchored).
NVSS_ALIASES = frozenset({"master", "nvss"})


def canonical_catalog(catalog: str) -> str:
    """Return the catalog name under which a reference is stored (``nvss`` -> ``master``).

    Examples
    --------
    >>> canonical_catalog("nvss"), canonical_catalog("racs")
    ('master', 'racs')
    """
    return "master" if catalog in NVSS_ALIASES else catalog


def correction_factor(
    ratios: np.ndarray,
    ratio_errs: np.ndarray,
    *,
    clip_sigma: float = 3.0,
    max_iter: int = 5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Robust inverse-variance average of reference ratios along the last axis.

    Parameters
    ----------
    ratios, ratio_errs : numpy.ndarray
        flux / baseline of each reference and its error, shape ``(..., n_refs)``; NaN marks a
        missing reference.
    clip_sigma : float
        Clip at this many times max(1.4826 MAD, own error) from the median.
    max_iter : int
        Largest number of clipping iterations.

    Returns
    -------
    factor, factor_err : numpy.ndarray
        Shape ``(...)``; NaN where no reference is left.
    n_used : numpy.ndarray of int
        References kept.
    used : numpy.ndarray of bool
        Shape of ``ratios``: which references were kept.

    Examples
    --------
    >>> f, e, n, _ = correction_factor(np.array([1.0, 1.02, 0.98, 1.5]), np.full(4, 0.01))
    >>> round(float(f), 3), int(n)
    (1.0, 3)
    """
    r = np.asarray(ratios, dtype=np.float64)
    e = np.asarray(ratio_errs, dtype=np.float64)
    valid = np.isfinite(r) & np.isfinite(e) & (e > 0)
    used = valid.copy()
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(max_iter):
            rm = np.where(used, r, np.nan)
            med = np.nanmedian(rm, axis=-1, keepdims=True)
            mad = np.nanmedian(np.abs(rm - med), axis=-1, keepdims=True)
            scale = np.maximum(1.4826 * mad, e)
            new = valid & (np.abs(r - med) <= clip_sigma * scale)
            if np.array_equal(new, used):
                break
            used = new
        w = np.where(used, 1.0 / np.where(valid, e, 1.0) ** 2, 0.0)
        rz = np.where(used, r, 0.0)
        sw = w.sum(axis=-1)
        factor = (w * rz).sum(axis=-1) / sw
        n_used = used.sum(axis=-1)
        chi2 = (w * (rz - np.expand_dims(factor, -1)) ** 2).sum(axis=-1)
        birge = np.sqrt(np.maximum(1.0, np.where(n_used > 1, chi2 / (n_used - 1), 1.0)))
        factor_err = birge / np.sqrt(sw)
    factor = np.where(n_used > 0, factor, np.nan)
    factor_err = np.where(n_used > 0, factor_err, np.nan)
    return factor, factor_err, n_used, used


def apply_factor(
    flux: np.ndarray, err: np.ndarray, factor: np.ndarray, factor_err: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return normalized flux and error (both errors propagated).

    Examples
    --------
    >>> apply_factor(np.array([2.0]), np.array([0.1]), np.array([2.0]), np.array([0.0]))
    (array([1.]), array([0.05]))
    """
    flux = np.asarray(flux, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        nf = flux / factor
        ne = np.sqrt((err / factor) ** 2 + (flux * factor_err / factor**2) ** 2)
    return nf, ne


def leave_one_out(
    ratios: np.ndarray, ratio_errs: np.ndarray, used: np.ndarray, factor_err: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Factor and error for each reference computed without that reference.

    For references not used (clipped), the full factor is returned. Shapes as in
    :func:`correction_factor`.
    """
    r = np.asarray(ratios, dtype=np.float64)
    e = np.asarray(ratio_errs, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(used, 1.0 / e**2, 0.0)
        wr = np.where(used, w * r, 0.0)
        sw = w.sum(axis=-1, keepdims=True)
        swr = wr.sum(axis=-1, keepdims=True)
        full = swr / sw
        loo = np.where(used, (swr - wr) / (sw - w), full)
        # scale the error like the full factor's (Birge inflation kept)
        fe = np.expand_dims(factor_err, -1)
        loo_err = np.where(used, fe * np.sqrt(sw / np.maximum(sw - w, 1e-300)), fe)
    return loo, loo_err


def normalize_arrays(
    flux: np.ndarray,
    err: np.ndarray,
    is_reference: np.ndarray,
    *,
    baseline_epochs: int,
    clip_sigma: float = 3.0,
    max_iter: int = 5,
    min_references: int = 1,
) -> dict[str, np.ndarray]:
    """Normalize whole light curves in memory: the database path's arithmetic on arrays.

    Parameters
    ----------
    flux, err : numpy.ndarray
        Shape ``(..., n_sources, n_images)`` (leading axes: independent trials), images in
        time order, every measurement clean.
    is_reference : numpy.ndarray of bool
        ``(n_sources,)`` the references.
    baseline_epochs : int
        Images over which each reference's baseline is the median.
    clip_sigma, max_iter : float, int
        Clipping (see :func:`correction_factor`).
    min_references : int
        Images with fewer references left get NaN normalized values.

    Returns
    -------
    dict
        ``normalized_flux_jy``, ``normalized_flux_err_jy`` (shape of ``flux``), ``factor``,
        ``factor_err``, ``n_refs`` (shape ``(..., n_images)``).
    """
    flux = np.asarray(flux, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    refs = np.flatnonzero(np.asarray(is_reference, dtype=bool))
    rf, re = flux[..., refs, :], err[..., refs, :]
    b, _ = robust_baseline(rf[..., :baseline_epochs], re[..., :baseline_epochs])
    ratios = np.swapaxes(rf / b[..., None], -1, -2)  # (..., n_images, n_refs)
    rerr = np.swapaxes(re / b[..., None], -1, -2)
    factor, factor_err, n_used, used = correction_factor(
        ratios, rerr, clip_sigma=clip_sigma, max_iter=max_iter
    )
    bad = n_used < min_references
    factor = np.where(bad, np.nan, factor)
    f_all = np.repeat(factor[..., None, :], flux.shape[-2], axis=-2)
    fe_all = np.repeat(factor_err[..., None, :], flux.shape[-2], axis=-2)
    loo, loo_err = leave_one_out(ratios, rerr, used, factor_err)
    f_all[..., refs, :] = np.where(bad[..., None, :], np.nan, np.swapaxes(loo, -1, -2))
    fe_all[..., refs, :] = np.swapaxes(loo_err, -1, -2)
    nf, ne = apply_factor(flux, err, f_all, fe_all)
    return {
        "normalized_flux_jy": nf,
        "normalized_flux_err_jy": ne,
        "factor": factor,
        "factor_err": factor_err,
        "n_refs": n_used,
    }


@dataclass(frozen=True)
class ImageNormalization:
    """The normalization of one image.

    Attributes
    ----------
    data_id : str
        The image's ``data_id``.
    status : str
        ``normalized`` or ``not_normalizable``.
    factor, factor_err : float or None
        Correction factor (measured / baseline) and its uncertainty.
    n_refs : int
        References used after clipping.
    n_candidates : int
        References with baselines measured cleanly on the image.
    reason : str or None
        Why the image is not normalizable.
    """

    data_id: str
    status: str
    factor: float | None
    factor_err: float | None
    n_refs: int
    n_candidates: int
    reason: str | None

    def to_dict(self) -> dict:
        """Return the record as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class NormalizedImage:
    """The outcome of normalizing one image's measurements (:func:`normalize_image_arrays`).

    Attributes
    ----------
    record : ImageNormalization
        Status, factor, references used; a refusal has status ``not_normalizable`` and the
        ``reason``.
    normalized_flux_jy, normalized_flux_err_jy : numpy.ndarray or None
        One value per measurement (the references' own with the leave-one-out factor); None
        when the image is refused (its normalized values are then cleared).
    references_seen : frozenset of (catalog, source_id)
        References (canonical catalog) measured cleanly on the image, normalized or not.
    reference_rows : numpy.ndarray of int
        Positions of the measurements that are references with a baseline (empty when
        refused).
    reference_factor, reference_factor_err : numpy.ndarray
        The factor (and error) applied to each of ``reference_rows``: its leave-one-out
        factor, or the image's for a clipped one. Every other measurement gets
        ``record.factor``: what is stored to normalize at read time.
    """

    record: ImageNormalization
    normalized_flux_jy: np.ndarray | None
    normalized_flux_err_jy: np.ndarray | None
    references_seen: frozenset
    reference_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    reference_factor: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reference_factor_err: np.ndarray = field(default_factory=lambda: np.zeros(0))


def normalize_image_arrays(
    data_id: str,
    catalog: Sequence[str],
    source_id: Sequence[str],
    flux: np.ndarray,
    err: np.ndarray,
    flags: Sequence[str],
    baselines: Mapping[tuple[str, str], float],
    *,
    min_references: int,
    clip_sigma: float = 3.0,
    max_iter: int = 5,
    any_baselines: bool | None = None,
) -> NormalizedImage:
    """Normalize one image's measurements against the baselines of the active references.

    Parameters
    ----------
    data_id : str
        The image (names the record).
    catalog, source_id : sequence of str
        Each measurement's source.
    flux, err : numpy.ndarray
        Raw flux and error of each measurement (NaN when missing).
    flags : sequence of str
        Each measurement's flags (a flagged one is never a reference).
    baselines : mapping of (catalog, source_id) to float
        Baseline flux of every active reference (catalog as :func:`canonical_catalog`; NaN
        when unknown: the reference is then seen but not used).
    min_references : int
        Fewer references measured cleanly (or left after clipping) refuse the image.
    clip_sigma, max_iter : float, int
        Clipping (see :func:`correction_factor`).
    any_baselines : bool, optional
        Whether any reference at all is active, when ``baselines`` holds only those measured
        on this image (it words a refusal); by default, whether ``baselines`` is empty.

    Returns
    -------
    NormalizedImage
        The record and the normalized values (or the refusal and its reason).

    Raises
    ------
    ValueError
        Columns of different lengths.

    Examples
    --------
    >>> out = normalize_image_arrays("img", ["nvss"] * 3, ["a", "b", "c"],
    ...                              np.array([2.0, 2.2, 5.0]), np.full(3, 0.01), ["", "", ""],
    ...                              {("master", "a"): 1.0, ("master", "b"): 1.1},
    ...                              min_references=2)
    >>> out.record.status, round(out.record.factor, 3), out.normalized_flux_jy[2].round(3)
    ('normalized', 2.0, np.float64(2.5))
    """
    flux = np.asarray(flux, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    n = flux.size
    if any(len(c) != n for c in (catalog, source_id, err, flags)):
        raise ValueError("catalog, source_id, flux, err and flags must have the same length")

    def refuse(reason: str, n_cand: int = 0) -> NormalizedImage:
        rec = ImageNormalization(data_id, "not_normalizable", None, None, 0, n_cand, reason)
        return NormalizedImage(rec, None, None, frozenset(seen))

    base = np.full(n, np.nan)
    seen: set[tuple[str, str]] = set()
    for i in range(n):
        if flags[i]:  # flagged measurement
            continue
        key = (canonical_catalog(catalog[i]), source_id[i])
        if key in baselines and key not in seen:  # one row per reference (nvss/master twins)
            seen.add(key)
            base[i] = baselines[key]
    is_ref = np.isfinite(base) & np.isfinite(flux) & (flux > 0) & np.isfinite(err) & (err > 0)
    n_cand = int(is_ref.sum())
    if n_cand < min_references:
        why = (
            "no reference has a baseline yet"
            if not (bool(baselines) if any_baselines is None else any_baselines)
            else "too few references with baselines"
        )
        return refuse(
            f"{why}: {n_cand} measured cleanly on the image, need {min_references}", n_cand
        )
    ri = np.flatnonzero(is_ref)
    ratios = flux[ri] / base[ri]
    rerr = err[ri] / base[ri]
    factor, factor_err, n_used, used = correction_factor(
        ratios, rerr, clip_sigma=clip_sigma, max_iter=max_iter
    )
    if int(n_used) < min_references:
        return refuse(
            f"only {int(n_used)} of {n_cand} references left after clipping, need {min_references}",
            n_cand,
        )
    f_all = np.full(n, float(factor))
    fe_all = np.full(n, float(factor_err))
    loo, loo_err = leave_one_out(ratios, rerr, used, np.asarray(factor_err))
    f_all[ri] = loo
    fe_all[ri] = loo_err
    nf, ne = apply_factor(flux, err, f_all, fe_all)
    rec = ImageNormalization(
        data_id, "normalized", float(factor), float(factor_err), int(n_used), n_cand, None
    )
    return NormalizedImage(rec, nf, ne, frozenset(seen), ri, loo, loo_err)
