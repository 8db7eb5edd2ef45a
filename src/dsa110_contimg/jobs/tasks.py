"""The task run for one item, in whatever process the executor chose: measure, return rows.

A task never touches the database: it reads the image, measures the positions and returns
plain numpy columns, which the worker process stores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MEASURED_COLUMNS", "measure_item"]

#: Columns of :func:`~dsa110_contimg.photometry.measure_many` returned by a task.
MEASURED_COLUMNS = ("flux_jy", "flux_err_jy", "local_rms_jy", "snr", "chi2", "dof", "flags")


def measure_item(
    fits_path: str,
    ra_deg: Sequence[float],
    dec_deg: Sequence[float],
    source_ids: Sequence[str],
    method: str,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """Measure one image at the job's positions.

    Parameters
    ----------
    fits_path : str
        The image.
    ra_deg, dec_deg : sequence of float
        Positions.
    source_ids : sequence of str
        Their identifiers.
    method : str
        Measurement method (``"peak"``).
    options : mapping
        Options of :func:`~dsa110_contimg.photometry.measure_many`.

    Returns
    -------
    dict
        ``mjd`` (the image's mid-exposure MJD or None) and ``columns`` (numpy arrays named
        as :data:`MEASURED_COLUMNS`, in input order).

    Raises
    ------
    InvalidImageError
        The image is unreadable or has no celestial WCS.
    """
    from ..photometry import measure_many, observation_times, read_image

    image = read_image(fits_path)
    _, mjd_mid, _ = observation_times(image.header)
    coords = np.column_stack([np.asarray(ra_deg, dtype=float), np.asarray(dec_deg, dtype=float)])
    table = measure_many(image, coords, source_ids=list(source_ids), **dict(options))
    columns = {name: np.asarray(table[name]) for name in MEASURED_COLUMNS}
    return {"mjd": mjd_mid, "columns": columns, "method": method}
