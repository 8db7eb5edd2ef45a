"""Seeded synthetic-data factories shared by tests, demo and benchmarks."""

from .images import make_beam_correlated_noise, make_fits_image, render_point_sources
from .lightcurves import SimulatedPhotometry, simulate_lightcurves, write_simulated_photometry

__all__ = [
    "SimulatedPhotometry",
    "simulate_lightcurves",
    "write_simulated_photometry",
    "make_beam_correlated_noise",
    "make_fits_image",
    "render_point_sources",
]

from .catalogs import make_catalog  # noqa: E402

__all__ += ["make_catalog"]

from .sky import simulate_groups  # noqa: E402
from .uvh5 import SimulatedGroup, group_pointing, make_uvh5_group  # noqa: E402

__all__ += ["SimulatedGroup", "group_pointing", "make_uvh5_group", "simulate_groups"]

from .mosaic_inputs import PbImageSet, make_pb_image_set  # noqa: E402

__all__ += ["PbImageSet", "make_pb_image_set"]
