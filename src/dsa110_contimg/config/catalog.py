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
        Smallest NVSS detection signal-to-noise ratio of a reference candidate: flux over the
        fit error without NVSS's 3% flux-scale term (VizieR, HEASARC), over the noise-only
        error (CATALOG41), or over ``nvss_rms_mjy`` (files without errors, e.g. lsmtool sky
        models); see docs/photometry-references.md.
    reference_min_flux_mjy : float
        Smallest NVSS flux density of a reference candidate, in mJy.
    reference_max_spectral_index : float or None
        Reference candidates must be at least this steep (alpha <= value, S ~ nu^alpha);
        ``None`` accepts any spectral index.
    reference_allow_unknown_spectral_index : bool
        Whether a source without a VLASS or RACS counterpart (no spectral index) may still be
        a reference candidate when ``reference_max_spectral_index`` is set.
    reference_fallback : bool
        Where no spectral-index catalog (VLASS, RACS) covers a source, so that no spectral
        index can exist, select references from NVSS alone: unresolved, unconfused, isolated
        (``reference_fallback_isolation_arcsec``) and SNR >= ``reference_min_snr``. Variable
        ones are dropped later by the normalization's chi-square test of their own light
        curves. False: such sources follow ``reference_allow_unknown_spectral_index``.
    spectral_coverage_nside : int
        A source is covered by VLASS or RACS when its HEALPix cell at this ``nside`` holds a
        source of theirs (128: cells ~0.46 deg across where both hold ~12 sources, so an
        empty cell means the catalog does not cover it).
    reference_fallback_isolation_arcsec : float
        NVSS-only references have no other NVSS source within this distance (two DSA-110
        beams by default).
    nvss_rms_mjy : float
        NVSS image rms in mJy/beam: the noise of NVSS files without errors (lsmtool sky
        models) and the floor of the fit error.
    reference_strip_deg : float
        Height of the declination strips in which ``contimg catalog build-master``,
        ``contimg run`` and the dashboard count references (about one DSA-110 image).
    reference_warn_per_image : float
        Warn loudly when a strip has fewer references than this per image-sized area (its
        side ``reference_strip_deg``): normalization needs ``normalize.min_references``
        clean ones on every image, and edge, flagged and clipped sources eat the margin.
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
    reference_fallback: bool = True
    spectral_coverage_nside: int = Field(128, ge=1, le=8192)
    reference_fallback_isolation_arcsec: float = Field(120.0, ge=0)
    nvss_rms_mjy: float = Field(0.45, gt=0)
    reference_strip_deg: float = Field(3.5, gt=0, le=30)
    reference_warn_per_image: float = Field(10.0, ge=0)
    download_urls: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_DOWNLOAD_URLS))
    download_timeout_s: float = Field(60.0, gt=0)
