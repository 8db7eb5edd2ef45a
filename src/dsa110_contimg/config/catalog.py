"""Settings of the catalog store and the master cross-match (TOML table ``[catalog]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Public download locations of the survey catalogs (``contimg catalog download NAME``).
DEFAULT_DOWNLOAD_URLS: dict[str, str] = {
    "nvss": "https://heasarc.gsfc.nasa.gov/FTP/heasarc/dbase/tdat_files/heasarc_nvss.tdat.gz",
    "first": "http://sundog.stsci.edu/first/catalogs/first_14dec17.fits.gz",
    "racs": (
        "https://vizier.cds.unistra.fr/viz-bin/asu-fits?-source=J/other/PASA/38.58/galcut"
        "&-out.all&-out.max=unlimited"
    ),
}


class CatalogSettings(BaseModel):
    """Catalog store and master-catalog settings.

    Parameters
    ----------
    match_radius_arcsec : float
        Cross-match radius of the master catalog (NVSS to FIRST, VLASS, RACS). A fixed radius
        misses faint NVSS sources whose position error exceeds it and the lobes of doubles
        (see docs/catalog.md).
    vlass_flux_correction : float
        VLASS Epoch 1 Quick Look fluxes are divided by this factor before a spectral index is
        computed (they are ~15% low, Gordon et al. 2021), so 0.85 by default; 1 disables it.
    confusion_radius_arcsec : float
        Another NVSS source within this distance (about one DSA-110 synthesized beam) makes a
        master source confused.
    resolved_size_arcsec : float
        A master source is resolved when its FIRST deconvolved major axis exceeds this (or,
        without a FIRST counterpart, when its NVSS deconvolved major axis is a measurement,
        not an upper limit, above ``nvss_resolved_size_arcsec``).
    nvss_resolved_size_arcsec : float
        NVSS-only resolved threshold (see ``resolved_size_arcsec``).
    reference_min_snr : float
        Smallest NVSS signal-to-noise ratio (flux over its error) of a reference candidate.
    reference_min_flux_mjy : float
        Smallest NVSS flux density of a reference candidate, in mJy.
    reference_max_spectral_index : float or None
        Reference candidates must be at least this steep (alpha <= value, S ~ nu^alpha);
        ``None`` accepts any spectral index.
    reference_allow_unknown_spectral_index : bool
        Whether a source without a VLASS or RACS counterpart (no spectral index) may still be
        a reference candidate when ``reference_max_spectral_index`` is set.
    download_urls : dict of str to str
        Default download URL of each catalog name for ``contimg catalog download`` (NVSS from
        HEASARC, FIRST from the FIRST team, RACS-low sources from VizieR). VLASS has none: the
        CIRADA tables are behind a web form; pass ``--url``.
    download_timeout_s : float
        Network timeout of one download request, in seconds.
    """

    model_config = ConfigDict(extra="forbid")

    match_radius_arcsec: float = Field(7.5, gt=0)
    vlass_flux_correction: float = Field(0.85, gt=0)
    confusion_radius_arcsec: float = Field(60.0, ge=0)
    resolved_size_arcsec: float = Field(10.0, ge=0)
    nvss_resolved_size_arcsec: float = Field(30.0, ge=0)
    reference_min_snr: float = Field(50.0, ge=0)
    reference_min_flux_mjy: float = Field(0.0, ge=0)
    reference_max_spectral_index: float | None = Field(-0.5, ge=-5.0, le=5.0)
    reference_allow_unknown_spectral_index: bool = False
    download_urls: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_DOWNLOAD_URLS))
    download_timeout_s: float = Field(60.0, gt=0)
