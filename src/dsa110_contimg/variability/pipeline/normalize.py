"""Normalization of stored photometry: load, compute (:mod:`dsa110_contimg.variability`), store.

The method is described in :mod:`dsa110_contimg.variability.normalization`. Everything is
re-runnable over stored photometry (:func:`normalize_image`, :func:`normalize_all`); images
measured before baselines existed are normalized as soon as they are established
(:func:`on_photometry_written`, called by the job worker after it stores an item's rows).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...config import Settings, resolve_settings
from ...database import get_engine, listing, write_transaction
from ...database import normalization as store
from ...database import references as rstore
from ...errors import NormalizationError, NotFoundError
from ..normalization import (
    ImageNormalization,
    apply_factor,
    canonical_catalog,
    normalize_image_arrays,
)
from .references import (
    _establish,
    _sync_master_references,
    drop_variable_references,
    establish_baselines,
    list_references,
    set_references,
)

__all__ = [
    "establish_baselines",
    "get_image_normalization",
    "list_references",
    "normalize_all",
    "normalize_image",
    "normalize_measurement",
    "normalize_one_image",
    "on_photometry_written",
    "on_photometry_written_many",
    "prepare_per_image_path",
    "set_references",
]

log = logging.getLogger(__name__)


def _now() -> float:
    return time.time()


# --------------------------------------------------------------------------------------------
# per-image normalization


@dataclass(frozen=True)
class ImageOutcome:
    """A computed (not yet stored) normalization of one image.

    What is stored: the record, its factor and the references' own (leave-one-out) factors
    (``source_keys``, ``ref_factor``, ``ref_factor_err``), which the view ``photometry``
    applies to the rows at read time. A refused image (``record.factor`` None) has its
    normalized values cleared.
    """

    record: ImageNormalization
    source_keys: np.ndarray
    ref_factor: np.ndarray
    ref_factor_err: np.ndarray
    references_seen: frozenset


def active_baselines(conn, keys=None) -> dict[tuple[str, str], float]:
    """Baseline flux of every active reference (NaN when unset), keyed by canonical key.

    With ``keys`` (canonical (catalog, source_id)), only the active references among them:
    what one image needs, read by primary key instead of every reference of the survey.
    """
    rows = (
        rstore.reference_rows(conn, ["active"])
        if keys is None
        else rstore.reference_rows_of(conn, keys, ["active"])
    )
    return {
        key: (np.nan if r["baseline_flux_jy"] is None else r["baseline_flux_jy"])
        for key, r in rows.items()
    }


def compute_images(
    conn,
    data_ids: Sequence[str],
    settings: Settings,
    baselines: dict | None = None,
    *,
    skip_missing: bool = False,
) -> list[ImageOutcome]:
    """Load some images' reference measurements and the active references; normalize (no write).

    A handful of statements for the whole block (:func:`~dsa110_contimg.database.
    normalization.product_states`, :func:`~dsa110_contimg.database.normalization.
    reference_photometry`): a factor depends only on the references measured on the image,
    and the other measurements are normalized at read time by the view ``photometry``.
    ``baselines`` (from :func:`active_baselines`) saves reading the references again when
    many blocks are normalized against the same ones.

    ``skip_missing``: leave out (instead of raising for) the ``data_ids`` with neither an image
    nor photometry: the outcomes are then those of the others, in order.

    Raises
    ------
    NotFoundError
        No image or photometry with one of the ``data_ids`` (unless ``skip_missing``).
    """
    ns = settings.normalize
    none = np.zeros(0, dtype=np.int64)

    def refuse(data_id: str, reason: str) -> ImageOutcome:
        rec = ImageNormalization(data_id, "not_normalizable", None, None, 0, 0, reason)
        return ImageOutcome(rec, none, np.zeros(0), np.zeros(0), frozenset())

    states = (  # one image (the worker's path): one statement; a block: a few for all
        {data_ids[0]: store.product_state(conn, data_ids[0])}
        if len(data_ids) == 1
        else store.product_states(conn, data_ids)
    )
    missing = [d for d in data_ids if not states[d].registered and not states[d].has_photometry]
    if missing and not skip_missing:
        raise NotFoundError(f"no image or photometry with data_id {missing[0]!r}")
    data_ids = [d for d in data_ids if d not in missing]
    wanted = [d for d in data_ids if states[d].excluded is None and not states[d].qa_failed]
    rows_of = store.reference_photometry(conn, wanted) if wanted else {}
    any_baselines = None
    if baselines is None:  # the references on these images only (not the survey's)
        on_images = {
            (canonical_catalog(c), sid)
            for rows in rows_of.values()
            for c, sid in zip(rows.catalog, rows.source_id, strict=True)
        }
        baselines = active_baselines(conn, on_images)
        # words a refusal: "no reference has a baseline yet" only when none does anywhere
        any_baselines = bool(baselines) or rstore.count_references(conn, "active") > 0
    out = []
    for data_id in data_ids:
        st = states[data_id]
        if st.excluded is not None:
            out.append(refuse(data_id, f"image is {st.excluded}"))
            continue
        if st.qa_failed:
            out.append(refuse(data_id, "image failed QA"))
            continue
        if not st.has_photometry:
            out.append(refuse(data_id, "no photometry on the image"))
            continue
        rows = rows_of[data_id]
        norm = normalize_image_arrays(
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
            any_baselines=any_baselines,
        )
        out.append(
            ImageOutcome(
                norm.record,
                rows.source_key[norm.reference_rows],
                norm.reference_factor,
                norm.reference_factor_err,
                norm.references_seen,
            )
        )
    return out


def compute_image(
    conn, data_id: str, settings: Settings, baselines: dict | None = None
) -> ImageOutcome:
    """:func:`compute_images` of one image."""
    return compute_images(conn, [data_id], settings, baselines)[0]


def store_images(conn, outcomes: Sequence[ImageOutcome]) -> list[ImageNormalization]:
    """Store computed normalizations (inside the caller's write transaction).

    The factors (:func:`~dsa110_contimg.database.normalization.write_factors`, a few
    statements for the whole block) and the ``image_normalization`` records.
    """
    store.write_factors(
        conn,
        [
            store.ImageFactors(
                oc.record.data_id,
                oc.record.factor if oc.record.status == "normalized" else None,
                oc.record.factor_err if oc.record.status == "normalized" else None,
                oc.source_keys,
                oc.ref_factor,
                oc.ref_factor_err,
            )
            for oc in outcomes
        ],
    )
    store.store_normalizations(conn, [oc.record.to_dict() for oc in outcomes], now=_now())
    for oc in outcomes:
        if oc.record.status != "normalized":
            log.info(
                "image %s not normalizable: %s; its raw fluxes are stored, it is normalized "
                "later (back-filled) when enough of its references have baselines: nothing to "
                "do while a field is young; a field that stays so has too few stable references",
                oc.record.data_id,
                oc.record.reason,
            )
    return [oc.record for oc in outcomes]


def store_image(conn, oc: ImageOutcome) -> ImageNormalization:
    """Store a computed normalization (inside the caller's write transaction)."""
    return store_images(conn, [oc])[0]


def _normalize_image(
    conn, data_id: str, settings: Settings, refs_seen: set | None = None
) -> ImageNormalization:
    oc = compute_image(conn, data_id, settings)
    if refs_seen is not None:
        refs_seen.update(oc.references_seen)
    return store_image(conn, oc)


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


def normalize_one_image(data_id: str, *, settings: Settings | None = None) -> ImageNormalization:
    """Establish pending baselines, normalize one image, recompute its sources' metrics.

    What ``contimg photometry normalize --image DATA_ID`` runs.

    Parameters
    ----------
    data_id : str
        The image's (or mosaic's) ``data_id``.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    ImageNormalization
        The stored record.
    """
    from .metrics import recompute_metrics

    settings = resolve_settings(settings)
    establish_baselines(settings=settings)
    rec = normalize_image(data_id, settings=settings)
    with get_engine(settings).connect() as conn:
        keys = sorted(store.sources_on_products(conn, [data_id]))
    recompute_metrics(keys, settings=settings)
    return rec


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
    status: dict[str, str] = {}
    scope = keys = None  # the first pass: every product, every source
    for _ in range(3):  # normalize, test the references, again without the variable ones
        with engine.connect() as conn:
            ids = store.products_in_order(conn)
        for data_id in ids if scope is None else [d for d in ids if d in scope]:
            with write_transaction(engine) as conn:
                status[data_id] = _normalize_image(conn, data_id, settings).status
        recompute_metrics(keys, settings=settings)
        with write_transaction(engine) as conn:
            new = drop_variable_references(conn, settings)
        dropped += new
        if not new:
            break
        with engine.connect() as conn:
            scope, keys = pass_scope(conn, new)
    store.vacuum_factors(engine)
    counts = status_counts(status)
    return {"images": len(ids), **counts, "established": len(established), "dropped": len(dropped)}


def status_counts(status: dict[str, str]) -> dict[str, int]:
    """Count the products' latest outcomes: ``normalized``, ``not_normalizable``."""
    return {s: sum(v == s for v in status.values()) for s in ("normalized", "not_normalizable")}


def pass_scope(conn, dropped: Sequence[tuple[str, str]]) -> tuple[set[str], list]:
    """Return what a re-normalization pass after dropping references must redo.

    The products whose factors involved a dropped reference, and the sources measured on
    them (the only metrics their new factors change); every other product's factors and
    every other source's metrics are what the pass would compute again, to the last bit.

    Returns
    -------
    (set of str, list of (catalog, source_id))
    """
    scope = store.products_using_references(conn, [s for _, s in dropped])
    return scope, sorted(store.sources_on_products(conn, scope))


def prepare_per_image_path() -> None:
    """Import now what :func:`on_photometry_written` would import on its first image.

    The per-image path loads some modules lazily (the master-catalog query, astropy's
    coordinates for an image's covering circle, HEALPix for the per-source table, scipy's
    chi-square survival function for the reference test, the metrics and ESE stages): ~0.4 s
    on the first image of a process. The job worker calls this when it starts, so that its
    first image costs what the others do. Nothing here touches a database.
    """
    import astropy.coordinates  # noqa: F401  (covering_circle)
    import astropy_healpix  # noqa: F401  (catalog.spatial.healpix_ring_index)
    import scipy.special  # noqa: F401  (variability.references.assess_references)

    from ... import catalog  # noqa: F401  (the master-catalog references)
    from . import ese, metrics  # noqa: F401


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
    out = on_photometry_written_many([data_id], normalize=normalize, settings=settings)
    rec = out.pop("normalizations").get(data_id)
    return {"normalization": rec, **out}


def on_photometry_written_many(
    data_ids: Sequence[str],
    *,
    normalize: bool,
    settings: Settings | None = None,
    refresh_listing: bool = True,
) -> dict:
    """:func:`on_photometry_written` for several items whose rows were just written.

    One pass for all of them, in a fixed number of transactions whatever their number: the
    master catalog's references on each image are added and the candidates among their
    sources established (a baseline is a reference's first good epochs, so it does not depend
    on which image of the batch completed them), images waiting for the new baselines are
    back-filled, the items are normalized together (:func:`compute_images`), their sources'
    metrics and ESE candidates updated once
    (:func:`~dsa110_contimg.variability.pipeline.metrics.update_metrics_for_images`), and the
    references seen on them tested for variability once. What the job worker runs over the
    items it has finished together: a new epoch's images, or a backlog after an outage.

    Differences from one call per item, all in the batch's favour: an image normalized in the
    batch uses a reference established or still active at the end of the batch (one call per
    item would use those of its own turn, and a reference dropped by the variability test
    triggers the re-normalization of the images it took part in either way).

    Parameters
    ----------
    data_ids : sequence of str
        The images or mosaics, in the order they were measured; each once.
    normalize : bool
        Normalize them (the jobs' ``normalize`` option).
    settings : Settings, optional
        Settings naming the database.
    refresh_listing : bool
        Refresh the explorer's copies of the sources' rows (``source_list``,
        ``metric_list``) before returning. The job worker passes False and refreshes them
        itself once it has sent the pass's ESE alerts
        (:func:`~dsa110_contimg.database.listing.refresh_listing`).

    Returns
    -------
    dict
        ``normalizations`` (data_id -> the record as a dict; absent for an item that stored no
        rows), ``established``, ``backfilled``, ``metrics`` (sources updated), ``dropped``.
    """
    from .metrics import recompute_metrics, update_metrics_for_images

    settings = resolve_settings(settings)
    engine = get_engine(settings)
    data_ids = list(dict.fromkeys(data_ids))
    out: dict = {
        "normalizations": {},
        "established": 0,
        "backfilled": 0,
        "metrics": 0,
        "dropped": 0,
    }
    if not data_ids:
        return out
    if not normalize:
        # rows just (re)written read no normalized value until the image is normalized again
        # (the factors of an earlier measurement of it do not apply to them)
        with write_transaction(engine) as conn:
            for data_id in data_ids:
                store.clear_normalized(conn, data_id)
    refs_seen: set = set()
    if normalize:
        with write_transaction(engine) as conn:
            _sync_master_references(conn, data_ids, settings)
            on_images = {
                (canonical_catalog(c), s)
                for c, s in rstore.candidate_references_on_images(conn, data_ids)
            }
            cands = rstore.reference_rows_of(conn, on_images, ["candidate"]) if on_images else {}
            new = (
                _establish(conn, [k for k in cands if k in on_images], settings) if cands else []
            )
        out["established"] = len(new)
        backfill: list[str] = []
        if new:
            with engine.connect() as conn:
                backfill = rstore.images_waiting_for(
                    conn, (s for _, s in new), exclude=set(data_ids)
                )
            for other in backfill:
                with write_transaction(engine) as conn:
                    _normalize_image(conn, other, settings)
            out["backfilled"] = len(backfill)
        with write_transaction(engine) as conn:
            outcomes = compute_images(conn, data_ids, settings, skip_missing=True)
            for oc in outcomes:
                refs_seen.update(oc.references_seen)
            out["normalizations"] = {
                rec.data_id: rec.to_dict() for rec in store_images(conn, outcomes)
            }
        for data_id in data_ids:
            if data_id not in out["normalizations"]:
                # the item wrote no rows (no source on the image): nothing to do
                log.info("no photometry stored for %s: nothing to normalize", data_id)
        data_ids = [d for d in data_ids if d in out["normalizations"]]
        if backfill and data_ids:
            with engine.connect() as conn:
                keys = store.sources_on_products(conn, [*backfill, *data_ids])
            out["metrics"] = recompute_metrics(sorted(keys), settings=settings)
    if not out["backfilled"]:
        out["metrics"] = update_metrics_for_images(
            data_ids, settings=settings, defer_listing=True
        )
    if normalize and refs_seen:
        with write_transaction(engine) as conn:
            out["dropped"] = len(drop_variable_references(conn, settings, refs_seen))
    if refresh_listing:
        with write_transaction(engine) as conn:
            listing.refresh_listing(conn)
    return out
