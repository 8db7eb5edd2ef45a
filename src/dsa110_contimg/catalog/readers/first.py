"""FIRST: the team's ``first_14dec17.fits`` and VizieR VIII/92/first14.

``first_14dec17.fits``: RA/DEC (deg), SIDEPROB, FPEAK (mJy/beam), FINT (mJy), RMS, MAJOR/
MINOR/POSANG deconvolved (0 = unresolved), FITTED_MAJOR/MINOR/POSANG, FLDNAME. VizieR:
``RAJ2000``/``DEJ2000`` sexagesimal, ``Fpeak``, ``Fint``, ``Rms``, ``Maj``, ``Min``, ``PA``,
``fMaj``, ``fMin``, ``fPA``, ``p(S)`` (sidelobe probability).

Likely sidelobes (sidelobe probability above :data:`MAX_SIDEPROB`) are skipped and counted.
Position errors are the FIRST 90% formula ``sqrt(5.4^2 + size^2) (1/SNR + 1/20)`` arcsec,
SNR = (Fpeak - 0.25)/Rms, divided by 1.645 (one sigma). Ids are FIRST designations
(``JHHMMSS.s+DDMMSS``) of the position rounded to the published 0.001 s / 0.01", the same
from both files.
"""

from __future__ import annotations

import numpy as np

from ._result import ReadResult, build_result, flag_strings
from ._table import RawTable, sexagesimal_to_deg

__all__ = [
    "FORMAT_FITS",
    "FORMAT_VIZIER",
    "MAX_SIDEPROB",
    "matches_fits",
    "matches_vizier",
    "read_raw",
]

FORMAT_FITS = "first-fits"
FORMAT_VIZIER = "first-vizier"

#: Rows with a larger sidelobe probability are skipped as likely sidelobes.
MAX_SIDEPROB = 0.1


def matches_fits(raw: RawTable) -> bool:
    """Whether the columns are those of ``first_14dec17``."""
    return raw.has("FPEAK") and raw.has("FINT") and raw.has("SIDEPROB")


def matches_vizier(raw: RawTable) -> bool:
    """Whether the columns are those of VIII/92."""
    return raw.has("Fpeak") and raw.has("Fint") and raw.has("RAJ2000", "_RAJ2000")


def _errors(peak, rms, maj, min_):
    snr = (peak - 0.25) / rms
    size = np.nanmax(np.vstack([np.nan_to_num(maj), np.nan_to_num(min_)]), axis=0)
    err90 = np.sqrt(5.4**2 + size**2) * (1.0 / snr + 1.0 / 20.0)
    return err90 / 1.645


def read_raw(raw: RawTable) -> ReadResult:
    """Map either FIRST layout to the store's convention."""
    vizier = not matches_fits(raw)
    fmt = FORMAT_VIZIER if vizier else FORMAT_FITS
    if vizier:
        name = raw.find("RAJ2000")
        if name is not None and not (
            isinstance(raw.columns[name], np.ndarray) and raw.columns[name].dtype.kind in "fi"
        ):
            ra, dec = sexagesimal_to_deg(raw, raw.text("RAJ2000"), raw.text("DEJ2000"))
        else:
            ra, dec = raw.float("RAJ2000", "_RAJ2000"), raw.float("DEJ2000", "_DEJ2000")
        sideprob = raw.float("p(S)", "SideProb", "PS")
        peak, fint, rms = raw.float("Fpeak"), raw.float("Fint"), raw.float("Rms")
        dmaj, dmin, dpa = raw.float("Maj"), raw.float("Min"), raw.float("PA")
        fmaj, fmin, fpa = raw.float("fMaj"), raw.float("fMin"), raw.float("fPA")
        field = raw.text("Fld", "FldName")
    else:
        ra, dec = raw.float("RA"), raw.float("DEC")
        sideprob = raw.float("SIDEPROB")
        peak, fint, rms = raw.float("FPEAK"), raw.float("FINT"), raw.float("RMS")
        dmaj, dmin, dpa = raw.float("MAJOR"), raw.float("MINOR"), raw.float("POSANG")
        fmaj, fmin, fpa = (
            raw.float("FITTED_MAJOR"),
            raw.float("FITTED_MINOR"),
            raw.float("FITTED_POSANG"),
        )
        field = raw.text("FLDNAME")
    sidelobe = np.nan_to_num(sideprob, nan=0.0) > MAX_SIDEPROB
    skipped = {"sidelobe": int(sidelobe.sum())} if sidelobe.any() else {}
    pos_err = _errors(peak, rms, dmaj, dmin)
    cols = {
        "ra_deg": ra,
        "dec_deg": dec,
        "flux_mjy": fint,
        "peak_flux_mjy": peak,
        "peak_flux_err_mjy": rms,
        "ra_err_arcsec": pos_err,
        "dec_err_arcsec": pos_err,
        "maj_arcsec": fmaj,
        "min_arcsec": fmin,
        "pa_deg": fpa,
        "dc_maj_arcsec": dmaj,
        "dc_min_arcsec": dmin,
        "dc_pa_deg": dpa,
        "rms_mjy": rms,
        "flags": flag_strings(
            [("sideprob", np.char.mod("%.3f", np.nan_to_num(sideprob))), ("field", field)], len(raw)
        ),
    }
    # FIRST designations are JHHMMSS.s+DDMMSS of positions published to 0.001 s and 0.01"
    return build_result(
        raw,
        fmt,
        cols,
        keep=~sidelobe,
        skipped=skipped,
        ra_decimals=1,
        dec_decimals=0,
        published_decimals=(3, 2),
    )
