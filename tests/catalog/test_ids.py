import numpy as np
import pytest

from dsa110_contimg.catalog import position_source_id, position_source_ids


def test_known_names():
    assert position_source_id(187.70593, 12.39112) == "J123049.42+122328.0"
    assert position_source_id(0.0, -0.5, ra_decimals=0, dec_decimals=0) == "J000000-003000"


def test_truncation_never_rolls_over():
    # just below 24h and +90: truncation keeps the name inside its cell
    assert position_source_id(359.9999999, 89.99999999) == "J235959.99+895959.9"
    assert position_source_id(360.0, 0.0) == "J000000.00+000000.0"


def test_negative_small_declination_keeps_sign():
    assert position_source_id(10.0, -0.0001).startswith("J004000.00-")


def test_vectorized_matches_scalar():
    rng = np.random.default_rng(1)
    ra = rng.uniform(0, 360, 200)
    dec = rng.uniform(-90, 90, 200)
    expected = [position_source_id(a, d) for a, d in zip(ra, dec, strict=True)]
    assert position_source_ids(ra, dec) == expected


@pytest.mark.parametrize("ra,dec", [(np.nan, 0.0), (0.0, 91.0)])
def test_bad_positions_raise(ra, dec):
    with pytest.raises(ValueError):
        position_source_id(ra, dec)
