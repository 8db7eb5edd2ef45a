"""Normalization of stored photometry: load, compute (:mod:`dsa110_contimg.variability`), store.

The method is described in :mod:`dsa110_contimg.variability.normalization`. Everything is
re-runnable over stored photometry (:func:`normalize_image`, :func:`normalize_all`); images
measured before baselines existed are normalized as soon as they are established
(:func:`on_photometry_written`, called by the job worker after it stores an item's rows).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import numpy as np

from ...config import Settings, resolve_settings
from ...database import get_engine, write_transaction
from ...database import metrics as mstore
from ...database import normalization as store
from ...database.caltables import excluded_from_science
from ...errors import CatalogError, ContimgError, NormalizationError, NotFoundError
from ..normalization import (
    ImageNormalization,
    apply_factor,
    canonical_catalog,
    normalize_image_arrays,
)
from ..references import assess_references, covering_circle, reference_baselines

__all__ = [
    "establish_baselines",
    "get_image_normalization",
    "list_references",
    "normalize_all",
    "normalize_image",
    "normalize_measurement",
    "on_photometry_written",
    "set_references",
]

log = logging.getLogger(__name__)


def _now() -> float:
    return time.time()


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
        return store.add_references(conn, keys, origin=origin, now=_now())


def list_references(*, status: str | None = None, settings: Settings | None = None) -> list[dict]:
    """Return the reference sources (with baselines, status and drop reasons) as dicts."""
    settings = resolve_settings(settings)
    with get_engine(settings).connect() as conn:
        return store.list_references(conn, status=status)


def _sync_master_references(conn, data_id: str, settings: Settings) -> int:
    """Add the master catalog's reference candidates lying on an image (if the catalog exists)."""
    try:
        from ...catalog import query_sources  # provided by the catalog stage
    except ImportError:
        return 0
    box = store.measured_box(conn, data_id)
    if box is None:
        return 0
    ra_c, dec_c, radius = covering_circle(*box, centre=store.image_centre(conn, data_id))
    try:
        table = query_sources("master", ra_c, dec_c, radius, settings=settings)
    except CatalogError as exc:
        log.debug("no master-catalog references for %s: %s", data_id, exc)
        return 0
    if "is_reference" not in table.colnames or len(table) == 0:
        return 0
    sel = np.asarray(table["is_reference"], dtype=bool)
    keys = [("master", str(s)) for s in np.asarray(table["source_id"])[sel]]
    return store.add_references(conn, keys, origin="master", now=_now())


def _establish(conn, keys, settings: Settings) -> list[tuple[str, str]]:
    """Set the baselines of ``keys`` that have enough good epochs; return those established."""
    k = settings.normalize.baseline_epochs
    pts = store.reference_points(conn, (s for _, s in keys))
    baselines = reference_baselines(
        keys, pts.catalog, pts.source_id, pts.mjd, pts.flux, pts.err, baseline_epochs=k
    )
    store.set_baselines(conn, baselines, n_baseline=k, now=_now())
    return list(baselines)


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
        keys = list(store.reference_rows(conn, statuses))
        if references is not None:
            wanted = {(canonical_catalog(c), s) for c, s in references}
            keys = [key for key in keys if key in wanted]
        return _establish(conn, keys, settings)


# --------------------------------------------------------------------------------------------
# per-image normalization


def _store(conn, rec: ImageNormalization) -> None:
    store.store_normalization(conn, rec.to_dict(), now=_now())


