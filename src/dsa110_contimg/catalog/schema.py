"""The one unit convention of stored catalogs: column names, types and meanings.

Every reader returns, and :func:`~dsa110_contimg.catalog.store.ingest_table` accepts, an
astropy Table with these columns (missing optional ones are filled with NaN / ``""``):

=====================  ==========================================================
``source_id``          survey name, or the J-name of the position (unique)
``ra_deg, dec_deg``    J2000 position, degrees
``flux_mjy``           integrated flux density, mJy (peak where a survey has none)
``flux_err_mjy``       its error **as the file publishes it**: NVSS from VizieR or
                       HEASARC includes the 3% flux-scale term (Condon et al. 1998);
                       CATALOG41's is the fit's noise term; NULL when the file has
                       none (lsmtool sky models). Never a detection SNR's noise: the
                       master's ``snr`` follows :mod:`~dsa110_contimg.catalog.snr`
``peak_flux_mjy``      peak brightness, mJy/beam (and ``peak_flux_err_mjy``)
``ra_err_arcsec``      position errors, arcsec (also ``dec_err_arcsec``)
``maj_arcsec`` ...     fitted (beam-convolved) FWHM axes and PA (``min_arcsec``, ``pa_deg``)
``dc_maj_arcsec`` ...  deconvolved axes and PA (``dc_min_arcsec``, ``dc_pa_deg``)
``rms_mjy``            local noise, mJy/beam
``flags``              the survey's flags, ``name=value`` pairs joined by ``,``
=====================  ==========================================================

The master catalog adds :data:`MASTER_COLUMNS`; its ``snr`` is the NVSS *detection* SNR
(the 3% scale term removed, or S / 0.45 mJy for files without errors; see
:mod:`~dsa110_contimg.catalog.snr`), and its ``flags`` gain ``reference=nvss_only`` for
references selected by the NVSS-only fallback (:mod:`~dsa110_contimg.catalog.master`).
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

__all__ = [
    "FLOAT_COLUMNS",
    "MASTER_COLUMNS",
    "SOURCE_COLUMNS",
    "empty_sources",
    "standardize",
]

#: Numeric per-source columns of every catalog (after ``source_id, ra_deg, dec_deg``).
FLOAT_COLUMNS: tuple[str, ...] = (
    "flux_mjy",
    "flux_err_mjy",
    "peak_flux_mjy",
    "peak_flux_err_mjy",
    "ra_err_arcsec",
    "dec_err_arcsec",
    "maj_arcsec",
    "min_arcsec",
    "pa_deg",
    "dc_maj_arcsec",
    "dc_min_arcsec",
    "dc_pa_deg",
    "rms_mjy",
)

#: Columns of every stored catalog, in storage order.
SOURCE_COLUMNS: tuple[str, ...] = ("source_id", "ra_deg", "dec_deg", *FLOAT_COLUMNS, "flags")

#: Extra columns of the master catalog: name -> numpy dtype kind ('f' float, 'b' bool, 'i' int).
MASTER_COLUMNS: dict[str, str] = {
    "snr": "f",
    "spectral_index": "f",
    "spectral_index_err": "f",
    "resolved_flag": "b",
    "confusion_flag": "b",
    "is_reference": "b",
    "n_first": "i",
    "n_vlass": "i",
    "n_racs": "i",
    "first_flux_mjy": "f",
    "vlass_flux_mjy": "f",
    "racs_flux_mjy": "f",
}


def empty_sources(n: int = 0) -> Table:
    """Return a table of ``n`` blank rows with the standard columns.

    Examples
    --------
    >>> empty_sources(2).colnames[:3]
    ['source_id', 'ra_deg', 'dec_deg']
    """
    cols = {
        "source_id": np.full(n, "", dtype=object),
        "ra_deg": np.zeros(n),
        "dec_deg": np.zeros(n),
    }
    for name in FLOAT_COLUMNS:
        cols[name] = np.full(n, np.nan)
    cols["flags"] = np.full(n, "", dtype=object)
    return Table(cols)


def standardize(table: Table, *, master: bool = False) -> Table:
    """Return ``table`` with exactly the standard columns, in order, as plain arrays.

    Missing optional columns become NaN (numbers) or ``""`` (flags); masked values become
    NaN; ``source_id`` and ``flags`` become Python strings.

    Parameters
    ----------
    table : astropy.table.Table
        Must have ``source_id``, ``ra_deg``, ``dec_deg``.
    master : bool
        Also keep the :data:`MASTER_COLUMNS`.

    Returns
    -------
    astropy.table.Table

    Raises
    ------
    KeyError
        A required column is missing.
    """
    n = len(table)
    out = {}
    for name in ("source_id", "ra_deg", "dec_deg"):
        if name not in table.colnames:
            raise KeyError(f"column {name!r} is required")
    ids = _filled(table["source_id"], "")
    if ids.dtype.kind == "S":
        ids = np.char.decode(ids, "utf-8")
    if ids.dtype.kind == "U":
        out["source_id"] = np.strings.strip(ids)
    else:
        out["source_id"] = np.array([str(s).strip() for s in ids], dtype=str)
    for name in ("ra_deg", "dec_deg", *FLOAT_COLUMNS):
        if name in table.colnames:
            out[name] = np.asarray(_filled(table[name], np.nan), dtype=np.float64)
        else:
            out[name] = np.full(n, np.nan)
    if "flags" in table.colnames:
        flags = _filled(table["flags"], "")
        if flags.dtype.kind == "S":
            flags = np.char.decode(flags, "utf-8")
        out["flags"] = (
            flags if flags.dtype.kind == "U" else np.array([str(s) for s in flags], dtype=str)
        )
    else:
        out["flags"] = np.full(n, "", dtype="U1")
    if master:
        for name, kind in MASTER_COLUMNS.items():
            if name in table.colnames:
                fill = {"f": np.nan, "b": False, "i": 0}[kind]
                dtype = {"f": np.float64, "b": bool, "i": np.int64}[kind]
                out[name] = np.asarray(_filled(table[name], fill), dtype=dtype)
            else:
                out[name] = {
                    "f": np.full(n, np.nan),
                    "b": np.zeros(n, dtype=bool),
                    "i": np.zeros(n, dtype=np.int64),
                }[kind]
    return Table(out, copy=False)


def _filled(col, fill):
    """Plain ndarray of a (possibly masked) column with masked entries replaced."""
    if hasattr(col, "mask") and np.any(getattr(col, "mask", False)):
        data = np.ma.asarray(col)
        if data.dtype.kind in "fc":
            return data.filled(fill)
        return np.where(data.mask, fill, data.data.astype(object))
    return np.asarray(col)
