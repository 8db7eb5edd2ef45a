"""Master catalog on the overlapping real NVSS (CATALOG41), FIRST and VLASS samples."""

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from dsa110_contimg.catalog import (
    build_master_catalog,
    ingest_catalog,
    query_sources,
    read_all_sources,
)
from dsa110_contimg.errors import CatalogError
from tests.conftest import make_settings


def _ingest_box(settings, cats):
    ingest_catalog("nvss", cats / "nvss_CATALOG41_aipsVL_cirada_T22t16.fits", settings=settings)
    ingest_catalog("first", cats / "first_14dec17_cirada_T22t16.fits", settings=settings)
    ingest_catalog("vlass", cats / "vlass1ql_components_cirada_T22t16.csv", settings=settings)


def _brute_counts(a, b, radius_arcsec):
    ca = SkyCoord(a["ra_deg"], a["dec_deg"], unit="deg")
    cb = SkyCoord(b["ra_deg"], b["dec_deg"], unit="deg")
    idx_a, idx_b, _, _ = cb.search_around_sky(ca, radius_arcsec * u.arcsec)
    counts = np.zeros(len(a), dtype=int)
    np.add.at(counts, idx_a, 1)
    return counts, idx_a, idx_b


def test_master_crossmatch_on_real_samples(db_settings, data_dir):
    cats = data_dir / "catalogs"
    _ingest_box(db_settings, cats)
    info = build_master_catalog(settings=db_settings)
    nvss = read_all_sources("nvss", settings=db_settings)
    master = read_all_sources("master", settings=db_settings)
    assert info.row_count == len(nvss) == 562
    assert sorted(master["source_id"]) == sorted(nvss["source_id"])  # NVSS-anchored ids
    order = np.argsort(np.asarray(master["source_id"]))
    master = master[order]
    nvss = nvss[np.argsort(np.asarray(nvss["source_id"]))]
    first = read_all_sources("first", settings=db_settings)
    vlass = read_all_sources("vlass", settings=db_settings)
    for name, other in (("n_first", first), ("n_vlass", vlass)):
        counts, _, _ = _brute_counts(nvss, other, 7.5)
        assert np.array_equal(np.asarray(master[name]), counts), name
    assert np.sum(master["n_first"] > 0) > 200 and np.sum(master["n_vlass"] > 0) > 200
    # spectral index of single VLASS matches: NVSS 1.4 GHz vs VLASS 3 GHz / 0.85
    one = np.flatnonzero(np.asarray(master["n_vlass"]) == 1)
    s_v = np.asarray(master["vlass_flux_mjy"])[one] / 0.85
    alpha = np.log(s_v / np.asarray(master["flux_mjy"])[one]) / math.log(3.0 / 1.4)
    assert np.allclose(np.asarray(master["spectral_index"])[one], alpha)
    compact = one[
        ~np.asarray(master["resolved_flag"])[one] & ~np.asarray(master["confusion_flag"])[one]
    ]
    median_alpha = float(np.median(np.asarray(master["spectral_index"])[compact]))
    assert -1.2 < median_alpha < -0.3, median_alpha  # the radio sky is steep (~ -0.7)
    # flags and the reference selection follow the documented rules
    ref = np.asarray(master["is_reference"])
    assert ref.sum() > 5
    assert not np.any(ref & np.asarray(master["resolved_flag"]))
    assert not np.any(ref & np.asarray(master["confusion_flag"]))
    alpha = np.asarray(master["spectral_index"])
    nvss_only = np.char.find(np.asarray(master["flags"], dtype=str), "reference=nvss_only") >= 0
    assert np.all(alpha[ref & ~nvss_only] <= -0.5)
    # the NVSS-only fallback: no spectral index, outside the VLASS tile (a sixth of the box)
    assert np.all(ref[nvss_only]) and np.all(np.isnan(alpha[nvss_only]))
    assert np.all(np.asarray(master["n_vlass"])[nvss_only] == 0)
    assert np.all(np.asarray(master["snr"])[ref] >= 50)
    assert np.all(np.asarray(master["confusion_flag"])[np.asarray(master["n_vlass"]) > 1])
    # "master" is queryable like any catalog
    cone = query_sources("master", 227.5, 46.5, 1.0, settings=db_settings)
    assert {"is_reference", "spectral_index", "resolved_flag", "confusion_flag"} <= set(
        cone.colnames
    )
    assert cone["is_reference"].dtype == bool and len(cone) > 50


def test_master_settings_change_the_selection(tmp_path, data_dir):
    cats = data_dir / "catalogs"
    s = make_settings(tmp_path / "a")
    _ingest_box(s, cats)
    build_master_catalog(settings=s)
    base = read_all_sources("master", settings=s)
    s2 = make_settings(
        tmp_path / "a",
        catalog={
            "vlass_flux_correction": 1.0,
            "reference_max_spectral_index": None,
            "reference_min_snr": 20,
        },
    )
    build_master_catalog(settings=s2)
    loose = read_all_sources("master", settings=s2)
    shift = np.nanmedian(np.asarray(loose["spectral_index"]) - np.asarray(base["spectral_index"]))
    assert shift == pytest.approx(math.log(0.85) / math.log(3.0 / 1.4), abs=1e-6)
    assert loose["is_reference"].sum() > base["is_reference"].sum()


def test_master_needs_nvss(settings):
    with pytest.raises(CatalogError, match="needs NVSS"):
        build_master_catalog(settings=settings)
