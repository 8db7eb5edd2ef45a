"""The seeded synthetic catalog factory (simulation.make_catalog)."""

import math

import numpy as np
import pytest

from dsa110_contimg.catalog.spatial import angular_separation_deg
from dsa110_contimg.simulation import make_catalog


def test_cone_catalog_is_seeded_and_nvss_like():
    a = make_catalog(center=(120.0, 54.6), radius_deg=2.0, seed=7)
    b = make_catalog(center=(120.0, 54.6), radius_deg=2.0, seed=7)
    c = make_catalog(center=(120.0, 54.6), radius_deg=2.0, seed=8)
    assert list(a["source_id"]) == list(b["source_id"]) and list(a["source_id"]) != list(
        c["source_id"]
    )
    area = 2 * math.pi * (1 - math.cos(math.radians(2.0))) * (180 / math.pi) ** 2
    assert len(a) == pytest.approx(52.3 * area, rel=0.01)  # NVSS density
    assert np.all(angular_separation_deg(a["ra_deg"], a["dec_deg"], 120.0, 54.6) <= 2.0 + 1e-9)
    assert a["flux_mjy"].min() >= 2.5 and len(set(a["source_id"])) == len(a)
    # integral counts N(>S) ~ S^-0.9: the fraction above 25 mJy is 10^-0.9
    frac = np.mean(np.asarray(a["flux_mjy"]) > 25.0)
    assert frac == pytest.approx(10**-0.9, abs=0.03)
    assert np.all(a["flux_err_mjy"] > 0)


def test_all_sky_catalog_covers_the_nvss_sky():
    t = make_catalog(n_sources=20_000, all_sky=True, seed=1)
    dec = np.asarray(t["dec_deg"])
    assert dec.min() >= -40.0 and dec.max() > 85.0
    # uniform on the sphere: equal areas get equal counts
    north = np.mean(dec > math.degrees(math.asin((1 + math.sin(math.radians(-40))) / 2)))
    assert north == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError):
        make_catalog(seed=1)
