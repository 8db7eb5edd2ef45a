"""Light curves and per-source variability metrics stored in the database.

Three series, never mixed:

- ``image``: every measurement on a single image (``images.kind == "image"``);
- ``epoch``: one transit, the image measurements of a source within
  ``normalize.epoch_window_hours`` (default 1 h) of the epoch's first one, combined by inverse
  variance; its ``image`` is the first image's ``data_id``;
- ``mosaic``: measurements on mosaics.

Metrics (``source_metrics``) are updated incrementally by :func:`update_metrics_for_image`
with :func:`~dsa110_contimg.photometry.lightcurve.advance`: a fixed amount of work per source
and new point, whatever the history length. Points arriving out of order (or a re-processed
image) make that source's metrics be recomputed from its stored series, as do
re-normalizations (:func:`recompute_metrics`). Only clean measurements (empty ``flags``) with
a finite flux and positive error, on images whose QA did not fail, enter the metrics; they use
``normalize.variability_flux`` (normalized by default: a point not normalized yet is left out
until it is).

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
:func:`~dsa110_contimg.photometry.lightcurve.variability_errors`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
from astropy.table import Table
from sqlalchemy import delete, select, tuple_

from ..config import Settings, resolve_settings
from ..database import get_engine, write_transaction
from ..database.sources import rebuild_sources, upsert_sources_for_image
from ..database.tables import data_registry, images, photometry, source_metrics
from ..errors import ConfigError, NotFoundError
from .lightcurve import (
    OPEN_SLOTS,
    STATE_FLOAT_KEYS,
    advance,
    combine_epochs,
    derive,
    new_state,
    run_series,
    variability_errors,
)
from .normalize import clean_measurements, fetch_raw

__all__ = [
    "SERIES",
    "get_lightcurve",
    "get_metrics",
    "recompute_metrics",
    "update_metrics_for_image",
]

log = logging.getLogger(__name__)

SERIES = ("image", "epoch", "mosaic")
_DERIVED = (
    "n_points",
    "mean_flux_jy",
    "eta",
    "v",
    "vs",
    "m",
    "baseline_flux_jy",
    "baseline_err_jy",
    "dip_sigma",
    "max_dip_sigma",
    "max_dip_depth",
    "max_dip_mjd",
    "cusum",
    "max_cusum",
    "dip_start_mjd",
    "dip_end_mjd",
    "last_mjd",
)
_COLUMNS = ["catalog", "source_id", "series", "state", "open_image", *_DERIVED, "updated_at"]
_CHUNK = 500
_RECOMPUTE_CHUNK = 2000


def _series_kind(series: str) -> str:
    if series not in SERIES:
        raise ConfigError(
            f"unknown light-curve series {series!r}; expected one of {', '.join(SERIES)}"
        )
    return "mosaic" if series == "mosaic" else "image"


def _params(settings: Settings) -> dict:
    ns = settings.normalize
    return {
        "window_days": ns.epoch_window_hours / 24.0,
        "baseline_epochs": ns.baseline_epochs,
        "cusum_k": ns.cusum_k_sigma,
    }


# --------------------------------------------------------------------------------------------
# state <-> rows: the state is one little-endian float64 vector per row (STATE_FLOAT_KEYS, then
# the (K, 2) baseline buffer, then the OPEN_SLOTS open-epoch MJDs), so reading and writing
# 10 000 states costs a few milliseconds


def _state_from_rows(rows, n: int, index: dict, k: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Unpack stored states (rows of catalog, source_id, state, open_image).

    Returns the state and a mask of sources whose stored vector has another layout (for
    example after ``baseline_epochs`` changed): those are recomputed from their series.
    """
    st = new_state(n, baseline_epochs=k)
    bad = np.zeros(n, dtype=bool)
    if not rows:
        return st, bad
    nf = len(STATE_FLOAT_KEYS)
    width = nf + 2 * k + OPEN_SLOTS
    good, blobs = [], []
    for r in rows:
        b = bytes(r[2])
        if len(b) == 8 * width:
            good.append(index[(r[0], r[1])])
            blobs.append(b)
        else:
            bad[index[(r[0], r[1])]] = True
    if good:
        pos = np.array(good, dtype=np.int64)
        arr = np.frombuffer(b"".join(blobs), dtype="<f8").reshape(-1, width)
        for j, key in enumerate(STATE_FLOAT_KEYS):
            st[key][pos] = arr[:, j]
        st["buffer"][pos] = arr[:, nf : nf + 2 * k].reshape(-1, k, 2)
        st["open_mjds"][pos] = arr[:, nf + 2 * k :]
        img = {index[(r[0], r[1])]: r[3] for r in rows}
        st["open_image"][pos] = [img[p] for p in good]
    return st, bad


