"""NVSS signal-to-noise per file format: the reference selection must not see the 3% scale term.

VizieR VIII/65 and HEASARC ``e_S1.4`` / ``flux_20_cm_error`` include NVSS's 3% flux-density
scale uncertainty, so flux / error can never exceed ~33 and a SNR >= 50 cut selects nothing.
CATALOG41 errors are noise only; the lsmtool sky model has no errors at all.
"""

import numpy as np
import pytest

from dsa110_contimg.catalog import build_master_catalog, ingest_catalog, read_all_sources
from dsa110_contimg.catalog.snr import NVSS_RMS_MJY, NVSS_SCALE_FRACTION, nvss_snr
from tests.catalog.tdat import rows_from_vizier, write_heasarc_nvss
from tests.conftest import make_settings

# SNR alone: no second catalog here, so do not ask for a spectral index
_SNR_ONLY = {"reference_allow_unknown_spectral_index": True, "reference_fallback": False}


def _master(tmp_path, path, **catalog):
    s = make_settings(tmp_path / "state", catalog={**_SNR_ONLY, **catalog})
    ingest_catalog("nvss", path, settings=s)
    info = build_master_catalog(settings=s)
    return s, info, read_all_sources("master", settings=s)


def test_vizier_snr_drops_the_scale_term(tmp_path, data_dir):
    path = data_dir / "catalogs" / "nvss_vizier_VIII65_flint_extract.fits"
    _, info, m = _master(tmp_path, path)
    s = np.asarray(m["flux_mjy"])
    e = np.asarray(m["flux_err_mjy"])  # stored as published: scale term included
    assert np.nanmax(s / e) < 1 / NVSS_SCALE_FRACTION + 0.5  # the published errors cap SNR
    fit = np.sqrt(np.maximum(e**2 - (NVSS_SCALE_FRACTION * s) ** 2, NVSS_RMS_MJY**2))
    assert np.allclose(np.asarray(m["snr"]), s / fit)
    assert np.sum(np.asarray(m["snr"]) >= 50) > 50
    ref = np.asarray(m["is_reference"])
    assert info.skipped["references"] == int(ref.sum()) > 20
    assert np.all(np.asarray(m["snr"])[ref] >= 50)


def test_heasarc_snr_drops_the_scale_term(tmp_path, data_dir):
    from dsa110_contimg.catalog import read_catalog

    viz = read_catalog(data_dir / "catalogs" / "nvss_vizier_VIII65_flint_extract.fits").table
    path = write_heasarc_nvss(tmp_path / "heasarc_nvss.tdat", rows_from_vizier(viz))
    _, _, m = _master(tmp_path, path)
    vizier = data_dir / "catalogs" / "nvss_vizier_VIII65_flint_extract.fits"
    _, _, mv = _master(tmp_path / "v", vizier)
    # same published numbers, same SNR (HEASARC rounds errors like VizieR)
    a = dict(zip(m["source_id"], m["snr"], strict=True))
    b = dict(zip(mv["source_id"], mv["snr"], strict=True))
    common = sorted(set(a) & set(b))
    assert len(common) > 600
    assert np.allclose([a[k] for k in common], [b[k] for k in common], rtol=0.05)
    assert np.sum(np.asarray(m["is_reference"])) > 20


def test_catalog41_snr_is_noise_only(tmp_path, data_dir):
    path = data_dir / "catalogs" / "nvss_CATALOG41_aipsVL_cirada_T22t16.fits"
    _, _, m = _master(tmp_path, path)
    s, e = np.asarray(m["flux_mjy"]), np.asarray(m["flux_err_mjy"])
    assert np.allclose(np.asarray(m["snr"]), s / e)
    assert np.nanmax(np.asarray(m["snr"])) > 1000  # no scale term in the raw fits
    assert np.sum(np.asarray(m["is_reference"])) > 20


def test_lsmtool_without_errors_uses_nvss_rms(tmp_path, data_dir):
    path = data_dir / "catalogs" / "nvss_vizier_VIII65_lsmtool_extract.sky"
    _, _, m = _master(tmp_path, path)
    assert "flux_err_mjy" not in m.colnames  # the file has no errors: the column is empty
    assert np.allclose(np.asarray(m["snr"]), np.asarray(m["flux_mjy"]) / NVSS_RMS_MJY)
    assert np.sum(np.asarray(m["is_reference"])) >= 5


@pytest.mark.parametrize(
    ("fmt", "flux", "err", "want"),
    [
        ("nvss-vizier", 1000.0, 30.0, 1000.0 / NVSS_RMS_MJY),  # pure scale term: floor at rms
        ("nvss-vizier", 100.0, np.hypot(3.0, 2.0), 50.0),  # 2 mJy fit error left
        ("nvss-heasarc", 100.0, np.hypot(3.0, 2.0), 50.0),
        ("nvss-catalog41", 100.0, 2.0, 50.0),
        ("lsmtool-sky", 9.0, np.nan, 20.0),
        ("table", 100.0, 4.0, 25.0),  # a table of unknown origin: its errors as given
    ],
)
def test_snr_rule_per_format(fmt, flux, err, want):
    snr, rule = nvss_snr(np.array([flux]), np.array([err]), fmt)
    assert snr[0] == pytest.approx(want)
    assert isinstance(rule, str) and rule
