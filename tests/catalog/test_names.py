"""The source-name and position parser (catalog/names.py): every form users type."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from dsa110_contimg.catalog import names
from dsa110_contimg.catalog.ids import position_source_id
from dsa110_contimg.catalog.names import (
    QueryParseError,
    parse_angle,
    parse_position,
    parse_sky_query,
    parse_source_name,
)
from dsa110_contimg.catalog.spatial import angular_separation_deg
from dsa110_contimg.errors import CatalogError


def test_doctests():
    res = doctest.testmod(names)
    assert res.attempted >= 10 and res.failed == 0


@pytest.mark.parametrize(
    "text, catalog",
    [
        ("NVSS J131517+463004", "nvss"),
        ("nvss j131517+463004", "nvss"),
        ("J131517+463004", None),
        ("131517+463004", None),
        ("  J131517 + 463004 ", None),
        ("FIRST J131517+463004", "first"),
    ],
)
def test_name_forms_agree(text, catalog):
    n = parse_source_name(text)
    assert n.source_id == "J131517+463004"
    assert n.catalog == catalog


def test_name_cell_contains_every_position_that_spells_it():
    """Injection: random positions -> truncated J-names -> parsed cell covers the position."""
    rng = np.random.default_rng(3)
    ra = rng.uniform(0, 360, 2000)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 2000)))
    for decimals in ((0, 0), (2, 1)):
        for a, d in zip(ra, dec, strict=True):
            sid = position_source_id(a, d, ra_decimals=decimals[0], dec_decimals=decimals[1])
            n = parse_source_name(sid)
            assert n.source_id == sid
            sep = angular_separation_deg(np.array([a]), np.array([d]), n.ra_deg, n.dec_deg)[0]
            assert sep <= n.radius_deg, (sid, sep * 3600, n.radius_deg * 3600)
            # the cell is small: under 10" for NVSS-precision names (1 s of RA is 15")
            assert n.radius_deg * 3600 < (11 if decimals == (0, 0) else 0.2)


def test_negative_declination_and_unicode_minus():
    assert parse_source_name("J000000-003000").dec_deg < 0
    assert parse_source_name("J000000\u2212003000").source_id == "J000000-003000"
    assert parse_position("0 \u22120.5") == (0.0, -0.5)
    ra, dec = parse_position("00:00:00 -00:30:00")
    assert dec == pytest.approx(-0.5)


@pytest.mark.parametrize(
    "bad", ["", "hello", "J2515+463004", "J136017+463004", "J131517+953004", "J13151+4630"]
)
def test_bad_names_are_typed_errors(bad):
    with pytest.raises(QueryParseError) as info:
        parse_source_name(bad)
    assert isinstance(info.value, CatalogError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "text, ra, dec",
    [
        ("197.32 46.5", 197.32, 46.5),
        ("197.32,46.5", 197.32, 46.5),
        ("197.32d -46.5d", 197.32, -46.5),
        ("-10 20", 350.0, 20.0),
        ("13:15:17.2 +46:30:04", 198.821667, 46.501111),
        ("13h15m17.2s +46d30m04s", 198.821667, 46.501111),
        ("13 15 17.2 +46 30 04", 198.821667, 46.501111),
        ("13h15m17.2s, -46d30m04s", 198.821667, -46.501111),
    ],
)
def test_positions(text, ra, dec):
    a, d = parse_position(text)
    assert a == pytest.approx(ra, abs=1e-6) and d == pytest.approx(dec, abs=1e-6)


@pytest.mark.parametrize("bad", ["197", "197 95", "25:00:00 +10:00:00", "13:61:00 10:00:00", "a b"])
def test_bad_positions(bad):
    with pytest.raises(QueryParseError):
        parse_position(bad)


def test_angles():
    assert parse_angle("2'") == pytest.approx(2 / 60)
    assert parse_angle("2 arcmin") == pytest.approx(2 / 60)
    assert parse_angle('30"') == pytest.approx(30 / 3600)
    assert parse_angle("0.1deg") == pytest.approx(0.1)
    assert parse_angle(3, default_unit="arcmin") == pytest.approx(0.05)
    for bad in ("-1", "1 parsec", "inf", ""):
        with pytest.raises(QueryParseError):
            parse_angle(bad)


def test_sky_query_tells_names_from_positions():
    q = parse_sky_query("NVSS J131517+463004", radius="1'")
    assert q.kind == "name" and q.name.catalog == "nvss"
    assert q.radius_deg == pytest.approx(1 / 60)  # larger than the name's cell
    q = parse_sky_query("198.82 46.5")
    assert q.kind == "position" and q.radius_deg == names.DEFAULT_POSITION_RADIUS_DEG
    with pytest.raises(QueryParseError, match="neither a source name"):
        parse_sky_query("M31")
    with pytest.raises(QueryParseError, match="empty"):
        parse_sky_query("  ")
