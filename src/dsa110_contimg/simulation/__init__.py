"""Seeded synthetic-data factories shared by tests, demo and benchmarks."""

from .images import make_beam_correlated_noise, make_fits_image, render_point_sources

__all__ = [
    "make_beam_correlated_noise",
    "make_fits_image",
    "render_point_sources",
]
