"""Reference sources of stored photometry: registering, baselines, dropping the variable.

The arithmetic is :mod:`dsa110_contimg.variability.references`; the storage
:mod:`dsa110_contimg.database.normalization` (``reference_sources``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence

import numpy as np

from ...config import Settings, resolve_settings
from ...database import get_engine, write_transaction
from ...database import metrics as mstore
from ...database import normalization as store
from ...database import references as rstore
from ...errors import CatalogError, ContimgError
from ..normalization import NVSS_ALIASES, canonical_catalog
from ..references import assess_references, covering_circle, reference_baselines

__all__ = [
    "drop_variable_references",
    "establish_baselines",
    "list_references",
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
        return rstore.add_references(conn, keys, origin=origin, now=_now())


def list_references(*, status: str | None = None, settings: Settings | None = None) -> list[dict]:
    """Return the reference sources (with baselines, status and drop reasons) as dicts."""
    settings = resolve_settings(settings)
    with get_engine(settings).connect() as conn:
        return rstore.list_references(conn, status=status)


def _sync_master_references(conn, data_ids: Sequence[str], settings: Settings) -> int:
    """Add the master catalog's reference candidates lying on some images (if it exists).

    One read of the images' measured boxes, one catalog query per image, one insert. An image
    whose query fails otherwise than "no master catalog" is logged and skipped (the catalog is
    optional for normalization).
    """
    try:
        from ...catalog import query_sources  # provided by the catalog stage
    except ImportError:
        return 0
    keys: list[tuple[str, str]] = []
    for data_id, (box, centre) in store.measured_boxes_and_centres(conn, data_ids).items():
        if box is None:
            continue
        ra_c, dec_c, radius = covering_circle(*box, centre=centre)
        try:
            table = query_sources("master", ra_c, dec_c, radius, settings=settings)
        except CatalogError as exc:
            log.debug("no master-catalog references for %s: %s", data_id, exc)
            continue
        except ContimgError as exc:
            log.warning("master-catalog references for %s unavailable: %s", data_id, exc)
            continue
        if "is_reference" not in table.colnames or len(table) == 0:
            continue
        sel = np.asarray(table["is_reference"], dtype=bool)
        keys += [("master", str(s)) for s in np.asarray(table["source_id"])[sel]]
    return rstore.add_references(conn, keys, origin="master", now=_now())


def _establish(conn, keys, settings: Settings) -> list[tuple[str, str]]:
    """Set the baselines of ``keys`` that have enough good epochs; return those established."""
    k = settings.normalize.baseline_epochs
    pts = rstore.reference_points(conn, (s for _, s in keys))
    baselines = reference_baselines(
        keys, pts.catalog, pts.source_id, pts.mjd, pts.flux, pts.err, baseline_epochs=k
    )
    rstore.set_baselines(conn, baselines, n_baseline=k, now=_now())
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
        keys = list(rstore.reference_rows(conn, statuses))
        if references is not None:
            wanted = {(canonical_catalog(c), s) for c, s in references}
            keys = [key for key in keys if key in wanted]
        return _establish(conn, keys, settings)


# --------------------------------------------------------------------------------------------
# variable references


def drop_variable_references(conn, settings: Settings, keys=None) -> list[tuple[str, str]]:
    """Drop active references whose normalized light curve varies; return those dropped."""
    ns = settings.normalize
    series = "image" if "image" in ns.metric_series else ns.metric_series[0]
    if keys is None:
        refs = rstore.reference_rows(conn, ["active"])
        n_active = len(refs)
    else:  # the given references only; the count of all active ones is read if one drops
        refs = rstore.reference_rows_of(conn, keys, ["active"])
        n_active = None
    if not refs:
        return []
    if keys is None:
        got = mstore.reference_metrics(conn, series, [s for _, s in refs])
    else:  # the metric rows of these references only, by key (either NVSS alias)
        probe = [(a, s) for c, s in refs for a in (sorted(NVSS_ALIASES) if c == "master" else [c])]
        got = mstore.reference_metrics_of_keys(conn, series, probe)
    rows = [(canonical_catalog(c), s, eta, n) for c, s, eta, n in got]
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
    tested = [((c, s), t) for (c, s, _, _), t in zip(rows, tests, strict=True) if t is not None]
    rstore.record_reference_tests(
        conn, [(key, t.chi2_reduced, t.n_epochs) for key, t in tested], now=now
    )
    for key, t in tested:
        if t.drop:
            if n_active is None:  # before the first drop of this pass
                n_active = rstore.count_references(conn, "active")
            rstore.drop_reference(conn, key, reason=t.reason, now=now)
            dropped.append(key)
            _log_dropped(key, t, series, n_active)
    return dropped


#: The operator's guidance on dropped references: a share of the active ones above this
#: in one pass points at the images (calibration, primary beam), not at the sources.
MANY_DROPPED_FRACTION = 0.2

#: The log line of a dropped reference: what it means and what to do, in the line itself.
#: One template for every reference (arguments, not an f-string), so the CLI's repeat summary
#: (``cli._common.RepeatSummary``) shows the first few and then one "... N more like" line per
#: run that carries the same explanation.
DROPPED_MESSAGE = (
    "reference %s:%s dropped: its normalized flux scatters %.1f times its errors between "
    "epochs (reduced chi2 %.2f over %d %s points, p=%.1e): it varies, so it no longer "
    "normalizes images; the other references do (%d active before this pass). Nothing to do "
    f"unless many are dropped (over {round(100 * MANY_DROPPED_FRACTION)}%%: suspect the "
    "images' calibration, not the sources)"
)


def _log_dropped(key: tuple[str, str], t, series: str, n_active: int) -> None:
    """Log :data:`DROPPED_MESSAGE` for one dropped reference."""
    log.warning(
        DROPPED_MESSAGE,
        key[0],
        key[1],
        float(np.sqrt(max(t.chi2_reduced, 0.0))),
        t.chi2_reduced,
        t.n_epochs,
        series,
        t.p_value,
        n_active,
    )
