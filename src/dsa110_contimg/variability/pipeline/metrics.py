"""Light curves and variability metrics of stored photometry: load, compute, store.

Metrics (``source_metrics``) are updated incrementally by :func:`update_metrics_for_image`
with :func:`~dsa110_contimg.variability.metrics.advance`: a fixed amount of work per source
and new point, whatever the history length. Points arriving out of order (or a re-processed
image) make that source's metrics be recomputed from its stored series, as do
re-normalizations (:func:`recompute_metrics`). Only clean measurements (empty ``flags``) with
a finite flux and positive error, on images whose QA did not fail, enter the metrics; they use
``normalize.variability_flux`` (normalized by default: a point not normalized yet is left out
until it is). The series are described in :mod:`dsa110_contimg.variability.series`.

Errors and confusion
--------------------
The error of a forced measurement comes from the local rms, which in confusion-limited DSA-110
images contains the static confusion noise of the field. Confusion does not change between
epochs: it biases a source's flux by the same amount every time, so it cancels in
epoch-to-epoch differences and in the comparison with the source's own baseline, and it makes
the measurement errors *overestimate* the epoch-to-epoch noise. The metrics therefore use the
measurement errors as they are (so ``eta`` and dip significances are conservative: confusion
can hide a small variation, never fake one) unless ``normalize.confusion_noise_jy`` gives the
static part, which is then removed in quadrature (never below half the error), see
:func:`~dsa110_contimg.variability.baselines.variability_errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from ...config import Settings, resolve_settings
from ...database import get_engine, listing, write_transaction
from ...database import metrics as store
from ...database.lightcurves import read_lightcurve
from ...database.metric_blocks import block_rows, source_groups
from ...database.sources import upsert_sources_for_images, write_source_rows
from ...errors import ConfigError, NotFoundError
from ..baselines import variability_errors
from ..metrics import derive, fold_points, new_state, run_series
from ..normalization import apply_factor
from ..packing import pack_states, state_width, unpack_states
from ..series import SERIES, lightcurve_table, series_arrays

__all__ = [
    "SERIES",
    "get_lightcurve",
    "get_metrics",
    "recompute_metrics",
    "update_metrics_for_image",
    "update_metrics_for_images",
]

log = logging.getLogger(__name__)

#: Sources per recomputation transaction (bounded memory on a big database).
RECOMPUTE_CHUNK = 2000


def _check_series(series: str) -> None:
    if series not in SERIES:
        raise ConfigError(
            f"unknown light-curve series {series!r}; expected one of {', '.join(SERIES)}"
        )


def _params(settings: Settings) -> dict:
    ns = settings.normalize
    return {
        "window_days": ns.epoch_window_hours / 24.0,
        "baseline_epochs": ns.baseline_epochs,
        "cusum_k": ns.cusum_k_sigma,
    }


def _raw(settings: Settings) -> bool:
    return settings.normalize.variability_flux == "raw"


def _series_for_kind(kind: str, settings: Settings) -> list[str]:
    wanted = ("mosaic",) if kind == "mosaic" else ("image", "epoch")
    return [s for s in wanted if s in settings.normalize.metric_series]


def _store_states(conn, keys, series: str, st: dict, der: dict) -> int:
    return store.upsert_metrics(conn, keys, series, pack_states(st), list(st["open_image"]), der)


# --------------------------------------------------------------------------------------------
# incremental update


def update_metrics_for_image(data_id: str, *, settings: Settings | None = None) -> int:
    """Fold one image's measurements into its sources' metrics and ESE candidates.

    Constant work per source (see :func:`~dsa110_contimg.variability.metrics.advance`);
    sources whose point is not later than their last one are recomputed from the stored series.

    Parameters
    ----------
    data_id : str
        The image or mosaic.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    int
        Number of (source, series) metric rows updated.
    """
    return update_metrics_for_images([data_id], settings=settings)


def update_metrics_for_images(
    data_ids: Sequence[str], *, settings: Settings | None = None, defer_listing: bool = False
) -> int:
    """Fold several images' measurements into their sources' metrics, in one transaction.

    What :func:`update_metrics_for_image` on each image in turn stores, written once: the
    images' rows are read in one statement, each series' states of all their sources in
    one, the points folded in memory image after image (in the order given: the order the
    images would have been added one by one), and each source's metric row, ESE candidate
    and per-source row written once with its state after the last image. A source measured
    on two of the images costs one row write instead of two: what the job worker does with
    the images it has finished together (a new epoch, a backlog).

    ESE candidates are refreshed from the metrics after the last image. Their dip statistics
    (``max_dip_sigma``, ``max_dip_depth``, ``max_cusum``) are maxima over the light curve, so a
    dip seen on an earlier image of the batch is kept; what differs from one call per image
    is only the candidate's first-flagging score (the score after the batch instead of after
    the image that first passed).

    Parameters
    ----------
    data_ids : sequence of str
        The images or mosaics, each once.
    settings : Settings, optional
        Settings naming the database.
    defer_listing : bool
        Leave the explorer's copies of the rows written here to the caller's own
        :func:`~dsa110_contimg.database.listing.refresh_listing` (by default they are
        refreshed right after the commit).

    Returns
    -------
    int
        Number of (source, series) metric rows updated.
    """
    from .ese import update_candidates

    settings = resolve_settings(settings)
    data_ids = list(dict.fromkeys(data_ids))
    if not data_ids:
        return 0
    engine = get_engine(settings)
    done = 0
    stale_keys: set = set()
    with write_transaction(engine) as conn:
        if defer_listing:
            listing.defer(conn)
        reads = store.images_update_rows(conn, data_ids, raw=_raw(settings))  # one read
        with_points = [(d, r.points) for d, r in zip(data_ids, reads, strict=True) if r.points]
        kinds = {pts.kind: _series_for_kind(pts.kind, settings) for _, pts in with_points}
        for series in dict.fromkeys(s for wanted in kinds.values() for s in wanted):
            images = [(d, pts) for d, pts in with_points if series in kinds[pts.kind]]
            done += _fold_series(conn, images, series, settings, stale_keys, update_candidates)
        # the per-source table (counts, ESE state); flagged-only sources are listed too
        upsert_sources_for_images(conn, [m for r in reads for m in r.measurements])
    if stale_keys:
        done += recompute_metrics(sorted(stale_keys), settings=settings)
    return done


def _fold_series(
    conn, images, series: str, settings: Settings, stale_keys: set, on_derived
) -> int:
    """Fold the points of ``images`` (``(data_id, ImagePoints)``) into one series; store it.

    The states of every source of the images are read at once, each image's points folded in
    turn into its sources' states, and the sources whose state advanced written once
    (``on_derived``: the ESE update of the ESE series). Sources found stale are added to
    ``stale_keys`` (recomputed by the caller).
    """
    p = _params(settings)
    k = p["baseline_epochs"]
    keys = list(dict.fromkeys(key for _, pts in images for key in pts.keys))
    index = {key: i for i, key in enumerate(keys)}
    stored = store.states_for_images(
        conn, [d for d, _ in images], series, index, width=state_width(k)
    )
    st = new_state(len(keys), baseline_epochs=k)
    unpack_states(st, stored.positions, stored.vectors, stored.open_image, baseline_epochs=k)
    changed = np.zeros(len(keys), dtype=bool)
    for data_id, pts in images:
        at = np.array([index[key] for key in pts.keys], dtype=np.int64)
        sub = st if len(images) == 1 else {name: v[at] for name, v in st.items()}
        stale, sel = fold_points(
            sub,
            pts.mjd,
            pts.flux,
            variability_errors(pts.err, confusion_noise=settings.normalize.confusion_noise_jy),
            np.array([data_id] * len(at), dtype=object),
            unreadable=stored.unreadable[at],
            merge=(series == "epoch"),
            **p,
        )
        if sub is not st:
            for name, v in sub.items():
                st[name][at] = v
        stale_keys.update(keys[i] for i in at[np.flatnonzero(stale)])
        changed[at[sel]] = True
    sel = np.flatnonzero(changed)
    if not sel.size:
        return 0
    sub = {name: v[sel] for name, v in st.items()}
    der = derive(sub, cusum_k=p["cusum_k"])
    skeys = [keys[i] for i in sel]
    done = _store_states(conn, skeys, series, sub, der)
    if series == settings.normalize.ese_series:
        on_derived(conn, skeys, series, der)
    return done


# --------------------------------------------------------------------------------------------
# recomputation from the stored series


def recompute_metrics(
    keys: Sequence[tuple[str, str]] | None = None, *, settings: Settings | None = None
) -> int:
    """Rebuild the metrics (and ESE candidates) of sources from their stored series.

    Parameters
    ----------
    keys : sequence of (catalog, source_id), optional
        Sources to rebuild; all sources with photometry when omitted.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    int
        Number of (source, series) metric rows written.
    """
    settings = resolve_settings(settings)
    engine = get_engine(settings)
    if keys is None:
        with engine.connect() as conn:
            keys = store.photometry_keys(conn)
    keys = sorted(set(keys))
    written = 0
    for i in range(0, len(keys), RECOMPUTE_CHUNK):  # bounded memory on a big database
        with write_transaction(engine) as conn:
            written += _recompute(conn, keys[i : i + RECOMPUTE_CHUNK], settings)
    return written


@dataclass(frozen=True)
class MetricsOutcome:
    """Recomputed (not yet stored) metrics of a block of sources.

    ``series`` maps each metric series to ``(keys, packed state vectors, open_image,
    derived metrics)`` (None when no source has points in it); ``all_keys`` are every source
    of the block (whose old rows are replaced); ``source_rows`` the per-source table's values
    of the block's sources with photometry (see
    :func:`~dsa110_contimg.database.metric_blocks.source_groups`).
    """

    series: dict
    all_keys: list
    source_rows: list


def compute_metrics(
    conn, keys: list[tuple[str, str]], settings: Settings, images=None
) -> MetricsOutcome:
    """Load the stored photometry of ``keys`` and rebuild their metric states (no write).

    One read of the block's rows (:func:`~dsa110_contimg.database.metric_blocks.block_rows`)
    serves the metrics and the per-source table; ``images``
    (:func:`~dsa110_contimg.database.metric_blocks.image_table`, read once for many blocks)
    saves reading every product again for this block. The normalized values are those the view
    ``photometry`` gives: the row's own stored value, else the factors applied with
    :func:`~dsa110_contimg.variability.normalization.apply_factor` (non-finite: NULL).
    """
    p = _params(settings)
    rows = block_rows(conn, keys, images)
    if _raw(settings):
        flux, err = rows.flux, rows.err
        flux_null, err_null = rows.flux_null, rows.err_null
    else:
        nf, ne = apply_factor(rows.flux, rows.err, rows.factor, rows.factor_err)
        flux = np.where(rows.own_nf_null, nf, rows.own_nf)
        err = np.where(rows.own_ne_null, ne, rows.own_ne)
        flux_null = rows.own_nf_null & ~np.isfinite(nf)
        err_null = rows.own_ne_null & ~np.isfinite(ne)
    pt = rows.clean & rows.science  # the clean measurements, QA not failed
    by_series = series_arrays(
        rows.keys,
        rows.key_index[pt],
        rows.mjd[pt],
        flux[pt],
        err[pt],
        (~rows.mjd_null & ~flux_null & ~err_null)[pt],
        rows.image[pt],
        rows.mosaic[pt],
        confusion_noise=settings.normalize.confusion_noise_jy,
        image_rank=rows.image_rank[pt],
    )
    out = {}
    for series in settings.normalize.metric_series:
        sp = by_series[series]
        if sp.keys:
            st = run_series(sp.mjd, sp.flux, sp.err, sp.image, merge=(series == "epoch"), **p)
            der = derive(st, cusum_k=p["cusum_k"])
            out[series] = (sp.keys, pack_states(st), list(st["open_image"]), der)
        else:
            out[series] = None
    return MetricsOutcome(out, rows.keys, source_groups(rows))


def store_metrics(conn, oc: MetricsOutcome, settings: Settings) -> int:
    """Replace the metric rows and ESE candidates of a block (caller's write transaction)."""
    from .ese import update_candidates

    written = 0
    for series in settings.normalize.metric_series:
        store.delete_metrics(conn, series, oc.all_keys)
        got = oc.series[series]
        keys, der = ([], None) if got is None else (got[0], got[3])
        if got is not None:
            written += store.upsert_metrics(conn, got[0], series, got[1], got[2], got[3])
        if series == settings.normalize.ese_series:
            update_candidates(conn, keys, series, der, recompute_keys=oc.all_keys)
    write_source_rows(conn, oc.source_rows)  # the per-source table, exact from the rows read
    return written


def _recompute(conn, keys: list[tuple[str, str]], settings: Settings) -> int:
    return store_metrics(conn, compute_metrics(conn, keys, settings), settings)


def refresh_metric_states(conn, settings: Settings) -> int:
    """Recompute every stored metric row in place from its series (caller's transaction).

    States and derived metrics are rewritten (a new state layout, a new derived column);
    ESE candidates and the per-source table are not touched. Used by migration 0012.

    Returns
    -------
    int
        Metric rows written.
    """
    keys = store.metric_keys(conn)
    written = 0
    for i in range(0, len(keys), RECOMPUTE_CHUNK):
        oc = compute_metrics(conn, keys[i : i + RECOMPUTE_CHUNK], settings)
        for series, got in oc.series.items():
            if got is not None:
                keys_s, vectors, open_image, derived = got
                written += store.upsert_metrics(
                    conn, keys_s, series, vectors, open_image, derived
                )
    return written


# --------------------------------------------------------------------------------------------
# reading


def get_lightcurve(
    catalog: str, source_id: str, *, series: str = "epoch", settings: Settings | None = None
) -> Table:
    """Return one source's light curve, ordered by MJD (UTC, mid-exposure).

    Parameters
    ----------
    catalog, source_id : str
        The source (as stored in ``photometry``).
    series : str
        ``epoch`` (default: image measurements of one transit combined by inverse variance,
        flagged ones left out), ``image`` (every measurement on single images, with its
        ``flags``) or ``mosaic``.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    astropy.table.Table
        Columns ``mjd, image, flux_jy, flux_err_jy, normalized_flux_jy,
        normalized_flux_err_jy`` plus ``flags`` (image/mosaic) or ``n_images`` (epoch).

    Raises
    ------
    NotFoundError
        The source has no photometry at all.
    ConfigError
        Unknown series.
    """
    _check_series(series)
    settings = resolve_settings(settings)
    pts = read_lightcurve(get_engine(settings), catalog, source_id)
    if not len(pts):
        raise NotFoundError(f"no photometry for source {catalog}:{source_id}")
    t = lightcurve_table(
        pts.mjd,
        pts.image,
        pts.flux,
        pts.err,
        pts.normalized_flux,
        pts.normalized_err,
        pts.flags,
        pts.kind,
        series=series,
        window_days=settings.normalize.epoch_window_hours / 24,
    )
    t.meta.update({"catalog": catalog, "source_id": source_id, "series": series})
    return t


def get_metrics(
    catalog: str, source_id: str, *, series: str | None = None, settings: Settings | None = None
) -> list[dict]:
    """Return the stored variability metrics of one source (one dict per series).

    Each dict holds ``series, n_points, mean_flux_jy, median_flux_jy, eta, v, vs, m,
    baseline_flux_jy, baseline_err_jy, dip_sigma, max_dip_sigma, max_dip_depth, max_dip_mjd,
    cusum, max_cusum, dip_start_mjd, dip_end_mjd, last_mjd, updated_at`` (the open epoch
    included). Empty list when none is stored.
    """
    settings = resolve_settings(settings)
    if series is not None:
        _check_series(series)
    with get_engine(settings).connect() as conn:
        return store.metrics_of_source(conn, catalog, source_id, series=series)
