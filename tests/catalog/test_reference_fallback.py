"""Only NVSS, no second catalog: the documented NVSS-only reference fallback."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from dsa110_contimg.catalog import build_master_catalog, ingest_catalog, read_all_sources
from dsa110_contimg.catalog.spatial import healpix_ring_index
from tests.conftest import make_settings

NVSS_FILES = [
    "nvss_vizier_VIII65_flint_extract.fits",
    "nvss_CATALOG41_aipsVL_cirada_T22t16.fits",
    "nvss_vizier_VIII65_lsmtool_extract.sky",
]


def _nvss_only(master):
    return np.char.find(np.asarray(master["flags"], dtype=str), "reference=nvss_only") >= 0


@pytest.mark.parametrize("fname", NVSS_FILES)
def test_nvss_alone_yields_references_by_default(tmp_path, data_dir, fname):
    s = make_settings(tmp_path / "state")  # default settings
    ingest_catalog("nvss", data_dir / "catalogs" / fname, settings=s)
    info = build_master_catalog(settings=s)
    m = read_all_sources("master", settings=s)
    ref = np.asarray(m["is_reference"])
    assert ref.sum() >= 5 and info.skipped["references_nvss_only"] == ref.sum()
    assert np.array_equal(ref, _nvss_only(m))
    # compact, unconfused, high SNR, isolated within 120"
    assert not np.any(np.asarray(m["resolved_flag"])[ref])
    assert not np.any(np.asarray(m["confusion_flag"])[ref])
    assert np.all(np.asarray(m["snr"])[ref] >= 50)
    c = SkyCoord(m["ra_deg"], m["dec_deg"], unit="deg")
    i, j, _, _ = c.search_around_sky(c, 120 * u.arcsec)
    crowded = np.zeros(len(m), dtype=bool)
    crowded[i[i != j]] = True
    assert not np.any(ref & crowded)
    # the same source list without the fallback: no reference at all (the old behaviour)
    off = make_settings(tmp_path / "state", catalog={"reference_fallback": False})
    build_master_catalog(settings=off)
    assert not np.any(read_all_sources("master", settings=off)["is_reference"])


def test_fallback_only_where_no_spectral_catalog_covers(tmp_path, data_dir):
    cats = data_dir / "catalogs"
    s = make_settings(tmp_path / "state")
    ingest_catalog("nvss", cats / "nvss_CATALOG41_aipsVL_cirada_T22t16.fits", settings=s)
    ingest_catalog("vlass", cats / "vlass1ql_components_cirada_T22t16.csv", settings=s)
    build_master_catalog(settings=s)
    m = read_all_sources("master", settings=s)
    vlass = read_all_sources("vlass", settings=s)
    # covered: the source's HEALPix cell (nside 128, ~0.46 deg) holds a VLASS source
    cell = healpix_ring_index(m["ra_deg"], m["dec_deg"], nside=128)
    covered = np.isin(cell, healpix_ring_index(vlass["ra_deg"], vlass["dec_deg"], nside=128))
    c = SkyCoord(m["ra_deg"], m["dec_deg"], unit="deg")
    v = SkyCoord(vlass["ra_deg"], vlass["dec_deg"], unit="deg")
    _, sep, _ = c.match_to_catalog_sky(v)
    assert np.all(sep.deg[covered] < 0.7) and covered.sum() > 100  # cells hold VLASS sources
    fb = _nvss_only(m)
    ref = np.asarray(m["is_reference"])
    assert fb.sum() > 5 and (ref & ~fb).sum() > 5  # both kinds in this box
    assert not np.any(fb & covered)  # inside the VLASS area a spectral index is required
    assert np.all(sep.deg[fb] > 0.05)  # and no fallback reference sits next to a VLASS source
    alpha = np.asarray(m["spectral_index"])
    assert np.all(alpha[ref & ~fb] <= -0.5)
    # covered sources without a counterpart are not references (unknown index not allowed)
    assert not np.any(ref & covered & np.isnan(alpha))
