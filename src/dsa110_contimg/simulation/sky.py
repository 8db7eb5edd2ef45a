"""Skies for the DSA-110 simulator: from the catalog store or a seeded synthetic catalog.

:func:`simulate_groups` writes consecutive drift-scan groups (the stretch of a night) with the
sky taken from a stored catalog (``catalog="nvss"`` ...) or from
:func:`~dsa110_contimg.simulation.make_catalog`, in which case the synthetic catalog is also
ingested into the store as catalog ``"synthetic"`` so that photometry can measure it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..config import Settings, resolve_settings
from .uvh5 import INTEGRATION_S, SimulatedGroup, group_pointing, make_uvh5_group

__all__ = ["SYNTHETIC_CATALOG", "catalog_sky", "simulate_groups"]

log = logging.getLogger(__name__)

#: Name under which :func:`simulate_groups` stores its synthetic catalog.
SYNTHETIC_CATALOG = "synthetic"


def catalog_sky(
    catalog: str,
    ra_deg: float,
    dec_deg: float,
    radius_deg: float,
    *,
    min_flux_mjy: float | None = None,
    settings: Settings | None = None,
):
    """Return the sources of a stored catalog in a cone as a simulator sky (with ``flux_jy``)."""
    from ..catalog import query_sources

    t = query_sources(
        catalog,
        ra_deg,
        dec_deg,
        radius_deg,
        min_flux_mjy=min_flux_mjy,
        settings=resolve_settings(settings),
    )
    t["flux_jy"] = np.asarray(t["flux_mjy"], dtype=float) / 1000.0
    return t


def simulate_groups(
    out_dir: str | Path,
    *,
    n_groups: int = 1,
    start_time: str = "2025-01-15T12:00:00",
    dec_deg: float = 37.0,
    catalog: str | None = None,
    sky_radius_deg: float = 2.5,
    min_flux_mjy: float = 5.0,
    max_flux_mjy: float = 1000.0,
    n_channels_per_subband: int = 4,
    n_integrations: int = 24,
    seed: int = 0,
    settings: Settings | None = None,
    **kwargs,
) -> list[SimulatedGroup]:
    """Simulate ``n_groups`` consecutive groups of one declination strip.

    Parameters
    ----------
    out_dir : str or Path
        Directory for the UVH5 files.
    n_groups : int
        Consecutive groups (each ``n_integrations`` x 12.885 s).
    start_time : str
        UTC start of the first group.
    dec_deg : float
        Pointing declination.
    catalog : str, optional
        Stored catalog giving the sky; None or ``"synthetic"``: a seeded synthetic catalog
        covering the stretch, ingested as catalog ``"synthetic"``.
    sky_radius_deg : float
        Sources within this radius of each group's pointing are simulated.
    min_flux_mjy, max_flux_mjy : float
        Flux range of the synthetic catalog (mJy at 1.4 GHz); the default cap of 1 Jy keeps a
        5-minute snapshot's dynamic range (~10^4 after CLEAN) above what the sky demands, so
        images are thermal-noise limited. ``min_flux_mjy`` also limits a stored catalog.
    n_channels_per_subband, n_integrations, seed
        Passed to :func:`make_uvh5_group`; group ``i`` uses ``seed + i``.
    settings : Settings, optional
        Settings naming the catalog store.
    **kwargs
        Further :func:`make_uvh5_group` options.

    Returns
    -------
    list of SimulatedGroup
    """
    from astropy.time import Time, TimeDelta

    settings = resolve_settings(settings)
    t0 = Time(start_time, scale="utc")
    step_s = n_integrations * INTEGRATION_S
    starts = [t0 + TimeDelta(i * step_s, format="sec") for i in range(n_groups)]
    centres = [group_pointing(t, dec_deg, n_integrations=n_integrations) for t in starts]
    synthetic = catalog is None or catalog == SYNTHETIC_CATALOG
    if synthetic:
        from ..catalog import ingest_table
        from .catalogs import make_catalog

        ra_mid = float(
            np.degrees(np.angle(np.mean(np.exp(1j * np.radians([c[0] for c in centres])))))
        )
        span = max(abs(((c[0] - ra_mid + 180) % 360) - 180) for c in centres) * np.cos(
            np.radians(dec_deg)
        )
        cat = make_catalog(
            center=(ra_mid % 360, centres[0][1]),
            radius_deg=sky_radius_deg + span,
            min_flux_mjy=min_flux_mjy,
            max_flux_mjy=max_flux_mjy,
            seed=seed,
        )
        ingest_table(SYNTHETIC_CATALOG, cat, settings=settings)
        log.info("synthetic catalog: %d sources ingested as %r", len(cat), SYNTHETIC_CATALOG)
        catalog = SYNTHETIC_CATALOG
    out = []
    for i, (t, (ra, dec)) in enumerate(zip(starts, centres, strict=True)):
        sky = catalog_sky(
            catalog, ra, dec, sky_radius_deg, min_flux_mjy=min_flux_mjy, settings=settings
        )
        out.append(
            make_uvh5_group(
                out_dir,
                start_time=t,
                dec_deg=dec_deg,
                sources=sky,
                n_channels_per_subband=n_channels_per_subband,
                n_integrations=n_integrations,
                seed=seed + i,
                **kwargs,
            )
        )
    return out
