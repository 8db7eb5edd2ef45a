"""The calibration model: a noise-free prediction of the calibrator THROUGH THE PRIMARY BEAM.

:func:`predict_model` writes ``MODEL_DATA`` of a Measurement Set with what the calibrator
alone contributes, computed the way the simulator computes a source
(:mod:`dsa110_contimg.simulation.uvh5`): the calibrator's flux spectrum
(:func:`~dsa110_contimg.calibration.calibrators.calibrator_flux_jy`) times the Gaussian
primary beam of :mod:`dsa110_contimg.imaging.primary_beam` at the calibrator's distance from
the drifting pointing at every integration and frequency, times the geometric phase between
the calibrator and the phase centre (apparent positions through pyuvdata's coordinate code,
baselines from the ``ANTENNA`` table). A bare point model without the beam leaves fluxes
0.5% high at transit and ~9% at the group's edges, with a spectral slope: the beam is part of
the model.

CASA's ``setjy`` is not used: the field names are not calibrator names (it would silently use
1 Jy) and it knows no DSA-110 beam.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import CalibrationError
from ..imaging.primary_beam import C_M_S, gaussian_beam, pointing_icrs, unit_vectors

__all__ = ["model_visibilities", "predict_model", "require_equal_windows"]

log = logging.getLogger(__name__)


def _ecef_directions(ra_deg, dec_deg, times_jd, location) -> np.ndarray:
    """Apparent directions ``(n_times, 3)`` in Earth-fixed axes of one ICRS position."""
    from pyuvdata.utils.phasing import calc_app_coords
    from pyuvdata.utils.times import get_lst_for_time

    times_jd = np.asarray(times_jd, dtype=float)
    lst = get_lst_for_time(times_jd, telescope_loc=location)
    app_ra, app_dec = calc_app_coords(
        lon_coord=np.full(len(times_jd), np.radians(ra_deg)),
        lat_coord=np.full(len(times_jd), np.radians(dec_deg)),
        coord_frame="icrs",
        coord_epoch=2000.0,
        time_array=times_jd,
        lst_array=lst,
        telescope_loc=location,
        telescope_frame="itrs",
        all_times_unique=True,
    )
    gha = lst - app_ra - location.lon.rad
    return np.stack(
        [np.cos(app_dec) * np.cos(gha), -np.cos(app_dec) * np.sin(gha), np.sin(app_dec)], axis=-1
    )


def _read_layout(ms: Path):
    from casacore.tables import table

    try:
        main = table(str(ms), ack=False)
    except RuntimeError as exc:
        raise CalibrationError(f"not a readable Measurement Set ({exc})", path=ms) from None
    with main:
        time_s = main.getcol("TIME")
        a1 = main.getcol("ANTENNA1")
        a2 = main.getcol("ANTENNA2")
        ddid = main.getcol("DATA_DESC_ID")
        shape = main.getcell("DATA", 0).shape
    with table(str(ms) + "/ANTENNA", ack=False) as t:
        pos = t.getcol("POSITION")
    with table(str(ms) + "/DATA_DESCRIPTION", ack=False) as t:
        dd_spw = t.getcol("SPECTRAL_WINDOW_ID")
    with table(str(ms) + "/SPECTRAL_WINDOW", ack=False) as t:
        chan_freq = [np.asarray(t.getcell("CHAN_FREQ", i)) for i in range(t.nrows())]
    with table(str(ms) + "/FIELD", ack=False) as t:
        phase_dir = np.degrees(t.getcol("PHASE_DIR")[0, 0])
    return time_s, a1, a2, ddid, shape, pos, dd_spw, chan_freq, phase_dir


def model_visibilities(ms: str | Path, ra_deg: float, dec_deg: float, spectrum, *,
                       dish_diameter_m: float = 4.65, fwhm_factor: float = 1.2):
    """Yield ``(rows, vis)`` chunks of the noise-free visibilities of one source in an MS.

    Parameters
    ----------
    ms : str or Path
        The Measurement Set (phased to one ICRS phase centre, a drift-scan pointing).
    ra_deg, dec_deg : float
        ICRS position of the source.
    spectrum : callable
        ``spectrum(freq_hz) -> flux_jy``.
    dish_diameter_m, fwhm_factor : float
        The primary-beam model (imaging settings).

    Yields
    ------
    rows : numpy.ndarray
        Row numbers of one integration.
    vis : numpy.ndarray
        ``(n_rows, n_chan, n_corr)`` complex64, the same for every parallel-hand correlation
        (unpolarized source); cross-hands (if any) are 0.
    """
    from astropy import units as u
    from astropy.coordinates import AltAz, EarthLocation, SkyCoord
    from astropy.time import Time

    ms = Path(ms)
    time_s, a1, a2, ddid, shape, pos, dd_spw, chan_freq, phase_dir = _read_layout(ms)
    n_chan, n_corr = shape
    centre = pos[np.any(pos != 0, axis=1)].mean(axis=0)
    location = EarthLocation.from_geocentric(*centre, unit=u.m)
    utimes, tidx = np.unique(time_s, return_inverse=True)
    times_jd = utimes / 86400.0 + 2400000.5
    # the fixed alt-az pointing of the drift scan: the phase centre at mid-group
    mid = Time(0.5 * (times_jd[0] + times_jd[-1]), format="jd", scale="utc")
    pc = SkyCoord(phase_dir[0] * u.deg, phase_dir[1] * u.deg, frame="icrs")
    altaz = pc.transform_to(AltAz(obstime=mid, location=location))
    az, alt = float(np.round(altaz.az.deg / 180.0) * 180.0) % 360.0, float(altaz.alt.deg)
    p_ra, p_dec = pointing_icrs(times_jd, az_deg=az, alt_deg=alt, location=location)
    sep = np.arccos(np.clip(unit_vectors(p_ra, p_dec) @ unit_vectors(ra_deg, dec_deg), -1, 1))
    s_dir = _ecef_directions(ra_deg, dec_deg, times_jd, location)
    p_dir = _ecef_directions(phase_dir[0], phase_dir[1], times_jd, location)
    parallel = [0, n_corr - 1] if n_corr == 4 else list(range(n_corr))
    order = np.argsort(tidx, kind="stable")
    bounds = np.searchsorted(tidx[order], np.arange(len(utimes) + 1))
    for it in range(len(utimes)):
        rows = order[bounds[it] : bounds[it + 1]]
        b = pos[a2[rows]] - pos[a1[rows]]
        delay_m = b @ (s_dir[it] - p_dir[it])  # (nrows,)
        out = np.zeros((len(rows), n_chan, n_corr), dtype=np.complex64)
        dds = ddid[rows]
        for d in np.unique(dds):
            # flux and beam depend on the channel only: once per window, not per row
            sel = dds == d
            freqs = chan_freq[dd_spw[d]]  # (nchan,)
            amp = spectrum(freqs) * gaussian_beam(
                sep[it], freqs, dish_diameter_m=dish_diameter_m, fwhm_factor=fwhm_factor
            )
            # the sign of the converter's Measurement Sets (checked against a noise-free
            # simulation)
            v = (amp * np.exp(-2j * np.pi * delay_m[sel, None] * freqs / C_M_S)).astype(
                np.complex64)
            for c in parallel:
                out[sel, :, c] = v
        yield rows, out


def require_equal_windows(ms: Path) -> None:
    """Refuse a Measurement Set whose spectral windows differ in size.

    A group missing a subband inside the band is written as two windows of different sizes
    (variable-shaped data columns), which the model and the residual writers do not handle:
    calibrate on a complete calibrator group instead (its tables apply to such science groups).

    Raises
    ------
    CalibrationError
        Naming the MS and the windows' sizes.
    """
    from casacore.tables import table

    with table(str(Path(ms) / "SPECTRAL_WINDOW"), ack=False) as t:
        sizes = [int(n) for n in t.getcol("NUM_CHAN")]
    if len(set(sizes)) > 1:
        raise CalibrationError(
            f"spectral windows of different sizes ({', '.join(map(str, sizes))} channels: a "
            "subband is missing inside the band); a calibrator group must be complete to be "
            "solved on (its tables then apply to incomplete science groups)", path=ms)


def predict_model(ms: Path, match, settings=None) -> None:
    """Write ``MODEL_DATA``: the calibrator of ``match`` through the primary beam.

    Parameters
    ----------
    ms : Path
        The calibrator group's Measurement Set (modified: ``MODEL_DATA`` added or replaced).
    match : CalibratorMatch
        The calibrator (position and flux model).
    settings : Settings, optional
        The primary-beam model (``imaging.dish_diameter_m``, ``imaging.beam_fwhm_factor``).

    Raises
    ------
    CalibrationError
        The Measurement Set cannot be read or written.
    """
    from casacore.tables import makearrcoldesc, table

    from ..config import resolve_settings
    from .calibrators import calibrator_flux_jy

    settings = resolve_settings(settings)
    ms = Path(ms)
    require_equal_windows(ms)
    cal = match.calibrator
    chunks = model_visibilities(
        ms, cal.ra_deg, cal.dec_deg, lambda f: calibrator_flux_jy(cal, f),
        dish_diameter_m=settings.imaging.dish_diameter_m,
        fwhm_factor=settings.imaging.beam_fwhm_factor,
    )
    try:
        with table(str(ms), readonly=False, ack=False) as t:
            if "MODEL_DATA" not in t.colnames():
                shape = t.getcell("DATA", 0).shape
                desc = makearrcoldesc("MODEL_DATA", 0j, valuetype="complex", ndim=2,
                                      shape=list(shape))
                t.addcols(desc)
            for rows, vis in chunks:
                # rows of one integration are contiguous in our Measurement Sets
                if rows[-1] - rows[0] + 1 == len(rows):
                    t.putcol("MODEL_DATA", vis, startrow=int(rows[0]), nrow=len(rows))
                else:
                    for r, v in zip(rows, vis, strict=True):
                        t.putcell("MODEL_DATA", int(r), v)
    except RuntimeError as exc:
        raise CalibrationError(f"cannot write MODEL_DATA ({exc})", path=ms) from None
    log.info("MODEL_DATA of %s: %s through the primary beam", ms.name, cal.alt_name or cal.name)
