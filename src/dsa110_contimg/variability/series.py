"""Light-curve series: the three series of a source, built from its stored points.

Three series, never mixed:

- ``image``: every measurement on a single image (``kind == "image"``);
- ``epoch``: one transit, the image measurements of a source within ``window_days`` of the
  epoch's first one, combined by inverse variance; its ``image`` is the first image's id;
- ``mosaic``: measurements on mosaics.

Pure numpy/astropy: :func:`lightcurve_table` turns the columns read from storage into the
light curve of one series, :func:`series_points` groups many sources' points into the padded
per-source arrays that :func:`~dsa110_contimg.variability.metrics.run_series` takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from .baselines import variability_errors
from .epochs import combine_epochs

__all__ = [
    "SERIES",
    "SeriesPoints",
    "lightcurve_table",
    "series_arrays",
    "series_for_kind",
    "series_points",
]

#: The light-curve series.
SERIES = ("image", "epoch", "mosaic")
_NAMES = ["mjd", "image", "flux_jy", "flux_err_jy", "normalized_flux_jy", "normalized_flux_err_jy"]


def series_for_kind(kind: str | None) -> tuple[str, ...]:
    """Return the series a point of a product of ``kind`` belongs to.

    Examples
    --------
    >>> series_for_kind("mosaic"), series_for_kind("image"), series_for_kind(None)
    (('mosaic',), ('image', 'epoch'), ('image', 'epoch'))
    """
    return ("mosaic",) if kind == "mosaic" else ("image", "epoch")


def lightcurve_table(
    mjd: np.ndarray,
    image: Sequence[str],
    flux: np.ndarray,
    err: np.ndarray,
    normalized_flux: np.ndarray,
    normalized_err: np.ndarray,
    flags: Sequence[str],
    kind: Sequence[str | None],
    *,
    series: str,
    window_days: float,
) -> Table:
    """Return the light curve of one series from a source's points (sorted by MJD, image id).

    Parameters
    ----------
    mjd, flux, err, normalized_flux, normalized_err : numpy.ndarray
        One value per stored point (NaN for NULL).
    image, flags : sequence of str
        The product id and the flags of each point.
    kind : sequence of str or None
        ``image`` or ``mosaic`` for each point (None counts as ``image``).
    series : str
        ``image``, ``epoch`` or ``mosaic``.
    window_days : float
        Epoch window (``epoch`` series).

    Returns
    -------
    astropy.table.Table
        ``mjd, image, flux_jy, flux_err_jy, normalized_flux_jy, normalized_flux_err_jy`` plus
        ``flags`` (image, mosaic) or ``n_images`` (epoch: clean points only, combined by
        inverse variance, normalized values over the points that have them).

    Raises
    ------
    ValueError
        Unknown series, or columns of different lengths.

    Examples
    --------
    >>> t = lightcurve_table(np.array([0.0, 0.01, 1.0]), ["a", "b", "c"],
    ...                      np.array([1.0, 3.0, 2.0]), np.ones(3), np.full(3, np.nan),
    ...                      np.full(3, np.nan), ["", "", ""], ["image"] * 3,
    ...                      series="epoch", window_days=1 / 24)
    >>> t["flux_jy"].tolist(), t["n_images"].tolist()
    ([2.0, 2.0], [2, 1])
    """
    if series not in SERIES:
        raise ValueError(f"unknown light-curve series {series!r}")
    n = len(image)
    if any(len(c) != n for c in (mjd, flux, err, normalized_flux, normalized_err, flags, kind)):
        raise ValueError("light-curve columns must have the same length")
    want = "mosaic" if series == "mosaic" else "image"
    keep = [i for i in range(n) if (kind[i] or "image") == want]
    mjd, f, e, nf, ne = (
        np.asarray(c, dtype=np.float64)[keep]
        for c in (mjd, flux, err, normalized_flux, normalized_err)
    )
    ids = np.array([image[i] for i in keep], dtype=str)
    flags = np.array([flags[i] for i in keep], dtype=str)
    if series != "epoch":
        return Table(
            [mjd, ids, f, e, nf, ne, flags],
            names=[*_NAMES, "flags"],
            dtype=[float, str, float, float, float, float, str],
        )
    with np.errstate(invalid="ignore"):
        clean = (flags == "") & np.isfinite(mjd) & np.isfinite(f) & (e > 0)
    mjd, f, e, nf, ne, ids = mjd[clean], f[clean], e[clean], nf[clean], ne[clean], ids[clean]
    first, counts, cf, ce = combine_epochs(mjd, f, e, window_days=window_days)
    group = np.repeat(np.arange(len(first)), counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(nf) & (ne > 0)
        w = np.where(ok, 1.0 / np.where(ok, ne, 1.0) ** 2, 0.0)
        sw = np.bincount(group, weights=w, minlength=len(first))
        cnf = np.bincount(group, weights=w * np.where(ok, nf, 0.0), minlength=len(first)) / sw
        cne = 1.0 / np.sqrt(sw)
    cnf = np.where(sw > 0, cnf, np.nan)
    cne = np.where(sw > 0, cne, np.nan)
    return Table(
        [mjd[first], ids[first], cf, ce, cnf, cne, counts],
        names=[*_NAMES, "n_images"],
        dtype=[float, str, float, float, float, float, int],
    )


@dataclass(frozen=True)
class SeriesPoints:
    """Padded per-source arrays of one series (rows: sources, columns: points by MJD).

    Attributes
    ----------
    keys : list of (catalog, source_id)
        The sources with at least one usable point, sorted.
    mjd, flux, err : numpy.ndarray
        Shape ``(n_sources, n_points)``; NaN pads. ``err`` are the variability errors.
    image : numpy.ndarray of object
        The product id of each point (None pads).
    """

    keys: list[tuple[str, str]]
    mjd: np.ndarray
    flux: np.ndarray
    err: np.ndarray
    image: np.ndarray


def series_points(
    catalog: Sequence[str],
    source_id: Sequence[str],
    mjd: Sequence[float | None],
    flux: Sequence[float | None],
    err: Sequence[float | None],
    image: Sequence[str],
    kind: Sequence[str | None],
    *,
    confusion_noise: float = 0.0,
) -> tuple[dict[str, SeriesPoints], set[tuple[str, str]]]:
    """Group many sources' stored points into the padded arrays of each series.

    A point is usable with an MJD, a flux and a positive error; each source's points are
    sorted by (MJD, image id).

    Parameters
    ----------
    catalog, source_id, mjd, flux, err, image, kind : sequence
        One element per stored point (None for NULL); ``kind`` of the product.
    confusion_noise : float
        See :func:`~dsa110_contimg.variability.baselines.variability_errors`.

    Returns
    -------
    dict of str to SeriesPoints
        For each series in :data:`SERIES`.
    set of (catalog, source_id)
        Every source seen, usable points or not.

    Examples
    --------
    >>> pts, seen = series_points(["c", "c"], ["s", "s"], [2.0, 1.0], [1.0, 2.0], [0.1, 0.1],
    ...                           ["b", "a"], ["image", "image"])
    >>> pts["image"].flux.tolist(), pts["mosaic"].keys, sorted(seen)
    ([[2.0, 1.0]], [], [('c', 's')])
    """
    n = len(catalog)
    if any(len(c) != n for c in (source_id, mjd, flux, err, image, kind)):
        raise ValueError("point columns must have the same length")
    pairs = list(zip(catalog, source_id, strict=True))
    keys = sorted(set(pairs))
    index = {k: i for i, k in enumerate(keys)}
    usable = np.array(
        [t is not None and f is not None and e is not None
         for t, f, e in zip(mjd, flux, err, strict=True)], dtype=bool,
    )  # fmt: skip
    out = series_arrays(
        keys,
        np.array([index[k] for k in pairs], dtype=np.int64),
        np.array(mjd, dtype=np.float64),
        np.array(flux, dtype=np.float64),
        np.array(err, dtype=np.float64),
        usable,
        np.array(image, dtype=object),
        np.array([k == "mosaic" for k in kind], dtype=bool),
        confusion_noise=confusion_noise,
    )
    return out, set(keys)


def series_arrays(
    keys: Sequence[tuple[str, str]],
    key_index: np.ndarray,
    mjd: np.ndarray,
    flux: np.ndarray,
    err: np.ndarray,
    usable: np.ndarray,
    image: np.ndarray,
    mosaic: np.ndarray,
    *,
    confusion_noise: float = 0.0,
    image_rank: np.ndarray | None = None,
) -> dict[str, SeriesPoints]:
    """:func:`series_points` on columns: numpy sorting and scattering, no per-point Python.

    The same arrays as :func:`series_points`, to the last bit, for points given as columns.

    Parameters
    ----------
    keys : sequence of (catalog, source_id)
        The sources, sorted.
    key_index : numpy.ndarray of int
        Each point's source (index into ``keys``).
    mjd, flux, err : numpy.ndarray
        Each point's MJD, flux and error.
    usable : numpy.ndarray of bool
        The point has an MJD, a flux and an error (none of them NULL); a usable point also
        needs a positive error.
    image : numpy.ndarray
        Each point's product id (``str``).
    mosaic : numpy.ndarray of bool
        The point is on a mosaic.
    confusion_noise : float
        See :func:`~dsa110_contimg.variability.baselines.variability_errors`.
    image_rank : numpy.ndarray of int, optional
        Each point's product id as an integer ordered as the ids are (saves sorting strings);
        computed from ``image`` when omitted.

    Returns
    -------
    dict of str to SeriesPoints
        For each series in :data:`SERIES`.

    Examples
    --------
    >>> pts = series_arrays([("c", "s")], np.array([0, 0]), np.array([2.0, 1.0]),
    ...                     np.array([1.0, 2.0]), np.array([0.1, 0.1]), np.array([True, True]),
    ...                     np.array(["b", "a"]), np.array([False, False]))
    >>> pts["image"].flux.tolist(), pts["mosaic"].keys
    ([[2.0, 1.0]], [])
    """
    key_index = np.asarray(key_index, dtype=np.int64)
    mjd = np.asarray(mjd, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    image = np.asarray(image, dtype=object)
    if image_rank is None:
        image_rank = np.unique(image.astype(str), return_inverse=True)[1]
    with np.errstate(invalid="ignore"):
        ok = np.asarray(usable, dtype=bool) & (err > 0)
    order = np.lexsort((image_rank, mjd, key_index))  # by source, then (MJD, image id)
    out = {}
    for name in SERIES:
        on = np.asarray(mosaic, dtype=bool) == (name == "mosaic")
        sel = order[(ok & on)[order]]
        src = key_index[sel]
        present, start, counts = np.unique(src, return_index=True, return_counts=True)
        width = int(counts.max()) if counts.size else 0
        row = np.repeat(np.arange(present.size), counts)
        col = np.arange(sel.size) - np.repeat(start, counts)
        m = np.full((present.size, width), np.nan)
        fl = np.full((present.size, width), np.nan)
        er = np.full((present.size, width), np.nan)
        im = np.full((present.size, width), None, dtype=object)
        m[row, col] = mjd[sel]
        fl[row, col] = flux[sel]
        er[row, col] = variability_errors(err[sel], confusion_noise=confusion_noise)
        im[row, col] = image[sel]
        out[name] = SeriesPoints([keys[i] for i in present.tolist()], m, fl, er, im)
    return out