def _column_list(arr: np.ndarray, integer: bool = False) -> list:
    arr = np.asarray(arr, dtype=np.float64)
    ok = np.isfinite(arr)
    out = arr.astype(np.int64).astype(object) if integer else arr.astype(object)
    if not ok.all():
        out[~ok] = None
    return out.tolist()


def _state_tuples(keys, series: str, st, der) -> list[tuple]:
    n = len(keys)
    mat = np.column_stack(
        [st[key] for key in STATE_FLOAT_KEYS] + [st["buffer"].reshape(n, -1), st["open_mjds"]]
    )
    mat = np.ascontiguousarray(mat, dtype="<f8")
    cols: dict[str, list] = {
        "catalog": [k[0] for k in keys],
        "source_id": [k[1] for k in keys],
        "series": [series] * n,
        "state": [row.tobytes() for row in mat],
        "open_image": list(st["open_image"]),
    }
    for key in _DERIVED:
        cols[key] = _column_list(der[key], key == "n_points")
    cols["updated_at"] = [time.time()] * n
    return list(zip(*(cols[c] for c in _COLUMNS), strict=True))


def _upsert_state(conn, tuples: list[tuple]) -> None:
    if not tuples:
        return
    key = ("catalog", "source_id", "series")
    upd = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in key)
    ph = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = (
        f"INSERT INTO source_metrics ({', '.join(_COLUMNS)}) "
        f"VALUES ({', '.join([ph] * len(_COLUMNS))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {upd}"
    )
    dbapi = conn.connection.dbapi_connection
    cur = dbapi.cursor()
    try:
        cur.executemany(sql, tuples)
    finally:
        cur.close()


# --------------------------------------------------------------------------------------------
# incremental update


def _image_points(conn, data_id: str, settings: Settings):
    """Return (kind, keys, mjd, flux, err) of the usable points of one image, or None."""
    img = conn.execute(
        select(images.c.kind, images.c.mjd_mid).where(images.c.data_id == data_id)
    ).first()
    qa = conn.execute(
        select(data_registry.c.qa_status).where(data_registry.c.data_id == data_id)
    ).scalar()
    if qa == "failed":
        return None
    kind = img.kind if img is not None else "image"
    fcol, ecol = _flux_columns(settings)
    rows = fetch_raw(
        conn,
        f"SELECT catalog, source_id, mjd, {fcol.name}, {ecol.name} FROM photometry "
        "WHERE data_id = ? AND flags = ''",
        (data_id,),
    )
    if not rows:
        return None
    keys = [(r[0], r[1]) for r in rows]
    mjd = np.array([r[2] for r in rows], dtype=np.float64)
    if img is not None and img.mjd_mid is not None:
        mjd = np.where(np.isfinite(mjd), mjd, img.mjd_mid)
    flux = np.array([r[3] for r in rows], dtype=np.float64)
    err = variability_errors(
        np.array([r[4] for r in rows], dtype=np.float64),
        confusion_noise=settings.normalize.confusion_noise_jy,
    )
    return kind, keys, mjd, flux, err


def _flux_columns(settings: Settings):
    if settings.normalize.variability_flux == "raw":
        return photometry.c.flux_jy, photometry.c.flux_err_jy
    return photometry.c.normalized_flux_jy, photometry.c.normalized_flux_err_jy


def _series_for_kind(kind: str, settings: Settings) -> list[str]:
    wanted = ("mosaic",) if kind == "mosaic" else ("image", "epoch")
    return [s for s in wanted if s in settings.normalize.metric_series]


