"""RACS-low: CASDA DR1 source/Gaussian tables, VizieR J/other/PASA/38.58, Selavy, Aegean.

- CASDA DR1 (FITS/VOTable/CSV; the CSV/TAP versions use lower-case names such as ``ra``,
  ``total_flux_source``, ``maj_axis``, ``dc_maj``, ``noise``): RA/Dec (deg), E_RA/E_Dec
  (arcsec), Total_flux_Source or Total_flux_Gaussian (mJy), Peak_flux (mJy/beam), fitted
  Maj/Min/PA and deconvolved DC_*, Noise, S_Code, Flag_Close. Ids: the source name without
  its ``RACS-DR1`` prefix (``J123049.4+122322``), or ``Gaussian_ID`` for Gaussian tables.
- VizieR PASA/38.58: ``RACS-DR1`` (name), ``RAJ2000``/``DEJ2000``, ``Ftot``, ``Fpk``,
  ``Noise``; Gaussian tables ``GID``, ``amaj``, ``bmin``, ``PA``.
- Selavy component CSV (CASDA per-SB): ``ra_deg_cont``, ``dec_deg_cont``, ``ra_err``/
  ``dec_err`` (arcsec), ``flux_peak``/``flux_int`` (mJy), axes and ``*_deconv`` (arcsec),
  ``rms_image``. Ids: ``component_id``.
- Aegean: ``ra``/``dec``/``err_ra``/``err_dec`` in degrees, fluxes and ``local_rms`` in
  **Jy**, ``a``/``b`` fitted FWHM arcsec; an error of -1 means "not fitted" (stored as
  NaN). Ids: J-names of the position.
"""

from __future__ import annotations

import numpy as np

from ._result import ReadResult, build_result, flag_strings, survey_jname
from ._table import RawTable, sexagesimal_to_deg

__all__ = [
    "FORMAT_AEGEAN",
    "FORMAT_CASDA",
    "FORMAT_SELAVY",
    "FORMAT_VIZIER",
    "matches_aegean",
    "matches_casda",
    "matches_selavy",
    "matches_vizier",
    "read_aegean",
    "read_casda",
    "read_selavy",
    "read_vizier",
]

FORMAT_CASDA = "racs-casda"
FORMAT_VIZIER = "racs-vizier"
FORMAT_SELAVY = "selavy"
FORMAT_AEGEAN = "aegean"

_AEGEAN_FLAGS = {
    1: "FITERRSMALL",
    2: "FITERR",
    4: "FIXED2PSF",
    8: "FIXEDCIRCULAR",
    16: "NOTFIT",
    32: "WCSERR",
    64: "PRIORIZED",
}


def matches_casda(raw: RawTable) -> bool:
    """Whether the columns are those of a CASDA DR1 source or Gaussian table."""
    return raw.has("Total_flux_Source", "Total_flux_Gaussian") and raw.has(
        "Source_ID", "Gaussian_ID"
    )


def matches_vizier(raw: RawTable) -> bool:
    """Whether the columns are those of VizieR J/other/PASA/38.58."""
    return raw.has("Ftot", "Fpk") and raw.has("RAJ2000", "_RAJ2000")


def matches_selavy(raw: RawTable) -> bool:
    """Whether the columns are those of a Selavy component table."""
    return raw.has("ra_deg_cont") and raw.has("flux_int", "flux_peak")


def matches_aegean(raw: RawTable) -> bool:
    """Whether the columns are those of an Aegean component table."""
    return raw.has("int_flux") and raw.has("peak_flux") and raw.has("err_ra") and raw.has("island")


def read_casda(raw: RawTable) -> ReadResult:
    """CASDA DR1 sources or Gaussians (either capitalization)."""
    gaussian = raw.has("Gaussian_ID") and raw.has("Total_flux_Gaussian")
    if gaussian:
        ids = raw.text("Gaussian_ID")
        flux = raw.float("Total_flux_Gaussian")
        flux_err = raw.float("E_Total_flux_Gaussian", "E_Total_flux_Gaussian_PyBDSF")
    else:
        ids = np.char.replace(raw.text("Source_Name"), "RACS-DR1 ", "")
        ids = np.where(ids == "", raw.text("Source_ID"), ids)
        flux = raw.float("Total_flux_Source")
        flux_err = raw.float("E_Total_flux_Source", "E_Total_flux_Source_PyBDSF")
    cols = {
        "source_id": ids,
        "ra_deg": raw.float("RA", required=True),
        "dec_deg": raw.float("Dec", required=True),
        "flux_mjy": flux,
        "flux_err_mjy": flux_err,
        "peak_flux_mjy": raw.float("Peak_flux"),
        "peak_flux_err_mjy": raw.float("E_Peak_flux"),
        "ra_err_arcsec": raw.float("E_RA"),
        "dec_err_arcsec": raw.float("E_Dec"),
        "maj_arcsec": raw.float("Maj", "maj_axis"),
        "min_arcsec": raw.float("Min", "min_axis"),
        "pa_deg": raw.float("PA", "pos_ang"),
        "dc_maj_arcsec": raw.float("DC_Maj", "dc_maj_axis"),
        "dc_min_arcsec": raw.float("DC_Min", "dc_min_axis"),
        "dc_pa_deg": raw.float("DC_PA", "dc_pos_ang"),
        "rms_mjy": raw.float("Noise"),
        "flags": flag_strings(
            [
                ("S_Code", raw.text("S_Code")),
                ("Flag_Close", np.where(raw.text("Flag_Close") == "-", "", raw.text("Flag_Close"))),
                ("source", raw.text("Source_ID") if gaussian else np.full(len(raw), "")),
            ],
            len(raw),
        ),
    }
    return build_result(raw, FORMAT_CASDA, cols)


