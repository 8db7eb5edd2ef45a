"""The covering circle of an image's measured box: SkyCoord's separations, to the last bit."""

from __future__ import annotations

import numpy as np
from astropy.coordinates import SkyCoord

from dsa110_contimg.variability.references import covering_circle


def _skycoord_circle(ra_min, ra_max, dec_min, dec_max, centre=None):
    """The SkyCoord computation covering_circle made before (the reference)."""
    dec_c = (dec_min + dec_max) / 2
    ra_c = (ra_min + ra_max) / 2 if ra_max - ra_min < 180 else 0.0
    if centre is not None and centre[0] is not None:
        ra_c, dec_c = centre
    corners = SkyCoord(
        [ra_min, ra_max, ra_min, ra_max], [dec_min, dec_min, dec_max, dec_max], unit="deg"
    )
    radius = float(np.max(SkyCoord(ra_c, dec_c, unit="deg").separation(corners).deg)) + 0.01
    return ra_c, dec_c, min(radius, 90.0)


def test_covering_circle_is_skycoords_to_the_last_bit():
    rng = np.random.default_rng(17)
    cases = [
        (0.5, 359.5, -5.0, 5.0, None),  # straddles RA 0
        (10.0, 12.0, 88.0, 89.9, (11.0, 89.0)),
        (100.0, 103.5, 54.0, 57.5, (None, None)),  # unregistered centre
    ]
    for i in range(500):
        a, b = np.sort(rng.uniform(0, 360, 2))
        c, d = np.sort(rng.uniform(-89.9, 89.9, 2))
        cen = None if i % 3 == 0 else (float(rng.uniform(0, 360)), float(rng.uniform(-89, 89)))
        cases.append((float(a), float(b), float(c), float(d), cen))
    for ra0, ra1, de0, de1, cen in cases:
        assert covering_circle(ra0, ra1, de0, de1, centre=cen) == _skycoord_circle(
            ra0, ra1, de0, de1, centre=cen
        )
