import math

import numpy as np
import pytest

from dsa110_contimg.mosaic.beams import (
    beam_covariance,
    common_beam,
    convolution_kernel,
    covariance_to_beam,
    deconvolve,
    gaussian_convolve,
)
from dsa110_contimg.photometry.image import Beam


def _encloses(big: Beam, small: Beam) -> bool:
    return np.linalg.eigvalsh(beam_covariance(big) - beam_covariance(small))[0] > -1e-9 * (
        big.bmaj_deg**2
    )


def test_identical_beams_give_that_beam():
    b = Beam(0.01, 0.008, 25.0)
    c = common_beam([b, b, b])
    assert c.bmaj_deg == pytest.approx(b.bmaj_deg, rel=1e-9)
    assert c.bmin_deg == pytest.approx(b.bmin_deg, rel=1e-9)
    assert c.bpa_deg == pytest.approx(b.bpa_deg, abs=1e-6)
    assert deconvolve(c, b) is None


def test_nested_beams_give_the_largest():
    small, big = Beam(0.01, 0.008, 10.0), Beam(0.02, 0.015, 10.0)
    c = common_beam([small, big])
    assert (c.bmaj_deg, c.bmin_deg) == pytest.approx((0.02, 0.015), rel=1e-9)


def test_crossed_beams_give_circle():
    c = common_beam([Beam(2.0, 1.0, 0.0), Beam(2.0, 1.0, 90.0)])
    assert (c.bmaj_deg, c.bmin_deg) == pytest.approx((2.0, 2.0), rel=1e-9)


def test_three_rotated_copies_give_the_circle_of_the_major_axis():
    """Ellipses at PA 0, 60, 120: by symmetry the smallest enclosing one is the circle of
    diameter bmaj (the pairwise construction alone gives a larger ellipse)."""
    beams = [Beam(3.0, 1.0, pa) for pa in (0.0, 60.0, 120.0)]
    c = common_beam(beams)
    assert all(_encloses(c, b) for b in beams)
    assert c.bmaj_deg == pytest.approx(3.0, rel=1e-4)
    assert c.bmin_deg == pytest.approx(3.0, rel=1e-4)


def test_random_beams_enclosed_and_no_smaller_enclosing_ellipse_found():
    rng = np.random.default_rng(3)
    for _ in range(5):
        beams = [Beam(*sorted(rng.uniform(1, 3, 2))[::-1], rng.uniform(-90, 90)) for _ in range(4)]
        c = common_beam(beams)
        assert all(_encloses(c, b) for b in beams)
        area = c.bmaj_deg * c.bmin_deg
        # random candidates around the optimum: none both enclosing and smaller
        for _ in range(300):
            trial = Beam(c.bmaj_deg * rng.uniform(0.9, 1.05), c.bmin_deg * rng.uniform(0.9, 1.05),
                         c.bpa_deg + rng.uniform(-10, 10))
            if all(_encloses(trial, b) for b in beams):
                assert trial.bmaj_deg * trial.bmin_deg >= area * (1 - 1e-6)


def test_covariance_round_trip():
    b = Beam(0.02, 0.01, -45.0)
    r = covariance_to_beam(beam_covariance(b))
    assert (r.bmaj_deg, r.bmin_deg, r.bpa_deg) == pytest.approx((0.02, 0.01, -45.0))


def test_deconvolve_refuses_a_beam_not_enclosed():
    with pytest.raises(ValueError, match="not enclosed"):
        deconvolve(Beam(1.0, 1.0, 0.0), Beam(2.0, 1.0, 0.0))


def test_convolution_gives_the_target_beam_and_keeps_the_peak():
    """A point source restored with the input beam, convolved with the kernel and rescaled,
    equals the same source restored with the target beam (degenerate kernel included)."""
    scale = 1.0  # deg per pixel, north up, east left
    jac = np.array([[-scale, 0.0], [0.0, scale]])
    yy, xx = np.mgrid[0:129, 0:129].astype(float) - 64.0

    def render(beam: Beam) -> np.ndarray:
        cov = np.linalg.inv(jac) @ beam_covariance(beam) @ np.linalg.inv(jac).T
        icov = np.linalg.inv(cov)
        q = icov[0, 0] * xx**2 + 2 * icov[0, 1] * xx * yy + icov[1, 1] * yy**2
        return np.exp(-0.5 * q).astype(np.float32)

    for inp, target in [
        (Beam(6.0, 4.0, 30.0), Beam(8.0, 6.0, 0.0)),
        (Beam(6.0, 4.0, 30.0), common_beam([Beam(6.0, 4.0, 30.0), Beam(7.0, 4.0, 0.0)])),
    ]:
        cov_pix, rescale = convolution_kernel(target, inp, jac)
        out = gaussian_convolve(render(inp), cov_pix) * rescale
        expected = render(target)
        assert float(np.abs(out - expected).max()) < 1e-3
        assert rescale == pytest.approx(target.bmaj_deg * target.bmin_deg / 24.0)
        assert math.isfinite(float(out.sum()))
