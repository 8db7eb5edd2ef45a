"""DSA-110 continuum imaging pipeline.

Every image and mosaic the telescope produces gets forced photometry, is normalized against
stable reference sources, stored, tracked and served; light curves reveal Extreme Scattering
Events. See ``docs/architecture.md`` for the data flow and the packages.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dsa110-contimg")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
