"""NVSS from VizieR VIII/65/nvss (FITS, VOTable or CSV/TSV export).

``RAJ2000``/``DEJ2000`` are sexagesimal strings (``_RAJ2000``/``_DEJ2000`` in degrees when
requested); ``e_RAJ2000`` is in seconds of time, ``e_DEJ2000`` in arcsec, ``S1.4`` and
``e_S1.4`` in mJy (integrated), ``MajAxis``/``MinAxis`` deconvolved arcsec with ``l_*``
``<`` upper limits; ``NVSS`` is the source name ``hhmmss+ddmmss``.
"""

from __future__ import annotations

import numpy as np

from ._result import ReadResult, build_result, flag_strings, survey_jname
from ._table import RawTable, sexagesimal_to_deg

__all__ = ["FORMAT", "matches", "read_raw"]

FORMAT = "nvss-vizier"


def matches(raw: RawTable) -> bool:
    """Whether the columns are those of VIII/65."""
    return raw.has("S1.4") and raw.has("RAJ2000", "_RAJ2000")


def positions(raw: RawTable) -> tuple[np.ndarray, np.ndarray]:
    """Degrees from the catalog's own sexagesimal strings, else from ``_RAJ2000/_DEJ2000``.

    The strings are the published values; VizieR's computed degrees are rounded to 1e-7 deg,
    which moves ~5% of positions across a whole second and so changes their J-name.
    """
    name = raw.find("RAJ2000")
    if name is not None:
        values = raw.columns[name]
        if isinstance(values, np.ndarray) and values.dtype.kind in "fi":
            return raw.float("RAJ2000"), raw.float("DEJ2000")
        return sexagesimal_to_deg(raw, raw.text("RAJ2000"), raw.text("DEJ2000"))
    return raw.float("_RAJ2000"), raw.float("_DEJ2000")


def read_raw(raw: RawTable) -> ReadResult:
    """Map VIII/65 columns to the store's convention."""
    ra, dec = positions(raw)
    lim_maj, lim_min = raw.text("l_MajAxis"), raw.text("l_MinAxis")
    cols = {
        "source_id": survey_jname(raw.text("NVSS")),
        "ra_deg": ra,
        "dec_deg": dec,
        "flux_mjy": raw.float("S1.4"),
        "flux_err_mjy": raw.float("e_S1.4"),
        "ra_err_arcsec": raw.float("e_RAJ2000") * 15.0 * np.cos(np.radians(np.nan_to_num(dec))),
        "dec_err_arcsec": raw.float("e_DEJ2000"),
        "dc_maj_arcsec": raw.float("MajAxis"),
        "dc_min_arcsec": raw.float("MinAxis"),
        "dc_pa_deg": raw.float("PA"),
        "flags": flag_strings(
            [
                ("dc_maj_limit", np.where(lim_maj == "<", "1", "")),
                ("dc_min_limit", np.where(lim_min == "<", "1", "")),
                ("residual", raw.text("f_resFlux")),
            ],
            len(raw),
        ),
    }
    return build_result(raw, FORMAT, cols, ra_decimals=0, dec_decimals=0)
