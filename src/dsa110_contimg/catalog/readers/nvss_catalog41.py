"""NVSS raw Gaussian fits: NRAO ``CATALOG41.FIT`` (an AIPS VL table).

``RA(2000)``/``DEC(2000)`` in degrees, ``PEAK INT`` in Jy/beam, ``MAJOR AX``/``MINOR AX``
fitted (beam-convolved) FWHM in degrees, ``I RMS`` in Jy/beam; no integrated flux. The
integrated flux is computed for a Gaussian as ``peak * maj * min / 45"^2`` (NVSS beam),
without NVSSlist's bias corrections. The table holds one fit per field, so a source in
overlapping fields appears more than once; the fit nearest its field centre is kept, as
NVSSlist does. Ids are NVSS-style J-names (``Jhhmmss+ddmmss``) of the position rounded as
the catalog publishes it (0.01 s, 0.1"), then truncated, as the NVSS names are.
"""

from __future__ import annotations

import numpy as np

from ._result import ReadResult, build_result, flag_strings
from ._table import RawTable

__all__ = ["FORMAT", "NVSS_BEAM_ARCSEC", "matches", "read_raw"]

FORMAT = "nvss-catalog41"

#: NVSS restoring beam FWHM (circular), arcsec.
NVSS_BEAM_ARCSEC = 45.0
#: Centre pixel of the NVSS 1024 x 1024 field images.
_FIELD_CENTRE_PIX = 512.0


def matches(raw: RawTable) -> bool:
    """Whether the columns are those of an AIPS VL table."""
    return raw.has("PEAK INT") and raw.has("RA(2000)")


def read_raw(raw: RawTable) -> ReadResult:
    """Map VL-table columns to the store's convention (Jy -> mJy, deg -> arcsec)."""
    peak = raw.float("PEAK INT") * 1e3
    maj = raw.float("MAJOR AX") * 3600.0
    min_ = raw.float("MINOR AX") * 3600.0
    rms = raw.float("I RMS") * 1e3
    flux = peak * maj * min_ / NVSS_BEAM_ARCSEC**2
    flux_err = rms * np.sqrt(np.clip(maj * min_ / NVSS_BEAM_ARCSEC**2, 1.0, None))
    cx, cy = raw.float("CENTER X"), raw.float("CENTER Y")
    dist = np.hypot(cx - _FIELD_CENTRE_PIX, cy - _FIELD_CENTRE_PIX)
    cols = {
        "ra_deg": raw.float("RA(2000)"),
        "dec_deg": raw.float("DEC(2000)"),
        "flux_mjy": flux,
        "flux_err_mjy": flux_err,
        "peak_flux_mjy": peak,
        "peak_flux_err_mjy": rms,
        "maj_arcsec": maj,
        "min_arcsec": min_,
        "pa_deg": np.mod(raw.float("POSANGLE"), 180.0),
        "rms_mjy": rms,
        "flags": flag_strings([("field", raw.text("FIELD"))], len(raw)),
    }
    return build_result(
        raw,
        FORMAT,
        cols,
        ra_decimals=0,
        dec_decimals=0,
        priority=np.nan_to_num(dist, nan=1e9),
        published_decimals=(2, 1),  # NVSS positions are published to 0.01 s and 0.1"
    )
