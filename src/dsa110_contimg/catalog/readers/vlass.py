"""VLASS Quick Look components from CIRADA (``CIRADA_VLASS1QL_table1_components_v2.csv.gz``).

Component_name (``VLASS1QLCIR Jhhmmss.ss+ddmmss.s``, kept as the id), RA/DEC (deg), E_RA/
E_DEC (**deg**), Total_flux/E_Total_flux (mJy), Peak_flux/E_Peak_flux/Isl_rms (mJy/beam),
fitted Maj/Min/PA and deconvolved DC_* (arcsec), S_Code, Duplicate_flag, Quality_flag.

CIRADA's recommended cuts are applied and counted: empty islands (``S_Code`` E, zero flux),
redundant duplicates (``Duplicate_flag`` >= 2) and ``Quality_flag`` not in {0, 4}. Fluxes are
stored as published (the Epoch 1 ~15% deficit is corrected where it matters, in the master
catalog's spectral index).
"""

from __future__ import annotations

import numpy as np

from ._result import ReadResult, build_result, flag_strings
from ._table import RawTable

__all__ = ["FORMAT", "matches", "read_raw"]

FORMAT = "vlass-cirada"


def matches(raw: RawTable) -> bool:
    """Whether the columns are those of the CIRADA component table."""
    return raw.has("Component_name") and raw.has("Total_flux") and raw.has("Quality_flag")


def read_raw(raw: RawTable) -> ReadResult:
    """Apply the CIRADA cuts and map the columns to the store's convention."""
    s_code = raw.text("S_Code")
    total = raw.float("Total_flux")
    dup = np.nan_to_num(raw.float("Duplicate_flag"), nan=0.0).astype(np.int64)
    qual = np.nan_to_num(raw.float("Quality_flag"), nan=0.0).astype(np.int64)
    empty = (s_code == "E") | ~(np.nan_to_num(total) > 0)
    redundant = ~empty & (dup >= 2)
    bad_quality = ~empty & ~redundant & ~np.isin(qual, (0, 4))
    skipped = {
        k: int(v.sum())
        for k, v in (("empty_island", empty), ("duplicate", redundant), ("quality", bad_quality))
        if v.any()
    }
    keep = ~(empty | redundant | bad_quality)
    cols = {
        "source_id": raw.text("Component_name"),
        "ra_deg": raw.float("RA"),
        "dec_deg": raw.float("DEC"),
        "flux_mjy": total,
        "flux_err_mjy": raw.float("E_Total_flux"),
        "peak_flux_mjy": raw.float("Peak_flux"),
        "peak_flux_err_mjy": raw.float("E_Peak_flux"),
        "ra_err_arcsec": raw.float("E_RA") * 3600.0,
        "dec_err_arcsec": raw.float("E_DEC") * 3600.0,
        "maj_arcsec": raw.float("Maj"),
        "min_arcsec": raw.float("Min"),
        "pa_deg": raw.float("PA"),
        "dc_maj_arcsec": raw.float("DC_Maj"),
        "dc_min_arcsec": raw.float("DC_Min"),
        "dc_pa_deg": raw.float("DC_PA"),
        "rms_mjy": raw.float("Isl_rms"),
        "flags": flag_strings(
            [
                ("S_Code", s_code),
                ("Duplicate_flag", dup.astype(str)),
                ("Quality_flag", qual.astype(str)),
            ],
            len(raw),
        ),
    }
    return build_result(raw, FORMAT, cols, keep=keep, skipped=skipped)
