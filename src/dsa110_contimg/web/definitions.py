"""One-line definitions of the statistics, shown on hover wherever the numbers appear.

The full definitions, with formulas, are in ``docs/variability.md`` (served at
``/docs/variability``).
"""

DEFINITIONS = {
    "n_points": "points in the light curve of this series (clean measurements only)",
    "mean_flux": "inverse-variance weighted mean flux density of the series, mJy",
    "median_flux": "median flux density of the series' points (unweighted; a dip or a flare "
    "moves it less than the mean), mJy",
    "baseline": "robust baseline: median of the first K epochs (normalize.baseline_epochs), mJy",
    "eta": "η: reduced χ² of the light curve about its weighted mean, "
    "Σ w_i (S_i − S̄_w)² / (N − 1), w_i = 1/σ_i²; ~1 for a steady source",
    "v": "V: coefficient of variation, std(S) / mean(S) (fractional modulation)",
    "vs": "Vs: largest two-epoch t-statistic, |S_a − S_b| / sqrt(σ_a² + σ_b²)",
    "m": "m: largest two-epoch modulation index, 2 (S_a − S_b) / (S_a + S_b)",
    "dip": "dip significance: (baseline − S_i) / sqrt(σ_i² + σ_baseline²), "
    "largest over the light curve, in σ",
    "depth": "dip depth: 1 − S / baseline at the deepest point (fraction)",
    "cusum": "one-sided CUSUM of the downward z-scores (minus k per point): "
    "sustained dips accumulate, single outliers do not",
    "ese": "Extreme Scattering Event candidate status (the best-scoring series)",
    "score": "ESE score: the peak CUSUM of the dip significances (max_cusum), in σ",
    "reference": "an active reference source of the flux-scale normalization",
}
