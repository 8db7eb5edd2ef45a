"""Differential photometry: per-image correction factors from stable reference sources.

Method
------
- **References.** The master catalog's reference candidates (``is_reference``: unresolved at
  the DSA-110 beam, unconfused, high SNR, steep spectrum), kept in ``reference_sources``. The
  master ``source_id`` *is* the NVSS id, so a reference ``("master", id)`` matches photometry
  rows of catalog ``"master"`` or ``"nvss"`` with that id; references of any other catalog
  match rows of that catalog only. Tests, the demo and users may also register an explicit
  reference set (:func:`set_references`). Only clean measurements (empty ``flags``) with a
  finite positive flux and error, on images whose QA did not fail, are used.
- **Baselines.** A reference's baseline is the median flux over its first
  ``normalize.baseline_epochs`` good measurements (``kind="image"``), with the uncertainty of
  :func:`~dsa110_contimg.photometry.lightcurve.robust_baseline`; re-established on demand
  (:func:`establish_baselines` with ``force=True``). Because all references of a field get
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

Everything is re-runnable over stored photometry (:func:`normalize_image`,
:func:`normalize_all`); images measured before baselines existed are normalized as soon as
they are established (:func:`on_photometry_written`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from sqlalchemy import bindparam, func, or_, select, update

from ..config import Settings, resolve_settings
from ..database import get_engine, write_transaction
from ..database.tables import (
    data_registry,
    image_normalization,
    images,
    photometry,
    reference_sources,
)
from ..errors import CatalogError, ContimgError, NormalizationError, NotFoundError
from .lightcurve import robust_baseline

__all__ = [
    "ImageNormalization",
    "apply_factor",
    "canonical_catalog",
    "correction_factor",
    "establish_baselines",
    "get_image_normalization",
    "list_references",
    "normalize_all",
    "normalize_arrays",
    "normalize_image",
    "normalize_measurement",
    "on_photometry_written",
    "set_references",
]

log = logging.getLogger(__name__)

#: Catalogs whose source ids are the same (the master catalog is NVSS-anchored).
NVSS_ALIASES = frozenset({"master", "nvss"})
_CHUNK = 500


def canonical_catalog(catalog: str) -> str:
    """Return the catalog name under which a reference is stored (``nvss`` -> ``master``).

    Examples
    --------
    >>> canonical_catalog("nvss"), canonical_catalog("racs")
    ('master', 'racs')
    """
    return "master" if catalog in NVSS_ALIASES else catalog


# --------------------------------------------------------------------------------------------
# pure arithmetic (shared by the database path and the statistical tests)


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
    import warnings

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


# --------------------------------------------------------------------------------------------
# records


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


def _now() -> float:
    return time.time()


def _finite_or_none(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


# --------------------------------------------------------------------------------------------
# references


def set_references(
    refs: Iterable[tuple[str, str]] | Iterable[dict],
    *,
    origin: str = "explicit",
    settings: Settings | None = None,
) -> int:
    """Register reference sources (kept if already present).

    Parameters
    ----------
    refs : iterable of (catalog, source_id) or dicts with those keys
        The references.
    origin : str
        ``explicit`` (a given set) or ``master`` (the master catalog's selection).
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    int
        Number of references added.
    """
    settings = resolve_settings(settings)
    keys = []
    for r in refs:
        cat, sid = (r["catalog"], r["source_id"]) if isinstance(r, dict) else r
        keys.append((canonical_catalog(str(cat)), str(sid)))
    with write_transaction(get_engine(settings)) as conn:
        return _add_references(conn, keys, origin=origin)


def _add_references(conn, keys: Sequence[tuple[str, str]], *, origin: str) -> int:
    keys = list(dict.fromkeys(keys))
    if not keys:
        return 0
    existing = set()
    for i in range(0, len(keys), _CHUNK):
        part = keys[i : i + _CHUNK]
        sids = [k[1] for k in part]
        rows = conn.execute(
            select(reference_sources.c.catalog, reference_sources.c.source_id).where(
                reference_sources.c.source_id.in_(sids)
            )
        ).all()
        existing.update((r.catalog, r.source_id) for r in rows)
    new = [k for k in keys if k not in existing]
    if new:
        now = _now()
        conn.execute(
            reference_sources.insert(),
            [
                {
                    "catalog": c,
                    "source_id": s,
                    "origin": origin,
                    "status": "candidate",
                    "updated_at": now,
                }
                for c, s in new
            ],
        )
    return len(new)


def list_references(*, status: str | None = None, settings: Settings | None = None) -> list[dict]:
    """Return the reference sources (with baselines, status and drop reasons) as dicts."""
    settings = resolve_settings(settings)
    stmt = select(reference_sources).order_by(
        reference_sources.c.catalog, reference_sources.c.source_id
    )
    if status is not None:
        stmt = stmt.where(reference_sources.c.status == status)
    with get_engine(settings).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def _sync_master_references(conn, data_id: str, settings: Settings) -> int:
    """Add the master catalog's reference candidates lying on an image (if the catalog exists)."""
    try:
        from ..catalog import query_sources  # provided by the catalog stage
    except ImportError:
        return 0
    box = conn.execute(
        select(
            func.min(photometry.c.ra_deg),
            func.max(photometry.c.ra_deg),
            func.min(photometry.c.dec_deg),
            func.max(photometry.c.dec_deg),
        ).where(photometry.c.data_id == data_id)
    ).one()
    if box[0] is None:
        return 0
    img = conn.execute(
        select(images.c.ra_center_deg, images.c.dec_center_deg).where(images.c.data_id == data_id)
    ).first()
    dec_c = (box[2] + box[3]) / 2
    ra_c = (box[0] + box[1]) / 2 if box[1] - box[0] < 180 else 0.0
    if img is not None and img.ra_center_deg is not None:
        ra_c, dec_c = img.ra_center_deg, img.dec_center_deg
    from astropy.coordinates import SkyCoord

    corners = SkyCoord(
        [box[0], box[1], box[0], box[1]], [box[2], box[2], box[3], box[3]], unit="deg"
    )
    radius = float(np.max(SkyCoord(ra_c, dec_c, unit="deg").separation(corners).deg)) + 0.01
    try:
        table = query_sources("master", ra_c, dec_c, min(radius, 90.0), settings=settings)
    except CatalogError as exc:
        log.debug("no master-catalog references for %s: %s", data_id, exc)
        return 0
    if "is_reference" not in table.colnames or len(table) == 0:
        return 0
    sel = np.asarray(table["is_reference"], dtype=bool)
    keys = [("master", str(s)) for s in np.asarray(table["source_id"])[sel]]
    return _add_references(conn, keys, origin="master")


def _ref_lookup(conn, statuses: Sequence[str]) -> dict[tuple[str, str], dict]:
    rows = conn.execute(
        select(reference_sources).where(reference_sources.c.status.in_(list(statuses)))
    )
    return {(r.catalog, r.source_id): dict(r._mapping) for r in rows}


def clean_measurements(*columns):
    """SELECT ``columns`` of clean measurements (empty ``flags``) on images whose QA did not fail.

    ``images`` and ``data_registry`` are outer-joined, so ``images.c.kind`` may be selected or
    filtered on. Shared by the baselines and the metric recomputation.
    """
    return (
        select(*columns)
        .select_from(
            photometry.outerjoin(images, images.c.data_id == photometry.c.data_id).outerjoin(
                data_registry, data_registry.c.data_id == photometry.c.data_id
            )
        )
        .where(
            photometry.c.flags == "",
            or_(data_registry.c.qa_status.is_(None), data_registry.c.qa_status != "failed"),
        )
    )


def _good_rows_stmt():
    """Clean measurements with a positive flux and error on single images (for baselines)."""
    return clean_measurements(
        photometry.c.catalog,
        photometry.c.source_id,
        photometry.c.flux_jy,
        photometry.c.flux_err_jy,
        photometry.c.mjd,
    ).where(photometry.c.flux_jy > 0, photometry.c.flux_err_jy > 0, images.c.kind == "image")


def _establish(conn, keys: Sequence[tuple[str, str]], settings: Settings) -> list[tuple[str, str]]:
    """Set the baselines of ``keys`` that have enough good epochs; return those established."""
    k = settings.normalize.baseline_epochs
    by_key: dict[tuple[str, str], list[tuple[float, float, float]]] = {key: [] for key in keys}
    sids = sorted({s for _, s in keys})
    for i in range(0, len(sids), _CHUNK):
        stmt = _good_rows_stmt().where(photometry.c.source_id.in_(sids[i : i + _CHUNK]))
        for r in conn.execute(stmt):
            key = (canonical_catalog(r.catalog), r.source_id)
            if key in by_key:
                by_key[key].append(
                    (r.mjd if r.mjd is not None else math.inf, r.flux_jy, r.flux_err_jy)
                )
    done = []
    now = _now()
    for key, pts in by_key.items():
        pts.sort()
        # one point per epoch day-window is not required: the first K good measurements
        if len(pts) < k:
            continue
        arr = np.array(pts[:k])
        b, eb = robust_baseline(arr[:, 1], arr[:, 2])
        conn.execute(
            update(reference_sources)
            .where(reference_sources.c.catalog == key[0], reference_sources.c.source_id == key[1])
            .values(
                baseline_flux_jy=float(b),
                baseline_err_jy=float(eb),
                n_baseline=k,
                status="active",
                drop_reason=None,
                established_at=now,
                updated_at=now,
            )
        )
        done.append(key)
    return done


def establish_baselines(
    *,
    force: bool = False,
    references: Iterable[tuple[str, str]] | None = None,
    settings: Settings | None = None,
) -> list[tuple[str, str]]:
    """Establish reference baselines from stored photometry.

    Parameters
    ----------
    force : bool
        Re-establish every reference (dropped ones included: they get a fresh chance),
        not only candidates without a baseline.
    references : iterable of (catalog, source_id), optional
        Restrict to these references.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    list of (catalog, source_id)
        References whose baseline was (re-)established. Images are not re-normalized here;
        :func:`normalize_all` does both.
    """
    settings = resolve_settings(settings)
    with write_transaction(get_engine(settings)) as conn:
        statuses = ["candidate", "active", "dropped"] if force else ["candidate"]
        keys = list(_ref_lookup(conn, statuses))
        if references is not None:
            wanted = {(canonical_catalog(c), s) for c, s in references}
            keys = [key for key in keys if key in wanted]
        return _establish(conn, keys, settings)


# --------------------------------------------------------------------------------------------
# per-image normalization


def _qa_failed(conn, data_id: str) -> bool:
    qa = conn.execute(
        select(data_registry.c.qa_status).where(data_registry.c.data_id == data_id)
    ).scalar()
    return qa == "failed"


def fetch_raw(conn, sql: str, params: Sequence = ()) -> list[tuple]:
    """Run a SELECT on the driver cursor of ``conn`` (inside its transaction); return tuples.

    The hot paths read 10 000 rows per image; plain tuples avoid the per-row cost of result
    objects. ``sql`` uses ``?`` placeholders (turned into ``%s`` on PostgreSQL).
    """
    if conn.dialect.name != "sqlite":
        sql = sql.replace("?", "%s")
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(sql, tuple(params))
        return cur.fetchall()
    finally:
        cur.close()


def _image_rows(conn, data_id: str) -> list[tuple]:
    """(id, catalog, source_id, flux_jy, flux_err_jy, flags) of an image's photometry."""
    return fetch_raw(
        conn,
        "SELECT id, catalog, source_id, flux_jy, flux_err_jy, flags FROM photometry "
        "WHERE data_id = ?",
        (data_id,),
    )


def _store_normalization(conn, rec: ImageNormalization) -> None:
    from ..database.products import upsert

    values = rec.to_dict()
    values["updated_at"] = _now()
    upsert(
        conn,
        image_normalization,
        values,
        key=["data_id"],
        update=[k for k in values if k != "data_id"],
    )


_SET_NORM = (
    update(photometry)
    .where(photometry.c.id == bindparam("b_id"))
    .values(normalized_flux_jy=bindparam("b_nf"), normalized_flux_err_jy=bindparam("b_ne"))
)


def _write_normalized(conn, ids, nf, ne) -> None:
    nf = np.where(np.isfinite(nf), nf, np.nan)
    params = [
        {
            "b_id": int(i),
            "b_nf": (None if not math.isfinite(a) else float(a)),
            "b_ne": (None if not math.isfinite(b) else float(b)),
        }
        for i, a, b in zip(ids, nf.tolist(), ne.tolist(), strict=True)
    ]
    if not params:
        return
    if conn.dialect.name == "sqlite":  # the driver's executemany: ~4x faster than Core here
        cur = conn.connection.dbapi_connection.cursor()
        try:
            cur.executemany(
                "UPDATE photometry SET normalized_flux_jy = ?, normalized_flux_err_jy = ? "
                "WHERE id = ?",
                [(p["b_nf"], p["b_ne"], p["b_id"]) for p in params],
            )
        finally:
            cur.close()
    else:
        conn.execute(_SET_NORM, params)


def _normalize_image(
    conn, data_id: str, settings: Settings, refs_seen: set | None = None
) -> ImageNormalization:
    ns = settings.normalize

    def refuse(reason: str, n_cand: int = 0) -> ImageNormalization:
        conn.execute(
            update(photometry)
            .where(photometry.c.data_id == data_id)
            .values(normalized_flux_jy=None, normalized_flux_err_jy=None)
        )
        rec = ImageNormalization(data_id, "not_normalizable", None, None, 0, n_cand, reason)
        _store_normalization(conn, rec)
        log.info("image %s not normalizable: %s", data_id, reason)
        return rec

    kind = conn.execute(select(images.c.kind).where(images.c.data_id == data_id)).scalar()
    if kind is None:
        exists = conn.execute(
            select(photometry.c.id).where(photometry.c.data_id == data_id).limit(1)
        ).first()
        if exists is None:
            raise NotFoundError(f"no image or photometry with data_id {data_id!r}")
    if _qa_failed(conn, data_id):
        return refuse("image failed QA")
    rows = _image_rows(conn, data_id)
    if not rows:
        return refuse("no photometry on the image")
    refs = _ref_lookup(conn, ["active"])
    n = len(rows)
    cols = list(zip(*rows, strict=True))
    ids = np.array(cols[0], dtype=np.int64)
    flux = np.array(cols[3], dtype=np.float64)  # None -> NaN
    err = np.array(cols[4], dtype=np.float64)
    base = np.full(n, np.nan)
    seen: set[tuple[str, str]] = set()
    for i, r in enumerate(rows):
        if r[5]:  # flagged measurement
            continue
        key = (canonical_catalog(r[1]), r[2])
        ref = refs.get(key)
        if ref is not None and key not in seen:  # one row per reference (nvss/master twins)
            seen.add(key)
            base[i] = ref["baseline_flux_jy"]
    if refs_seen is not None:
        refs_seen.update(seen)
    is_ref = np.isfinite(base) & np.isfinite(flux) & (flux > 0) & np.isfinite(err) & (err > 0)
    n_cand = int(is_ref.sum())
    if n_cand < ns.min_references:
        why = "no reference has a baseline yet" if not refs else "too few references with baselines"
        return refuse(
            f"{why}: {n_cand} measured cleanly on the image, need {ns.min_references}", n_cand
        )
    ri = np.flatnonzero(is_ref)
    ratios = flux[ri] / base[ri]
    rerr = err[ri] / base[ri]
    factor, factor_err, n_used, used = correction_factor(
        ratios, rerr, clip_sigma=ns.clip_sigma, max_iter=ns.clip_iterations
    )
    if int(n_used) < ns.min_references:
        return refuse(
            f"only {int(n_used)} of {n_cand} references left after clipping, "
            f"need {ns.min_references}",
            n_cand,
        )
    f_all = np.full(n, float(factor))
    fe_all = np.full(n, float(factor_err))
    loo, loo_err = leave_one_out(ratios, rerr, used, np.asarray(factor_err))
    f_all[ri] = loo
    fe_all[ri] = loo_err
    nf, ne = apply_factor(flux, err, f_all, fe_all)
    _write_normalized(conn, ids, nf, ne)
    rec = ImageNormalization(
        data_id, "normalized", float(factor), float(factor_err), int(n_used), n_cand, None
    )
    _store_normalization(conn, rec)
    return rec


def normalize_image(data_id: str, *, settings: Settings | None = None) -> ImageNormalization:
    """Normalize one image's stored photometry with the current reference baselines.

    Parameters
    ----------
    data_id : str
        The image's (or mosaic's) ``data_id``.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    ImageNormalization
        The stored record (``status`` ``normalized`` or ``not_normalizable`` with a reason).

    Raises
    ------
    NotFoundError
        No image or photometry with that ``data_id``.
    """
    settings = resolve_settings(settings)
    with write_transaction(get_engine(settings)) as conn:
        return _normalize_image(conn, data_id, settings)


def get_image_normalization(
    data_id: str, *, settings: Settings | None = None
) -> ImageNormalization | None:
    """Return the stored normalization of an image, or None if it was never attempted."""
    settings = resolve_settings(settings)
    with get_engine(settings).connect() as conn:
        r = conn.execute(
            select(image_normalization).where(image_normalization.c.data_id == data_id)
        ).first()
    if r is None:
        return None
    return ImageNormalization(
        r.data_id, r.status, r.factor, r.factor_err, r.n_refs, r.n_candidates, r.reason
    )


def normalize_measurement(
    flux_jy: float, flux_err_jy: float, data_id: str, *, settings: Settings | None = None
) -> tuple[float, float]:
    """Normalize one measurement made on a stored image.

    Parameters
    ----------
    flux_jy, flux_err_jy : float
        Raw flux and error.
    data_id : str
        The image the measurement was made on (its factor must exist).
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    (float, float)
        Normalized flux and its error (measurement and factor errors propagated).

    Raises
    ------
    NormalizationError
        The image is not normalized (with the recorded reason).
    """
    rec = get_image_normalization(data_id, settings=settings)
    if rec is None:
        raise NormalizationError(
            f"image {data_id!r} has not been normalized (run 'contimg photometry normalize')"
        )
    if rec.status != "normalized":
        raise NormalizationError(f"image {data_id!r} is not normalizable: {rec.reason}")
    nf, ne = apply_factor(
        np.array([flux_jy]),
        np.array([flux_err_jy]),
        np.array([rec.factor]),
        np.array([rec.factor_err]),
    )
    return float(nf[0]), float(ne[0])


# --------------------------------------------------------------------------------------------
# variable references


def _drop_variable_references(conn, settings: Settings, keys=None) -> list[tuple[str, str]]:
    """Drop active references whose normalized light curve varies; return those dropped."""
    from scipy.special import chdtrc  # chi-square survival function (lighter than scipy.stats)

    from ..database.tables import source_metrics

    ns = settings.normalize
    series = "image" if "image" in ns.metric_series else ns.metric_series[0]
    refs = _ref_lookup(conn, ["active"])
    if keys is not None:
        wanted = set(keys)
        refs = {k: v for k, v in refs.items() if k in wanted}
    if not refs:
        return []
    sids = sorted({s for _, s in refs})
    dropped = []
    now = _now()
    for i in range(0, len(sids), _CHUNK):
        rows = conn.execute(
            select(
                source_metrics.c.catalog,
                source_metrics.c.source_id,
                source_metrics.c.eta,
                source_metrics.c.n_points,
            ).where(
                source_metrics.c.series == series,
                source_metrics.c.source_id.in_(sids[i : i + _CHUNK]),
            )
        ).all()
        for r in rows:
            key = (canonical_catalog(r.catalog), r.source_id)
            if key not in refs or r.eta is None or r.n_points < ns.reference_min_epochs:
                continue
            dof = r.n_points - 1
            p = float(chdtrc(dof, r.eta * dof))
            conn.execute(
                update(reference_sources)
                .where(
                    reference_sources.c.catalog == key[0], reference_sources.c.source_id == key[1]
                )
                .values(chi2_reduced=float(r.eta), n_epochs=int(r.n_points), updated_at=now)
            )
            if r.eta > ns.reference_drop_chi2 and p < ns.reference_drop_p:
                reason = (
                    f"variable: reduced chi2 {r.eta:.2f} over {r.n_points} {series} points "
                    f"(p={p:.1e})"
                )
                conn.execute(
                    update(reference_sources)
                    .where(
                        reference_sources.c.catalog == key[0],
                        reference_sources.c.source_id == key[1],
                    )
                    .values(status="dropped", drop_reason=reason, updated_at=now)
                )
                log.warning("reference %s:%s dropped, %s", key[0], key[1], reason)
                dropped.append(key)
    return dropped


# --------------------------------------------------------------------------------------------
# whole-database and per-item entry points


def normalize_all(*, reestablish: bool = False, settings: Settings | None = None) -> dict:
    """Normalize every stored image again, then recompute all metrics and ESE candidates.

    Baselines of candidate references are established first (all of them with
    ``reestablish=True``); references found variable are dropped and the images normalized
    once more without them.

    Parameters
    ----------
    reestablish : bool
        Re-establish every reference baseline from the stored photometry.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    dict
        ``images``, ``normalized``, ``not_normalizable``, ``established``, ``dropped``.
    """
    from .variability import recompute_metrics

    settings = resolve_settings(settings)
    engine = get_engine(settings)
    established = establish_baselines(force=reestablish, settings=settings)
    dropped: list = []
    for _ in range(3):  # normalize, test the references, again without the variable ones
        with engine.connect() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    select(images.c.data_id).order_by(images.c.mjd_mid, images.c.data_id)
                )
            ]
            extra = conn.execute(
                select(photometry.c.data_id)
                .distinct()
                .where(photometry.c.data_id.not_in(select(images.c.data_id)))
            ).all()
        ids += [r[0] for r in extra]
        counts = {"normalized": 0, "not_normalizable": 0}
        for data_id in ids:
            with write_transaction(engine) as conn:
                rec = _normalize_image(conn, data_id, settings)
            counts[rec.status] += 1
        recompute_metrics(settings=settings)
        with write_transaction(engine) as conn:
            new = _drop_variable_references(conn, settings)
        dropped += new
        if not new:
            break
    return {"images": len(ids), **counts, "established": len(established), "dropped": len(dropped)}


