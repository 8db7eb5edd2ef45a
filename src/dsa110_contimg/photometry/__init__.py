"""Forced photometry: read images, measure fluxes at fixed positions, inject sources."""

from .beam import local_jacobian, pixel_covariance, sky_covariance
from .image import Beam, FitsImage, observation_times, read_image

__all__ = [
    "Beam",
    "FitsImage",
    "local_jacobian",
    "observation_times",
    "pixel_covariance",
    "read_image",
    "sky_covariance",
]
