"""Normalization on real catalog files, end to end, one test per NVSS format.

For each NVSS file in ``tests/data/catalogs`` (VizieR VIII/65, CATALOG41, lsmtool sky): ingest
it, build the master catalog with default settings (NVSS alone, and for the CATALOG41 area
also with the FIRST and VLASS samples that overlap it), simulate 30 daily images of the
catalog's own sky with 5% per-epoch gain errors (``simulation.make_fits_image``, as the demo
does), queue them with ``trigger_photometry(normalize=True)`` and let one worker drain the
queue. Then:

- references were found and established (>= ``normalize.min_references``);
- every image is ``normalized``;
- the normalized light curves of stable sources (SNR >= 30, measured cleanly on every
  image) scatter like their errors within 0.3% in quadrature: their pooled reduced
  chi-square about their means, with errors sqrt(err^2 + (0.003 S)^2), is below the
  chi-square's 3-sigma upper tail. The raw fluxes (5% gains) fail the same test by far, and
  so would normalized fluxes with 1% more scatter than their errors.

One NVSS-only reference is made to vary by 20% (a scintillator the catalog cannot know
about): the normalization's chi-square test must drop it ("not variable in its own history").
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from astropy.time import Time, TimeDelta
from sqlalchemy import select

from dsa110_contimg.catalog import build_master_catalog, ingest_catalog, query_sources
from dsa110_contimg.database import get_engine, get_image, photometry_for_data
from dsa110_contimg.database.tables import image_normalization, reference_sources
from dsa110_contimg.jobs import Worker, trigger_photometry
from dsa110_contimg.simulation import make_fits_image
from tests.conftest import make_settings

N_EPOCHS = 30
NOISE_JY = 0.5e-3
MIN_SNR = 30  # sources where a 0.3% excess shows (at SNR 30 the error is 3.3%)
FLOOR = 0.003  # allowed excess fractional scatter of normalized fluxes, in quadrature
BEAM = (75.0, 55.0, 20.0)  # DSA-110-like synthesized beam, arcsec
PIXEL_ARCSEC = 20.0

# name: (NVSS file, second catalogs, image centre, image shape (ny, nx))
CASES = {
    "vizier": ("nvss_vizier_VIII65_flint_extract.fits", (), (97.0, -31.5), (160, 480)),
    "catalog41": ("nvss_CATALOG41_aipsVL_cirada_T22t16.fits", (), (227.5, 46.5), (360, 360)),
    "catalog41+first+vlass": (
        "nvss_CATALOG41_aipsVL_cirada_T22t16.fits",
        (
            ("first", "first_14dec17_cirada_T22t16.fits"),
            ("vlass", "vlass1ql_components_cirada_T22t16.csv"),
        ),
        (227.5, 46.5),
        (360, 360),
    ),
    "lsmtool": ("nvss_vizier_VIII65_lsmtool_extract.sky", (), (199.97, 45.0), (200, 200)),
}


def _reduced_chi2(flux: np.ndarray, err: np.ndarray, floor: float = 0.0) -> tuple[float, int]:
    """Pooled reduced chi-square of light curves (rows) about their means.

    Errors are ``sqrt(err**2 + (floor * mean)**2)``: ``floor`` is the allowed excess
    fractional scatter in quadrature.
    """
    mu = np.mean(flux, axis=1, keepdims=True)
    sig2 = err**2 + (floor * mu) ** 2
    dof = flux.size - flux.shape[0]
    return float(np.sum((flux - mu) ** 2 / sig2) / dof), dof


@pytest.mark.parametrize("case", list(CASES))
def test_normalization_on_real_catalog_file(case, tmp_path, data_dir):
    nvss_file, others, center, shape = CASES[case]
    cats = data_dir / "catalogs"
    settings = make_settings(tmp_path / "state")  # default settings throughout
    ingest_catalog("nvss", cats / nvss_file, settings=settings)
    for name, fname in others:
        ingest_catalog(name, cats / fname, settings=settings)
    info = build_master_catalog(settings=settings)
    assert info.skipped["references"] > 0
    if others:  # the VLASS tile gives spectral indices: some references are not NVSS-only
        assert info.skipped["references"] > info.skipped["references_nvss_only"]

    # the catalog's own sky on the image, and its references there
    half = 0.5 * max(shape) * PIXEL_ARCSEC / 3600 * 1.5
    sky = query_sources("nvss", center[0], center[1], half, settings=settings)
    master = query_sources("master", center[0], center[1], half, settings=settings)
    refs = {str(s) for s, r in zip(master["source_id"], master["is_reference"], strict=True) if r}
    ids = np.asarray(sky["source_id"], dtype=str)
    flux0 = np.asarray(sky["flux_mjy"], dtype=float) / 1e3
    nvss_only = {
        str(s)
        for s, f in zip(master["source_id"], master["flags"], strict=True)
        if "reference=nvss_only" in str(f)
    }
    # one NVSS-only reference scintillates by 20%: it must be dropped, not trusted
    sep = np.hypot(
        (np.asarray(sky["ra_deg"]) - center[0]) * np.cos(np.radians(center[1])),
        np.asarray(sky["dec_deg"]) - center[1],
    )
    candidates = [s for s in ids[np.argsort(sep)] if s in nvss_only and s in refs]
    variable = candidates[0] if candidates else None  # the one nearest the image centre
    rng = np.random.default_rng(14)
    gains = 1.0 + 0.05 * rng.standard_normal(N_EPOCHS)
    wobble = 1.0 + 0.2 * rng.standard_normal(N_EPOCHS)
    t0 = Time("2025-07-01T08:00:00", scale="utc")
    paths = []
    for e in range(N_EPOCHS):
        flux = flux0 * gains[e]
        if variable is not None:
            flux[ids == variable] *= wobble[e]
        start = t0 + TimeDelta(e, format="jd")
        path = tmp_path / "epochs" / f"epoch{e:03d}-image-pb.fits"
        make_fits_image(
            path, shape=shape, center=center, pixel_scale_arcsec=PIXEL_ARCSEC, beam=BEAM,
            sources=Table({"ra_deg": sky["ra_deg"], "dec_deg": sky["dec_deg"], "flux_jy": flux}),
            noise_jy=NOISE_JY, seed=1000 + e, date_obs=start.isot,
            date_end=(start + TimeDelta(309, format="sec")).isot,
        )  # fmt: skip
        trigger_photometry(path, catalog="nvss", normalize=True, settings=settings)
        paths.append(path)
    Worker(settings).run(once=True)

    data_ids = [get_image(p, settings=settings).data_id for p in paths]
    with get_engine(settings).connect() as conn:
        norm = {r.data_id: r for r in conn.execute(select(image_normalization))}
        ref_rows = conn.execute(select(reference_sources)).all()
    active = [r for r in ref_rows if r.status == "active"]
    assert len(active) >= settings.normalize.min_references, ref_rows
    not_norm = {d: norm[d].reason for d in data_ids if d in norm and norm[d].status != "normalized"}
    assert all(d in norm for d in data_ids) and not not_norm, not_norm
    if variable is not None:
        dropped = {r.source_id: r.drop_reason for r in ref_rows if r.status == "dropped"}
        mine = [r for r in ref_rows if r.source_id == variable]
        assert variable in dropped and "variable" in dropped[variable], mine

    # light curves of every stable source measured cleanly on every image
    rows = [photometry_for_data(d, settings=settings) for d in data_ids]
    stable = [s for s in ids if s != variable]
    cube = {k: np.full((len(stable), N_EPOCHS), np.nan) for k in ("f", "e", "nf", "ne")}
    index = {s: i for i, s in enumerate(stable)}
    for e, t in enumerate(rows):
        for r in t:
            i = index.get(str(r["source_id"]))
            if i is None or r["flags"]:
                continue
            for key, col in (("f", "flux_jy"), ("e", "flux_err_jy"), ("nf", "normalized_flux_jy"),
                             ("ne", "normalized_flux_err_jy")):  # fmt: skip
                cube[key][i, e] = r[col]
    full = np.all(np.isfinite(cube["nf"]) & np.isfinite(cube["f"]), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = np.nanmean(cube["f"], axis=1) / np.sqrt(np.nanmean(cube["e"] ** 2, axis=1))
    bright = full & (snr >= MIN_SNR)
    assert bright.sum() >= 5, snr
    raw, _ = _reduced_chi2(cube["f"][bright], cube["e"][bright], FLOOR)
    normalized, dof = _reduced_chi2(cube["nf"][bright], cube["ne"][bright], FLOOR)
    limit = 1.0 + 3.0 * np.sqrt(2.0 / dof)  # chi-square's 3-sigma upper tail
    assert raw > 5 * limit, raw  # the 5% gain errors are there before normalization
    assert normalized <= limit, (normalized, limit, raw)
    # the statistic resolves the bound: 1% more scatter than the errors would fail it
    jitter = 1.0 + 0.01 * np.random.default_rng(0).standard_normal(cube["nf"][bright].shape)
    worse, _ = _reduced_chi2(cube["nf"][bright] * jitter, cube["ne"][bright], FLOOR)
    assert worse > limit, (worse, limit)
