"""Settings of normalization, variability and ESE detection (TOML table ``[normalize]``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class NormalizeSettings(BaseModel):
    """Normalization, light-curve and ESE settings.

    Parameters
    ----------
    baseline_epochs : int
        Good epochs (clean measurements on images that did not fail QA) over which a
        reference's baseline flux (their median) is established. Also the number of epochs
        over which a source's own robust baseline (used by the dip statistic) is set.
    min_references : int
        Fewest references (after outlier clipping) for an image to be normalized; fewer and
        the image is recorded as ``not_normalizable`` with the reason.
    clip_sigma : float
        Iterative clipping threshold of the per-image ratio average, in units of the robust
        (1.4826 x MAD) scatter of the ratios.
    clip_iterations : int
        Largest number of clipping iterations.
    reference_drop_p : float
        A reference whose normalized ratios have a chi-square about their mean with a
        p-value below this (and a reduced chi-square above ``reference_drop_chi2``) is
        variable: it is dropped and the drop recorded.
    reference_drop_chi2 : float
        Reduced chi-square a reference must also exceed to be dropped (guards against
        dropping a stable reference for a tiny systematic in a long history).
    reference_min_epochs : int
        Fewest normalized epochs before a reference can be tested for variability.
    epoch_window_hours : float
        Image measurements of one source within this time of the first one of an epoch
        (one transit) are combined by inverse variance into one epoch point.
    metric_series : list of str
        Series (``image``, ``epoch``, ``mosaic``) whose per-source metrics are kept up to date
        (default epochs and mosaics; single images of one transit sit at different places in
        the primary beam, so their metrics are opt-in). Light curves of every series are
        always available. The variability test of references uses the image series when
        enabled, else the first one listed.
    ese_series : str
        Series whose metrics drive ESE candidates (``epoch`` or ``mosaic``; never both).
    variability_flux : str
        ``normalized`` (default) or ``raw``: which flux the metrics use. Points lacking it
        (an image not normalized yet) are left out until it is filled in.
    cusum_k_sigma : float
        Reference value (allowance) of the one-sided CUSUM of dip significances: each point
        adds ``max(0, S + z - k)``; stable sources drift down, sustained dips accumulate.
    confusion_noise_jy : float
        Static confusion noise contained in the measurement errors (local rms) that does not
        change between epochs; subtracted in quadrature from the errors used for variability
        (never below half the measurement error). 0 (default) keeps the conservative errors.
    ese_preset : str
        Default ESE preset (``conservative``, ``moderate``, ``sensitive``).
    """

    model_config = ConfigDict(extra="forbid")

    baseline_epochs: int = Field(10, ge=1)
    min_references: int = Field(5, ge=1)
    clip_sigma: float = Field(3.0, gt=0)
    clip_iterations: int = Field(5, ge=0)
    reference_drop_p: float = Field(1e-4, gt=0, lt=1)
    reference_drop_chi2: float = Field(3.0, gt=0)
    reference_min_epochs: int = Field(10, ge=2)
    epoch_window_hours: float = Field(1.0, ge=0)
    metric_series: list[Literal["image", "epoch", "mosaic"]] = ["epoch", "mosaic"]
    ese_series: Literal["epoch", "mosaic"] = "epoch"
    variability_flux: Literal["normalized", "raw"] = "normalized"
    cusum_k_sigma: float = Field(1.0, ge=0)
    confusion_noise_jy: float = Field(0.0, ge=0)
    ese_preset: Literal["conservative", "moderate", "sensitive"] = "moderate"