def read_vizier(raw: RawTable) -> ReadResult:
    """VizieR J/other/PASA/38.58 sources (or Gaussians)."""
    name = raw.find("RAJ2000")
    if name is not None and not (
        isinstance(raw.columns[name], np.ndarray) and raw.columns[name].dtype.kind in "fi"
    ):
        ra, dec = sexagesimal_to_deg(raw, raw.text("RAJ2000"), raw.text("DEJ2000"))
    else:
        ra, dec = raw.float("RAJ2000", "_RAJ2000"), raw.float("DEJ2000", "_DEJ2000")
    if raw.has("GID"):
        ids = raw.text("GID")
    else:
        ids = survey_jname(raw.text("RACS-DR1", "RACS"))
        ids = np.where(ids == "", raw.text("ID"), ids)
    cols = {
        "source_id": ids,
        "ra_deg": ra,
        "dec_deg": dec,
        "flux_mjy": raw.float("Ftot"),
        "flux_err_mjy": raw.float("e_Ftot"),
        "peak_flux_mjy": raw.float("Fpk"),
        "peak_flux_err_mjy": raw.float("e_Fpk"),
        "ra_err_arcsec": raw.float("e_RAJ2000"),
        "dec_err_arcsec": raw.float("e_DEJ2000"),
        "maj_arcsec": raw.float("amaj", "Maj"),
        "min_arcsec": raw.float("bmin", "Min"),
        "pa_deg": raw.float("PA"),
        "rms_mjy": raw.float("Noise"),
        "flags": flag_strings([("S_Code", raw.text("SCode", "S_Code"))], len(raw)),
    }
    return build_result(raw, FORMAT_VIZIER, cols)


def read_selavy(raw: RawTable) -> ReadResult:
    """Selavy component catalogue (CASDA CSV/VOTable)."""
    ids = raw.text("component_id")
    if not raw.has("component_id"):
        ids = survey_jname(raw.text("component_name"))
    cols = {
        "source_id": ids,
        "ra_deg": raw.float("ra_deg_cont"),
        "dec_deg": raw.float("dec_deg_cont"),
        "flux_mjy": raw.float("flux_int"),
        "flux_err_mjy": raw.float("flux_int_err"),
        "peak_flux_mjy": raw.float("flux_peak"),
        "peak_flux_err_mjy": raw.float("flux_peak_err"),
        "ra_err_arcsec": raw.float("ra_err"),
        "dec_err_arcsec": raw.float("dec_err"),
        "maj_arcsec": raw.float("maj_axis"),
        "min_arcsec": raw.float("min_axis"),
        "pa_deg": raw.float("pos_ang"),
        "dc_maj_arcsec": raw.float("maj_axis_deconv"),
        "dc_min_arcsec": raw.float("min_axis_deconv"),
        "dc_pa_deg": raw.float("pos_ang_deconv"),
        "rms_mjy": raw.float("rms_image"),
        "flags": flag_strings(
            [
                ("has_siblings", np.where(raw.text("has_siblings") == "1", "1", "")),
                ("flag_c4", np.where(raw.text("flag_c4") == "1", "1", "")),
                ("island", raw.text("island_id")),
            ],
            len(raw),
        ),
    }
    return build_result(raw, FORMAT_SELAVY, cols)


def _not_fitted(values: np.ndarray) -> np.ndarray:
    """Aegean marks parameters it did not fit with an error of -1."""
    out = np.array(values, dtype=float)
    out[out < 0] = np.nan
    return out


def read_aegean(raw: RawTable) -> ReadResult:
    """Aegean component table (Jy and degrees -> mJy and arcsec)."""
    bits = np.nan_to_num(raw.float("flags"), nan=0.0).astype(np.int64)
    names = []
    for b in bits.tolist():
        names.append("|".join(v for k, v in _AEGEAN_FLAGS.items() if b & k))
    cols = {
        "ra_deg": raw.float("ra"),
        "dec_deg": raw.float("dec"),
        "flux_mjy": raw.float("int_flux") * 1e3,
        "flux_err_mjy": _not_fitted(raw.float("err_int_flux")) * 1e3,
        "peak_flux_mjy": raw.float("peak_flux") * 1e3,
        "peak_flux_err_mjy": _not_fitted(raw.float("err_peak_flux")) * 1e3,
        "ra_err_arcsec": _not_fitted(raw.float("err_ra")) * 3600.0,
        "dec_err_arcsec": _not_fitted(raw.float("err_dec")) * 3600.0,
        "maj_arcsec": raw.float("a"),
        "min_arcsec": raw.float("b"),
        "pa_deg": raw.float("pa"),
        "rms_mjy": raw.float("local_rms") * 1e3,
        "flags": flag_strings([("aegean", np.array(names, dtype=str))], len(raw)),
    }
    return build_result(raw, FORMAT_AEGEAN, cols)
