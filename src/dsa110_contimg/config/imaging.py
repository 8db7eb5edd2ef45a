"""Settings of imaging with WSClean, the primary beam and image QA (TOML table ``[imaging]``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ImagingSettings(BaseModel):
    """Imaging settings.

    Parameters
    ----------
    wsclean_path : str
        The ``wsclean`` executable (looked up on ``PATH`` when called; Debian package
        ``wsclean``).
    field_of_view_deg : float
        Side of the square image in degrees (3.5: the primary beam FWHM of ~3.2 deg at
        1.4 GHz with margin).
    image_size_px : int, optional
        Image side in pixels; default: ``field_of_view_deg / cell`` rounded up to even.
    cell_arcsec : float, optional
        Pixel size; default: ``cell_fraction`` of the synthesized beam ``lambda_min / B_max``
        (longest baseline of the Measurement Set, highest frequency).
    cell_fraction : float
        Pixel size as a fraction of ``lambda_min / B_max`` (1/8: ~5 pixels across the
        Briggs-0 restoring beam's minor axis, so peak fluxes lose < 2 % to pixelization).
    weighting : str
        WSClean weighting: ``"briggs"``, ``"natural"`` or ``"uniform"``.
    robust : float
        Briggs robustness (with ``weighting="briggs"``).
    niter : int
        Maximum CLEAN iterations.
    mgain : float
        Major-cycle gain.
    auto_threshold : float
        Stop cleaning at this many sigma of the residual (``-auto-threshold``).
    auto_mask : float
        Auto-masking threshold in sigma (``-auto-mask``; 0 disables it).
    threads : int
        Threads for WSClean (``-j``); 0 lets WSClean decide.
    extra_args : list of str
        Further WSClean arguments, appended as given.
    keep_intermediate : bool
        Keep WSClean's ``-psf``/``-model``/``-dirty`` images (the ``-residual`` is kept always).
    timeout_seconds : float
        Kill WSClean after this long (an ImagingError for the group).
    dish_diameter_m : float
        Dish diameter of the primary-beam model.
    beam_fwhm_factor : float
        Primary-beam FWHM in units of lambda/D (Gaussian model, shared with the simulator).
    pb_cutoff : float
        Pixels of the primary-beam-corrected image where the time-averaged response is below
        this are NaN.
    beam_n_freqs : int
        Frequencies sampled across the band when averaging the primary beam.
    sefd_jy : float
        System-equivalent flux density of one dish, for the expected thermal noise in QA.
    qa_max_noise_ratio : float
        QA fails when the measured noise exceeds this many times the natural-weighting
        thermal noise expected from the Measurement Set (Briggs 0 alone gives ~1.5; the
        uncleaned sidelobes of sources beyond the 3.5 deg field, still at 10-40 % of the beam,
        add ~2 more on an NVSS-like sky).
    qa_max_beam_axis_ratio : float
        QA fails when the restoring beam's major/minor axis ratio exceeds this.
    qa_max_beam_arcsec : float
        QA fails when the restoring beam's major axis exceeds this (arcsec).
    qa_min_finite_fraction : float
        QA fails when fewer pixels of the uncorrected image are finite.
    qa_min_dynamic_range : float
        QA fails when peak / noise of the uncorrected image is below this.
    """

    model_config = ConfigDict(extra="forbid")

    wsclean_path: str = "wsclean"
    field_of_view_deg: float = Field(3.5, gt=0, le=180)
    image_size_px: int | None = Field(None, ge=16, le=65_536)
    cell_arcsec: float | None = Field(None, gt=0, le=3600)
    cell_fraction: float = Field(0.125, gt=0, le=1)
    weighting: Literal["briggs", "natural", "uniform"] = "briggs"
    robust: float = Field(0.0, ge=-2, le=2)
    niter: int = Field(10000, ge=0, le=10**9)
    mgain: float = Field(0.8, gt=0, le=1)
    auto_threshold: float = Field(3.0, gt=0, le=1000)
    auto_mask: float = Field(5.0, ge=0, le=1000)
    threads: int = Field(0, ge=0, le=4096)
    extra_args: list[str] = Field(default_factory=list)
    keep_intermediate: bool = False
    timeout_seconds: float = Field(1800.0, gt=0, le=7 * 86400)
    dish_diameter_m: float = Field(4.65, gt=0, le=1000)
    beam_fwhm_factor: float = Field(1.2, gt=0, le=10)
    pb_cutoff: float = Field(0.1, ge=0, lt=1)
    beam_n_freqs: int = Field(8, ge=1, le=4096)
    sefd_jy: float = Field(5800.0, gt=0, le=1e9)
    qa_max_noise_ratio: float = Field(6.0, gt=0, le=1e6)
    qa_max_beam_axis_ratio: float = Field(4.0, ge=1, le=1e6)
    qa_max_beam_arcsec: float = Field(300.0, gt=0, le=1e6)
    qa_min_finite_fraction: float = Field(0.99, ge=0, le=1)
    qa_min_dynamic_range: float = Field(5.0, ge=0, le=1e9)