def _normalize_image(
    conn, data_id: str, settings: Settings, refs_seen: set | None = None
) -> ImageNormalization:
    ns = settings.normalize

    def refuse(reason: str) -> ImageNormalization:
        rec = ImageNormalization(data_id, "not_normalizable", None, None, 0, 0, reason)
        store.clear_normalized(conn, data_id)
        _store(conn, rec)
        log.info("image %s not normalizable: %s", data_id, reason)
        return rec

    if store.image_kind(conn, data_id) is None and not store.product_has_photometry(conn, data_id):
        raise NotFoundError(f"no image or photometry with data_id {data_id!r}")
    excluded = excluded_from_science(conn, data_id)
    if excluded is not None:
        return refuse(f"image is {excluded}")
    if store.qa_failed(conn, data_id):
        return refuse("image failed QA")
    rows = store.image_photometry(conn, data_id)
    if not len(rows):
        return refuse("no photometry on the image")
    active = store.reference_rows(conn, ["active"])
    baselines = {
        key: (np.nan if r["baseline_flux_jy"] is None else r["baseline_flux_jy"])
        for key, r in active.items()
    }
    out = normalize_image_arrays(
        data_id,
        rows.catalog,
        rows.source_id,
        rows.flux,
        rows.err,
        rows.flags,
        baselines,
        min_references=ns.min_references,
        clip_sigma=ns.clip_sigma,
        max_iter=ns.clip_iterations,
    )
    if refs_seen is not None:
        refs_seen.update(out.references_seen)
    if out.normalized_flux_jy is None:
        store.clear_normalized(conn, data_id)
        _store(conn, out.record)
        log.info("image %s not normalizable: %s", data_id, out.record.reason)
        return out.record
    store.write_normalized(conn, rows.ids, out.normalized_flux_jy, out.normalized_flux_err_jy)
    _store(conn, out.record)
    return out.record


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
        r = store.get_normalization(conn, data_id)
    if r is None:
        return None
    return ImageNormalization(
        r["data_id"], r["status"], r["factor"], r["factor_err"], r["n_refs"],
        r["n_candidates"], r["reason"],
    )  # fmt: skip


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
    ns = settings.normalize
    series = "image" if "image" in ns.metric_series else ns.metric_series[0]
    refs = store.reference_rows(conn, ["active"])
    if keys is not None:
        wanted = set(keys)
        refs = {k: v for k, v in refs.items() if k in wanted}
    if not refs:
        return []
    rows = [
        (canonical_catalog(c), s, eta, n)
        for c, s, eta, n in mstore.reference_metrics(conn, series, [s for _, s in refs])
    ]
    rows = [r for r in rows if (r[0], r[1]) in refs]
    tests = assess_references(
        [r[2] for r in rows],
        [r[3] for r in rows],
        series=series,
        drop_chi2=ns.reference_drop_chi2,
        drop_p=ns.reference_drop_p,
        min_epochs=ns.reference_min_epochs,
    )
    dropped = []
    now = _now()
    for (c, s, _, _), t in zip(rows, tests, strict=True):
        if t is None:
            continue
        key = (c, s)
        store.record_reference_test(
            conn, key, chi2_reduced=t.chi2_reduced, n_epochs=t.n_epochs, now=now
        )
        if t.drop:
            store.drop_reference(conn, key, reason=t.reason, now=now)
            log.warning("reference %s:%s dropped, %s", key[0], key[1], t.reason)
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
    from .metrics import recompute_metrics

    settings = resolve_settings(settings)
    engine = get_engine(settings)
    established = establish_baselines(force=reestablish, settings=settings)
    dropped: list = []
    for _ in range(3):  # normalize, test the references, again without the variable ones
        with engine.connect() as conn:
            ids = store.products_in_order(conn)
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
    from .metrics import recompute_metrics, update_metrics_for_image

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
            on_image = {
                (canonical_catalog(c), s)
                for c, s in store.candidate_references_on_image(conn, data_id)
            }
            cands = store.reference_rows(conn, ["candidate"]) if on_image else {}
            new = _establish(conn, [k for k in cands if k in on_image], settings) if cands else []
        out["established"] = len(new)
        backfill: list[str] = []
        if new:
            with engine.connect() as conn:
                backfill = store.images_waiting_for(conn, (s for _, s in new), exclude=data_id)
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
                keys = store.sources_on_products(conn, [*backfill, data_id])
            out["metrics"] = recompute_metrics(sorted(keys), settings=settings)
    if not out["backfilled"]:
        out["metrics"] = update_metrics_for_image(data_id, settings=settings)
    if normalize and refs_seen:
        with write_transaction(engine) as conn:
            out["dropped"] = len(_drop_variable_references(conn, settings, refs_seen))
    return out
