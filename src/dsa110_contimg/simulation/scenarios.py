"""Simulated nights for calibration: a calibrator transit, then science groups.

:func:`simulate_calibrator_night` writes one group centred on the transit of a bundled VLA
calibrator (3C286 = ``1331+305`` at Dec +30.5 by default) through the meridian beam, and
science groups starting ``science_offset_hours`` later, every group corrupted with the same
:class:`~dsa110_contimg.simulation.corruptions.CorruptionSpec` (same antennas, gains and
delays; the RFI differs per group). The calibrator is simulated with the flux model of
:func:`~dsa110_contimg.calibration.calibrators.calibrator_flux_jy` (a power law through its
1.28 and 1.53 GHz values; Perley & Butler's curvature is below 0.1% across the band).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .uvh5 import BAND_HZ, INTEGRATION_S, SimulatedGroup, group_pointing, make_uvh5_group

__all__ = ["CalibratorNight", "calibrator_sky_row", "simulate_calibrator_night"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalibratorNight:
    """What :func:`simulate_calibrator_night` wrote.

    Attributes
    ----------
    calibrator_group : SimulatedGroup
        The group in which the calibrator transits (mid-group).
    science_groups : list of SimulatedGroup
        The later groups.
    calibrator : Calibrator
        The calibrator.
    transit_mjd : float
        Its transit time.
    """

    calibrator_group: SimulatedGroup
    science_groups: list[SimulatedGroup]
    calibrator: object
    transit_mjd: float


def calibrator_sky_row(cal) -> dict:
    """Return the simulator sky row of a calibrator (1.4 GHz flux, in-band power-law index)."""
    from ..calibration.calibrators import calibrator_flux_jy

    lo, hi = BAND_HZ
    s_lo, s_ref, s_hi = calibrator_flux_jy(cal, np.array([lo, 1.4e9, hi]))
    alpha = float(np.log(s_hi / s_lo) / np.log(hi / lo))
    return {"ra_deg": cal.ra_deg, "dec_deg": cal.dec_deg, "flux_jy": float(s_ref),
            "spectral_index": alpha, "source_id": f"cal_{cal.name}"}


def _with_calibrator(sky, cal):
    from astropy.table import Table, vstack

    row = calibrator_sky_row(cal)
    cal_t = Table({k: [v] for k, v in row.items()})
    if sky is None or len(sky) == 0:
        return cal_t
    sky = Table(sky, copy=True)
    if "flux_jy" not in sky.colnames:
        sky["flux_jy"] = np.asarray(sky["flux_mjy"], float) / 1000.0
    if "spectral_index" not in sky.colnames:
        sky["spectral_index"] = -0.7
    if "source_id" not in sky.colnames:
        sky["source_id"] = [f"src{i}" for i in range(len(sky))]
    keep = ["ra_deg", "dec_deg", "flux_jy", "spectral_index", "source_id"]
    sky = sky[keep]
    sky["source_id"] = sky["source_id"].astype(str)
    cal_t["source_id"] = cal_t["source_id"].astype(str)
    return vstack([sky, cal_t], metadata_conflicts="silent")


def simulate_calibrator_night(
    out_dir: str | Path,
    *,
    calibrator: str = "1331+305",
    date: str = "2025-01-15",
    dec_deg: float | None = None,
    n_science_groups: int = 1,
    science_offset_hours: float = 1.0,
    sky=None,
    catalog: str | None = None,
    sky_radius_deg: float = 2.5,
    min_flux_mjy: float = 5.0,
    corruption=None,
    n_channels_per_subband: int = 4,
    n_integrations: int = 24,
    seed: int = 0,
    settings=None,
    **kwargs,
) -> CalibratorNight:
    """Simulate a calibrator transit group and science groups after it.

    Parameters
    ----------
    out_dir : str or Path
        Directory for the UVH5 files (and the corruption truth files).
    calibrator : str
        Name in the bundled calibrator list (J2000 or alternative name).
    date : str
        UTC date; the first transit after its start is used.
    dec_deg : float, optional
        Pointing declination (default: the calibrator's, rounded to 0.1 deg).
    n_science_groups : int
        Consecutive science groups.
    science_offset_hours : float
        Start of the first science group after the calibrator group's start.
    sky : astropy.table.Table, optional
        Further sources (``ra_deg``, ``dec_deg``, ``flux_jy`` or ``flux_mjy``) in every group.
    catalog : str, optional
        Take the further sources of each group from this stored catalog (cone of
        ``sky_radius_deg``) instead.
    corruption : CorruptionSpec, optional
        Corrupt every group with it (None: clean).
    n_channels_per_subband, n_integrations, seed, **kwargs
        As :func:`~dsa110_contimg.simulation.make_uvh5_group` (group ``i`` uses ``seed + i``).

    Returns
    -------
    CalibratorNight
    """
    from astropy.time import Time, TimeDelta

    from ..calibration.calibrators import get_calibrator, transit_mjd

    cal = get_calibrator(calibrator)
    dec = float(round(cal.dec_deg, 1)) if dec_deg is None else float(dec_deg)
    t_transit = transit_mjd(cal.ra_deg, dec, Time(date, scale="utc").mjd)
    half = n_integrations * INTEGRATION_S / 2
    t_cal = Time(t_transit, format="mjd", scale="utc") - TimeDelta(half, format="sec")
    # whole seconds: the timestamp in the file names is the true start
    t_cal = Time(np.round(t_cal.unix), format="unix", scale="utc")
    starts = [t_cal] + [
        t_cal + TimeDelta(science_offset_hours * 3600 + i * 2 * half, format="sec")
        for i in range(n_science_groups)
    ]
    groups = []
    for i, t in enumerate(starts):
        extra = sky
        if catalog is not None:
            from .sky import catalog_sky

            ra, pdec = group_pointing(t, dec, n_integrations=n_integrations)
            extra = catalog_sky(catalog, ra, pdec, sky_radius_deg, min_flux_mjy=min_flux_mjy,
                                settings=settings)
        groups.append(
            make_uvh5_group(
                out_dir,
                start_time=t,
                dec_deg=dec,
                sources=_with_calibrator(extra, cal),
                n_channels_per_subband=n_channels_per_subband,
                n_integrations=n_integrations,
                corruption=corruption,
                seed=seed + i,
                **kwargs,
            )
        )
    log.info("calibrator night: %s transits at MJD %.5f; %d science groups",
             cal.name, t_transit, n_science_groups)
    return CalibratorNight(groups[0], groups[1:], cal, float(t_transit))
