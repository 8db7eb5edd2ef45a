"""Cone searches against brute force, on SQLite and PostgreSQL; atomic re-ingest."""

import numpy as np
import pytest
from astropy.table import Table

from dsa110_contimg.catalog.spatial import angular_separation_deg, cone_ranges, healpix_ring_index
from dsa110_contimg.catalog.store import (
    catalog_info,
    get_sources,
    ingest_table,
    list_catalogs,
    query_nvss_sources,
    query_sources,
    read_all_sources,
)
from dsa110_contimg.errors import CatalogError
from dsa110_contimg.simulation import make_catalog


def _random_sky(n, seed, dec_min=-90.0):
    rng = np.random.default_rng(seed)
    z = rng.uniform(np.sin(np.radians(dec_min)), 1.0, n)
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(z))
    flux = rng.uniform(1.0, 100.0, n)
    ids = [f"S{i:06d}" for i in range(n)]
    return Table({"source_id": ids, "ra_deg": ra, "dec_deg": dec, "flux_mjy": flux})


CONES = [
    (10.0, 20.0, 5.0),
    (0.2, 5.0, 3.0),  # RA wrap
    (359.9, -30.0, 2.0),  # RA wrap
    (123.0, 89.0, 4.0),  # contains the north pole
    (300.0, -88.5, 3.0),  # contains the south pole
    (45.0, 90.0, 1.0),  # centred on the pole
    (200.0, 54.6, 1.75),
    (0.0, 0.0, 0.0),
    (180.0, 41.81, 2.5),  # polar-cap boundary of HEALPix
]


def test_cone_matches_brute_force(db_settings):
    cat = _random_sky(60_000, seed=3)
    ingest_table("rand", cat, settings=db_settings)
    for ra0, dec0, r in CONES:
        got = query_sources("rand", ra0, dec0, r, settings=db_settings)
        sep = angular_separation_deg(cat["ra_deg"], cat["dec_deg"], ra0, dec0)
        expect = set(np.asarray(cat["source_id"])[sep <= r])
        assert set(got["source_id"]) == expect, (ra0, dec0, r)
        assert np.all(np.diff(got["flux_mjy"]) <= 0)
        assert np.all(got["sep_deg"] <= r)
    # min flux and max_sources after the exact cut
    got = query_sources(
        "rand", 10.0, 20.0, 5.0, min_flux_mjy=50.0, max_sources=7, settings=db_settings
    )
    sep = angular_separation_deg(cat["ra_deg"], cat["dec_deg"], 10.0, 20.0)
    sel = (sep <= 5.0) & (np.asarray(cat["flux_mjy"]) >= 50.0)
    top = np.sort(np.asarray(cat["flux_mjy"])[sel])[::-1][:7]
    assert np.allclose(got["flux_mjy"], top)
    assert list(got.colnames[:5]) == ["source_id", "catalog", "ra_deg", "dec_deg", "flux_mjy"]
    assert set(got["catalog"]) == {"rand"}


def test_ranges_cover_every_pixel_of_random_cones():
    rng = np.random.default_rng(5)
    for _ in range(200):
        nside = int(rng.choice([1, 4, 64, 512]))
        ra0, dec0 = rng.uniform(0, 360), float(np.degrees(np.arcsin(rng.uniform(-1, 1))))
        r = float(rng.choice([0.01, 0.5, 1.75, 10.0, 60.0]))
        pts = make_catalog(
            n_sources=3000, center=(ra0, dec0), radius_deg=r, seed=int(rng.integers(1e9))
        )
        pix = healpix_ring_index(pts["ra_deg"], pts["dec_deg"], nside=nside)
        ranges = np.array(cone_ranges(ra0, dec0, r, nside=nside))
        j = np.searchsorted(ranges[:, 0], pix, side="right") - 1
        assert np.all((j >= 0) & (pix <= ranges[np.maximum(j, 0), 1])), (nside, ra0, dec0, r)


def test_reingest_replaces_atomically(db_settings):
    a = make_catalog(center=(150.0, 30.0), radius_deg=2.0, seed=1)
    ingest_table("nvss", a, settings=db_settings, format="table", file_name="a.fits")
    before = query_nvss_sources(150.0, 30.0, 2.0, settings=db_settings)
    assert len(before) == len(a)
    bad = make_catalog(center=(150.0, 30.0), radius_deg=2.0, seed=2)
    bad["source_id"][5] = bad["source_id"][4]  # duplicate id: refused, nothing written
    with pytest.raises(CatalogError, match="duplicate source_id"):
        ingest_table("nvss", bad, settings=db_settings)
    again = query_nvss_sources(150.0, 30.0, 2.0, settings=db_settings)
    assert sorted(again["source_id"]) == sorted(before["source_id"])
    assert catalog_info("nvss", settings=db_settings).file_name == "a.fits"
    b = make_catalog(center=(150.0, 30.0), radius_deg=1.0, seed=3)
    ingest_table("nvss", b, settings=db_settings, file_name="b.fits")
    after = query_nvss_sources(150.0, 30.0, 2.0, settings=db_settings)
    assert sorted(after["source_id"]) == sorted(b["source_id"])
    info = catalog_info("nvss", settings=db_settings)
    assert info.row_count == len(b) and info.file_name == "b.fits"
    assert [c.name for c in list_catalogs(settings=db_settings)] == ["nvss"]
    assert len(read_all_sources("nvss", settings=db_settings)) == len(b)
    some = get_sources("nvss", list(b["source_id"][:3]) + ["nope"], settings=db_settings)
    assert sorted(some["source_id"]) == sorted(b["source_id"][:3])


def test_unknown_catalog_and_bad_input(db_settings):
    with pytest.raises(CatalogError, match="not ingested"):
        query_sources("nope", 1.0, 2.0, 1.0, settings=db_settings)
    with pytest.raises(CatalogError, match="invalid catalog name"):
        ingest_table("Bad Name", _random_sky(3, 1), settings=db_settings)
    t = _random_sky(3, 1)
    t["dec_deg"][1] = 91.0
    with pytest.raises(CatalogError, match="row 1"):
        ingest_table("x", t, settings=db_settings)


def test_empty_catalog_and_empty_cone(db_settings):
    ingest_table("tiny", _random_sky(5, 2, dec_min=80.0), settings=db_settings)
    got = query_sources("tiny", 0.0, -60.0, 1.0, settings=db_settings)
    assert len(got) == 0 and "flux_mjy" in got.colnames
