"""Epochs: the image points of one transit combined by inverse variance.

DSA-110 sees a field for a few minutes per day; the images of one transit (within
``window_days`` of the epoch's first point) are one epoch. Pure numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["combine_epochs"]


def combine_epochs(
    mjd: np.ndarray, flux: np.ndarray, err: np.ndarray, *, window_days: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group one source's image points (sorted by MJD) into epochs combined by inverse variance.

    A new epoch starts at the first point later than ``window_days`` after the first point
    of the current epoch (the rule :func:`advance` uses).

    Parameters
    ----------
    mjd, flux, err : numpy.ndarray
        One source's points, sorted by MJD, all finite with positive errors.
    window_days : float
        Epoch window, days.

    Returns
    -------
    first_index, n_in_epoch, flux, err : numpy.ndarray
        Index of each epoch's first point, number of points, combined flux and error. The
        epoch's MJD is ``mjd[first_index]``.

    Examples
    --------
    >>> combine_epochs(np.array([0, 0.01, 1.0]), np.array([1.0, 3.0, 2.0]),
    ...                np.array([1.0, 1.0, 1.0]), window_days=1 / 24)[2]
    array([2., 2.])
    """
    mjd = np.asarray(mjd, dtype=np.float64)
    n = mjd.size
    if n == 0:
        empty = np.zeros(0)
        return empty.astype(int), empty.astype(int), empty, empty
    # blocks separated by gaps wider than the window are always separate epochs; only inside
    # a block (a transit) longer than the window is the sequential rule (window anchored at
    # each epoch's first point) needed, so only those blocks are walked point by point
    new_epoch = np.r_[True, np.diff(mjd) > window_days]
    starts = np.flatnonzero(new_epoch)
    ends = np.r_[starts[1:], n]
    for k in np.flatnonzero(mjd[ends - 1] - mjd[starts] > window_days).tolist():
        a, b = int(starts[k]), int(ends[k])
        start = mjd[a]
        for i in range(a + 1, b):
            if mjd[i] - start > window_days:
                new_epoch[i] = True
                start = mjd[i]
    group = np.cumsum(new_epoch) - 1
    w = 1.0 / np.asarray(err, dtype=np.float64) ** 2
    sw = np.bincount(group, weights=w)
    swf = np.bincount(group, weights=w * np.asarray(flux, dtype=np.float64))
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    counts = np.bincount(group)
    return first, counts, swf / sw, 1.0 / np.sqrt(sw)