def on_photometry_written(
    data_id: str, *, normalize: bool, settings: Settings | None = None
) -> dict:
    """Normalize and update metrics after the job worker wrote an item's photometry rows.

    Normalizes the image if asked (adding the master catalog's references on it, and
    establishing the baselines of references that now have enough good epochs, which then
    back-fills every earlier image that was waiting for them), then updates the variability
    metrics and ESE candidates of the sources on the image incrementally. Science outcomes
    (not normalizable, no references) are recorded, never raised.

    Parameters
    ----------
    data_id : str
        The image or mosaic whose rows were just written.
    normalize : bool
        Normalize the image (the job's ``normalize`` option).
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    dict
        ``normalization`` (the record as a dict, or None), ``established``, ``backfilled``,
        ``metrics`` (sources updated), ``dropped``.
    """
    from .variability import recompute_metrics, update_metrics_for_image

    settings = resolve_settings(settings)
    engine = get_engine(settings)
    out: dict = {
        "normalization": None,
        "established": 0,
        "backfilled": 0,
        "metrics": 0,
        "dropped": 0,
    }
    if normalize:
        with write_transaction(engine) as conn:
            try:
                _sync_master_references(conn, data_id, settings)
            except ContimgError as exc:  # the catalog is optional for normalization
                log.warning("master-catalog references for %s unavailable: %s", data_id, exc)
            # candidate references measured on this image (a join: no scan of its rows)
            on_image = {
                (canonical_catalog(r[0]), r[1])
                for r in conn.execute(
                    select(photometry.c.catalog, photometry.c.source_id)
                    .select_from(
                        photometry.join(
                            reference_sources,
                            reference_sources.c.source_id == photometry.c.source_id,
                        )
                    )
                    .where(
                        photometry.c.data_id == data_id,
                        reference_sources.c.status == "candidate",
                    )
                )
            }
            cands = _ref_lookup(conn, ["candidate"]) if on_image else {}
            new = _establish(conn, [k for k in cands if k in on_image], settings) if cands else []
        out["established"] = len(new)
        backfill: list[str] = []
        if new:
            with engine.connect() as conn:
                sids = sorted({s for _, s in new})
                pending = set()
                for i in range(0, len(sids), _CHUNK):
                    stmt = (
                        select(photometry.c.data_id)
                        .distinct()
                        .select_from(
                            photometry.outerjoin(
                                image_normalization,
                                image_normalization.c.data_id == photometry.c.data_id,
                            )
                        )
                        .where(
                            photometry.c.source_id.in_(sids[i : i + _CHUNK]),
                            photometry.c.data_id != data_id,
                            or_(
                                image_normalization.c.status.is_(None),
                                image_normalization.c.status != "normalized",
                            ),
                        )
                    )
                    pending.update(r[0] for r in conn.execute(stmt))
                backfill = sorted(pending)
            for other in backfill:
                with write_transaction(engine) as conn:
                    _normalize_image(conn, other, settings)
            out["backfilled"] = len(backfill)
        refs_seen: set = set()
        try:
            with write_transaction(engine) as conn:
                rec = _normalize_image(conn, data_id, settings, refs_seen)
            out["normalization"] = rec.to_dict()
        except NotFoundError:  # the item wrote no rows (no source on the image): nothing to do
            log.info("no photometry stored for %s: nothing to normalize", data_id)
            return out
        if backfill:
            with engine.connect() as conn:
                keys = set()
                for i in range(0, len(backfill), _CHUNK):
                    keys.update(
                        (r.catalog, r.source_id)
                        for r in conn.execute(
                            select(photometry.c.catalog, photometry.c.source_id)
                            .distinct()
                            .where(photometry.c.data_id.in_(backfill[i : i + _CHUNK] + [data_id]))
                        )
                    )
            out["metrics"] = recompute_metrics(sorted(keys), settings=settings)
    if not out["backfilled"]:
        out["metrics"] = update_metrics_for_image(data_id, settings=settings)
    if normalize and refs_seen:
        with write_transaction(engine) as conn:
            out["dropped"] = len(_drop_variable_references(conn, settings, refs_seen))
    return out