def update_metrics_for_image(data_id: str, *, settings: Settings | None = None) -> int:
    """Fold one image's measurements into its sources' metrics and ESE candidates.

    Constant work per source (see :func:`~dsa110_contimg.photometry.lightcurve.advance`);
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
    from .ese import update_candidates

    settings = resolve_settings(settings)
    engine = get_engine(settings)
    p = _params(settings)
    done = 0
    stale_keys: set = set()
    with write_transaction(engine) as conn:
        pts = _image_points(conn, data_id, settings)
        if pts is None:
            upsert_sources_for_image(conn, data_id)  # flagged-only sources are listed too
            return 0
        kind, keys, mjd, flux, err = pts
        index = {k: i for i, k in enumerate(keys)}
        for series in _series_for_kind(kind, settings):
            sql = (
                "SELECT m.catalog, m.source_id, m.state, m.open_image FROM source_metrics m "
                "JOIN photometry p ON p.catalog = m.catalog AND p.source_id = m.source_id "
                "WHERE p.data_id = ? AND p.flags = '' AND m.series = ?"
            )  # the same clean rows as _image_points: a flagged point updates nothing
            if conn.dialect.name != "sqlite":
                sql += " FOR UPDATE OF m"
            rows = fetch_raw(conn, sql, (data_id, series))
            st, bad = _state_from_rows(rows, len(keys), index, p["baseline_epochs"])
            stale = advance(
                st,
                mjd,
                flux,
                err,
                np.array([data_id] * len(keys), dtype=object),
                merge=(series == "epoch"),
                window_days=p["window_days"],
                baseline_epochs=p["baseline_epochs"],
                cusum_k=p["cusum_k"],
            )
            stale |= bad & np.isfinite(flux)
            act = np.isfinite(flux) & np.isfinite(err) & (err > 0) & ~stale
            stale_keys.update(keys[i] for i in np.flatnonzero(stale))
            sel = np.flatnonzero(act)
            if not sel.size:
                continue
            sub = {k: v[sel] for k, v in st.items()}
            der = derive(sub, cusum_k=p["cusum_k"])
            skeys = [keys[i] for i in sel]
            _upsert_state(conn, _state_tuples(skeys, series, sub, der))
            done += len(skeys)
            if series == settings.normalize.ese_series:
                update_candidates(conn, skeys, series, der, settings=settings)
        upsert_sources_for_image(conn, data_id)  # the per-source table (counts, ESE state)
    if stale_keys:
        done += recompute_metrics(sorted(stale_keys), settings=settings)
    return done


# --------------------------------------------------------------------------------------------
# recomputation from the stored series


def _load_points(conn, keys, settings: Settings):
    fcol, ecol = _flux_columns(settings)
    base = clean_measurements(
        photometry.c.catalog,
        photometry.c.source_id,
        photometry.c.mjd,
        fcol,
        ecol,
        photometry.c.data_id,
        images.c.kind,
    )
    if keys is None:
        yield from conn.execute(base)
        return
    keys = list(keys)
    for i in range(0, len(keys), _CHUNK):
        part = keys[i : i + _CHUNK]
        yield from conn.execute(
            base.where(tuple_(photometry.c.catalog, photometry.c.source_id).in_(part))
        )


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
            stmt = select(photometry.c.catalog, photometry.c.source_id).distinct()
            keys = [(r[0], r[1]) for r in conn.execute(stmt)]
    keys = sorted(set(keys))
    written = 0
    for i in range(0, len(keys), _RECOMPUTE_CHUNK):  # bounded memory on a big database
        with write_transaction(engine) as conn:
            written += _recompute(conn, keys[i : i + _RECOMPUTE_CHUNK], settings)
    return written


def _recompute(conn, keys: list[tuple[str, str]], settings: Settings) -> int:
    from .ese import update_candidates

    p = _params(settings)
    conf = settings.normalize.confusion_noise_jy
    written = 0
    by_series: dict[str, dict[tuple[str, str], list]] = {s: {} for s in SERIES}
    all_keys: set = set(keys)
    for r in _load_points(conn, keys, settings):
        key = (r[0], r[1])
        all_keys.add(key)
        if r[3] is None or r[4] is None or not r[4] > 0 or r[2] is None:
            continue
        series_list = ("mosaic",) if r[6] == "mosaic" else ("image", "epoch")
        for s in series_list:
            by_series[s].setdefault(key, []).append((r[2], r[3], r[4], r[5]))
    all_keys_l = sorted(all_keys)
    for series in settings.normalize.metric_series:
        for i in range(0, len(all_keys_l), _CHUNK):
            part = all_keys_l[i : i + _CHUNK]
            conn.execute(
                delete(source_metrics).where(
                    source_metrics.c.series == series,
                    tuple_(source_metrics.c.catalog, source_metrics.c.source_id).in_(part),
                )
            )
        pts = by_series[series]
        skeys = sorted(pts)
        if skeys:
            width = max(len(v) for v in pts.values())
            mjd = np.full((len(skeys), width), np.nan)
            flux = np.full((len(skeys), width), np.nan)
            err = np.full((len(skeys), width), np.nan)
            img = np.full((len(skeys), width), None, dtype=object)
            for j, key in enumerate(skeys):
                v = sorted(pts[key], key=lambda t: (t[0], t[3]))
                a = np.array([(t[0], t[1], t[2]) for t in v], dtype=np.float64)
                mjd[j, : len(v)], flux[j, : len(v)] = a[:, 0], a[:, 1]
                err[j, : len(v)] = variability_errors(a[:, 2], confusion_noise=conf)
                img[j, : len(v)] = [t[3] for t in v]
            st = run_series(mjd, flux, err, img, merge=(series == "epoch"), **p)
            der = derive(st, cusum_k=p["cusum_k"])
            _upsert_state(conn, _state_tuples(skeys, series, st, der))
            written += len(skeys)
        else:
            der = None
        if series == settings.normalize.ese_series:
            update_candidates(
                conn, skeys, series, der, settings=settings, recompute_keys=all_keys_l
            )
    rebuild_sources(conn, all_keys_l)  # the per-source table, exact from the stored rows
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
    kind = _series_kind(series)
    settings = resolve_settings(settings)
    engine = get_engine(settings)
    ph = "?" if engine.dialect.name == "sqlite" else "%s"
    # the (source_id, mjd) index of photometry, then one row read per point
    sql = (
        "SELECT p.mjd, p.data_id, p.flux_jy, p.flux_err_jy, p.normalized_flux_jy, "
        "p.normalized_flux_err_jy, p.flags, i.kind FROM photometry p "
        "LEFT OUTER JOIN images i ON i.data_id = p.data_id "
        f"WHERE p.catalog = {ph} AND p.source_id = {ph} ORDER BY p.mjd, p.data_id"
    )
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        try:
            cur.execute(sql, (catalog, source_id))
            rows = cur.fetchall()
        finally:
            cur.close()
    finally:
        raw.close()
    if not rows:
        raise NotFoundError(f"no photometry for source {catalog}:{source_id}")
    names = [
        "mjd",
        "image",
        "flux_jy",
        "flux_err_jy",
        "normalized_flux_jy",
        "normalized_flux_err_jy",
    ]
    rows = [r for r in rows if (r[7] or "image") == kind]
    cols = list(zip(*rows, strict=True)) if rows else [()] * 8
    mjd, f, e, nf, ne = (np.array(cols[c], dtype=np.float64) for c in (0, 2, 3, 4, 5))
    ids = np.array(cols[1], dtype=str)
    flags = np.array(cols[6], dtype=str)
    if series != "epoch":
        t = Table(
            [mjd, ids, f, e, nf, ne, flags],
            names=[*names, "flags"],
            dtype=[float, str, float, float, float, float, str],
        )
    else:
        with np.errstate(invalid="ignore"):
            clean = (flags == "") & np.isfinite(mjd) & np.isfinite(f) & (e > 0)
        mjd, f, e, nf, ne, ids = mjd[clean], f[clean], e[clean], nf[clean], ne[clean], ids[clean]
        first, counts, cf, ce = combine_epochs(
            mjd, f, e, window_days=settings.normalize.epoch_window_hours / 24
        )
        group = np.repeat(np.arange(len(first)), counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = np.isfinite(nf) & (ne > 0)
            w = np.where(ok, 1.0 / np.where(ok, ne, 1.0) ** 2, 0.0)
            sw = np.bincount(group, weights=w, minlength=len(first))
            cnf = np.bincount(group, weights=w * np.where(ok, nf, 0.0), minlength=len(first)) / sw
            cne = 1.0 / np.sqrt(sw)
        cnf = np.where(sw > 0, cnf, np.nan)
        cne = np.where(sw > 0, cne, np.nan)
        t = Table(
            [mjd[first], ids[first], cf, ce, cnf, cne, counts],
            names=[*names, "n_images"],
            dtype=[float, str, float, float, float, float, int],
        )
    t.meta.update({"catalog": catalog, "source_id": source_id, "series": series})
    return t


def get_metrics(
    catalog: str, source_id: str, *, series: str | None = None, settings: Settings | None = None
) -> list[dict]:
    """Return the stored variability metrics of one source (one dict per series).

    Each dict holds ``series, n_points, mean_flux_jy, eta, v, vs, m, baseline_flux_jy,
    baseline_err_jy, dip_sigma, max_dip_sigma, max_dip_depth, max_dip_mjd, cusum, max_cusum,
    dip_start_mjd, dip_end_mjd, last_mjd, updated_at`` (the open epoch included). Empty list
    when none is stored.
    """
    settings = resolve_settings(settings)
    cols = ["series", *_DERIVED, "updated_at"]
    stmt = select(*(source_metrics.c[c] for c in cols)).where(
        source_metrics.c.catalog == catalog, source_metrics.c.source_id == source_id
    )
    if series is not None:
        _series_kind(series)
        stmt = stmt.where(source_metrics.c.series == series)
    with get_engine(settings).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt.order_by(source_metrics.c.series))]
