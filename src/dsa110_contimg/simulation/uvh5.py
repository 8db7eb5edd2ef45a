"""A DSA-110 simulator: the 16 subband UVH5 files of one drift-scan group.

By default (``layout="dsa110"``) the files are what the telescope's correlator writes (the
layout of ``dsamfs/io.py``, documented with its sources in ``docs/dsa110-files.md``):
``<timestamp>_sbNN.hdf5`` named by the time each node opened its file (the 16 names differ by
seconds), written as ``..._incomplete.hdf5`` and renamed when complete; 16 subbands of 48
descending channels of 244.140625 kHz, ``sb00`` the highest starting at 1498.643188 MHz;
24 integrations of 12.884902 s; a 117-antenna table (numbers 0-116, names "1"-"117") of
which only the correlated antennas carry baselines, ``ant1 >= ant2``; XX and YY;
``phase_type = "drift"`` with the data fringe-stopped at each integration to hour angle 0 at
the pointing declination, given only in ``extra_keywords['phase_center_dec']`` (radians);
float32 ``uvw_array`` for that direction; ``Data/visdata`` of shape (Nblts, 1, Nfreqs, Npols);
telescope "OVRO_MMA" at CASA's OVRO_MMA position, instrument "DSA"; no ``vis_units``.
``nan_integrations`` fills integrations with NaN, as after a correlator disconnect.

``layout="legacy"`` writes the older simulated layout (pyuvdata's own writer: a
``driftscan`` alt-az phase centre, 104 RevF stations numbered 1-104, an even 1.28-1.53 GHz
band) that the converter still reads.

Fast tests use fewer channels per subband (``n_channels_per_subband`` dividing 48: each is
the average of 48/n correlator channels, the subband keeps its band) and fewer correlated
antennas (``correlated_antennas``).

The sky is a set of point sources (``ra_deg``, ``dec_deg``, ``flux_jy`` at 1.4 GHz,
``spectral_index``) attenuated by the primary beam of
:mod:`dsa110_contimg.imaging.primary_beam`, which moves with the drift. Prediction is
vectorized: for each integration the geometric delay of every (baseline, source) pair is one
matrix product, and the phase of channel ``k + 1`` is that of channel ``k`` times a constant
factor (the channels are equally spaced), so no exponential is evaluated per channel.
Positions are apparent (precession, nutation, aberration) through pyuvdata's own coordinate
code, so the converter's re-phasing is exactly consistent with the simulation.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..imaging.primary_beam import C_M_S, gaussian_beam, pointing_icrs, unit_vectors
from .antennas import (
    DISH_DIAMETER_M,
    N_STATIONS,
    dsa110_stations,
    ovro_location,
    select_stations,
    station_positions,
)

__all__ = [
    "BAND_HZ",
    "CHANNEL_WIDTH_HZ",
    "DEFAULT_CORRELATED_ANTENNAS",
    "INTEGRATION_S",
    "LAYOUTS",
    "N_CHANNELS_PER_SUBBAND",
    "N_SUBBANDS",
    "SB00_FIRST_CHANNEL_HZ",
    "SimulatedGroup",
    "group_pointing",
    "make_uvh5_group",
    "site_location",
    "subband_filename",
    "subband_frequencies",
]

log = logging.getLogger(__name__)

#: File layouts the simulator writes: the telescope's, and the older simulated one.
LAYOUTS = ("dsa110", "legacy")
#: Number of subband files per group.
N_SUBBANDS = 16
#: Channels per subband as the correlator writes them.
N_CHANNELS_PER_SUBBAND = 48
#: The correlator's fine channel: 250 MHz over 8192 channels.
FINE_CHANNEL_HZ = 250e6 / 8192
#: Channel width in the files: 8 fine channels averaged (244.140625 kHz).
CHANNEL_WIDTH_HZ = 8 * FINE_CHANNEL_HZ
#: First (highest) channel of sb00: fine channels 1024-1031 below 1.53 GHz, averaged.
SB00_FIRST_CHANNEL_HZ = 1530e6 - (1024 + 3.5) * FINE_CHANNEL_HZ
#: Integration time in seconds: 96 samples of 0.134217728 s (12.884902 s).
INTEGRATION_S = 96 * 0.134217728
#: Band covered by the 16 x 48 channels (low edge, high edge) in Hz (1311.27-1498.77 MHz).
BAND_HZ = (
    SB00_FIRST_CHANNEL_HZ - (N_SUBBANDS * N_CHANNELS_PER_SUBBAND - 0.5) * CHANNEL_WIDTH_HZ,
    SB00_FIRST_CHANNEL_HZ + 0.5 * CHANNEL_WIDTH_HZ,
)
#: The older simulated layout's band (even channels over 1.28-1.53 GHz).
LEGACY_BAND_HZ = (1.28e9, 1.53e9)
#: Reference frequency of catalog fluxes and spectral indices.
REF_FREQ_HZ = 1.4e9
#: Default system-equivalent flux density of one dish (Tsys ~ 25 K, 4.65 m, 70% efficiency).
DEFAULT_SEFD_JY = 5800.0
#: Site written in the telescope's files: CASA's OVRO_MMA observatory (lon, lat in rad; m).
CASA_OVRO_MMA = (-2.064427799136453, 0.6498455107238486, 1188.0519)
#: Default correlated stations (1-based): 96 of the 102 core stations (8, 25, 42, 59, 76, 93
#: left out; the arms keep their ends).
#: The telescope correlates about 96 of its 117 antennas; which ones changes with time and
#: the files say (ant_1_array/ant_2_array). Core only keeps the synthesized beam at 1-2'.
DEFAULT_CORRELATED_ANTENNAS = tuple(n for n in range(1, 103) if n % 17 != 8)
#: What ``nsamples`` holds per visibility: the samples averaged into one integration.
SAMPLES_PER_INTEGRATION = 96.0
#: Default spread of the file names' timestamps within a group (seconds).
DEFAULT_NAME_JITTER_S = 3


def subband_filename(timestamp: str, subband: int) -> str:
    """File name of one subband: ``<timestamp>_sbNN.hdf5``.

    Examples
    --------
    >>> subband_filename("2025-01-15T12:00:00", 3)
    '2025-01-15T12:00:00_sb03.hdf5'
    """
    return f"{timestamp}_sb{subband:02d}.hdf5"


def subband_frequencies(subband: int, n_channels: int = N_CHANNELS_PER_SUBBAND):
    """Channel centres (descending, as in the file) and width of one subband, in Hz.

    With fewer than 48 channels, each is the average of ``48 / n_channels`` correlator
    channels (the subband keeps its band).

    Examples
    --------
    >>> f, w = subband_frequencies(0)
    >>> round(float(f[0]) / 1e6, 6), round(w / 1e3, 6), len(f)
    (1498.643188, 244.140625, 48)
    >>> f, w = subband_frequencies(15, 1)
    >>> round(float(f[0]) / 1e6, 3), w / 1e6
    (1317.125, 11.71875)
    """
    if n_channels < 1 or N_CHANNELS_PER_SUBBAND % n_channels:
        raise ValueError(f"channels per subband must divide 48, got {n_channels}")
    m = N_CHANNELS_PER_SUBBAND // n_channels
    fine = SB00_FIRST_CHANNEL_HZ - (subband * N_CHANNELS_PER_SUBBAND + np.arange(48)) * (
        CHANNEL_WIDTH_HZ
    )
    return fine.reshape(n_channels, m).mean(axis=1), m * CHANNEL_WIDTH_HZ


def site_location(layout: str = "dsa110"):
    """Return the telescope location written in the files of a layout (EarthLocation).

    ``dsa110``: CASA's OVRO_MMA position, as the correlator writes it; ``legacy``: the Tee
    centre of the RevF station table.
    """
    if layout == "legacy":
        return ovro_location()
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    lon, lat, alt = CASA_OVRO_MMA
    return EarthLocation.from_geodetic(lon=lon * u.rad, lat=lat * u.rad, height=alt * u.m)


@dataclass(frozen=True)
class SimulatedGroup:
    """What :func:`make_uvh5_group` wrote, and the truth to compare with.

    Attributes
    ----------
    paths : list of Path
        The subband files, ``sb00`` first.
    timestamp : str
        The group's start (UTC, ISO to the second): the earliest file name.
    truth : astropy.table.Table
        The simulated sources: ``ra_deg``, ``dec_deg``, ``flux_jy`` (intrinsic at 1.4 GHz after
        any flux change), ``spectral_index``, ``flux_change``, ``beam_mid`` (response at
        mid-group and 1.4 GHz), ``apparent_flux_jy`` and, when the input had it, ``source_id``.
    gain : float
        The amplitude gain applied to this group (1 + gain error).
    times_jd : numpy.ndarray
        Integration mid times (JD UTC).
    pointing_dec_deg : float
        Declination of the pointing on the meridian.
    noise_jy : float
        Standard deviation of the real and imaginary parts of the noise per visibility.
    freqs_hz : numpy.ndarray
        All channel frequencies, ascending.
    layout : str
        ``"dsa110"`` or ``"legacy"``.
    corruption : dict, optional
        The injected corruptions (:mod:`~dsa110_contimg.simulation.corruptions`), or None.
    """

    paths: list[Path]
    timestamp: str
    truth: object
    gain: float
    times_jd: np.ndarray
    pointing_dec_deg: float
    noise_jy: float
    freqs_hz: np.ndarray = field(repr=False)
    layout: str = "dsa110"
    corruption: dict | None = field(default=None, repr=False)


def _meridian_altaz(dec_deg: float, lat_rad: float) -> tuple[float, float]:
    """Azimuth and elevation (deg) of hour angle 0 at ``dec_deg`` (ERFA, as pyuvdata uses)."""
    import erfa

    az, el = erfa.hd2ae(0.0, np.radians(dec_deg), lat_rad)
    return float(np.degrees(az)), float(np.degrees(el))


def group_pointing(
    start_time, dec_deg: float, *, n_integrations: int = 24, layout: str = "dsa110"
) -> tuple[float, float]:
    """ICRS (RA, Dec) in degrees where the dishes point at mid-group (the image centre).

    Examples
    --------
    >>> ra, dec = group_pointing("2025-01-15T12:00:00", 37.0)
    >>> round(ra, 1), round(dec, 1)
    (177.2, 37.1)
    """
    t0 = _as_time(start_time)
    location = site_location(layout)
    az, alt = _meridian_altaz(dec_deg, location.lat.rad)
    mid = t0.jd + n_integrations * INTEGRATION_S / 2 / 86400.0
    ra, dec = pointing_icrs(mid, az_deg=az, alt_deg=alt, location=location)
    return float(ra[0]), float(dec[0])


def _legacy_frequencies(n_channels_per_subband: int) -> tuple[np.ndarray, float]:
    lo, hi = LEGACY_BAND_HZ
    n = N_SUBBANDS * n_channels_per_subband
    width = (hi - lo) / n
    return lo + (np.arange(n) + 0.5) * width, width


def _as_time(start_time):
    from astropy.time import Time

    if isinstance(start_time, Time):
        return start_time.utc
    return Time(start_time, scale="utc")


def _sources_table(sources):
    from astropy.table import Table

    t = Table(sources, copy=True) if not isinstance(sources, Table) else sources.copy()
    for name in ("ra_deg", "dec_deg"):
        if name not in t.colnames:
            raise ValueError(f"sources need a {name!r} column")
    if "flux_jy" not in t.colnames:
        if "flux_mjy" in t.colnames:
            t["flux_jy"] = np.asarray(t["flux_mjy"], dtype=float) / 1000.0
        else:
            raise ValueError("sources need a 'flux_jy' (or 'flux_mjy') column")
    if "spectral_index" not in t.colnames:
        t["spectral_index"] = -0.7
    si = np.asarray(t["spectral_index"], dtype=float)
    t["spectral_index"] = np.where(np.isfinite(si), si, -0.7)
    return t


def _apparent_directions(ra_deg, dec_deg, times_jd, lst_rad, telescope_loc, lon_rad):
    """Return unit vectors ``(Ntimes, Nsrc, 3)`` in pyuvdata's rotated-ECEF frame."""
    from pyuvdata.utils.phasing import calc_app_coords

    nt, ns = len(times_jd), len(ra_deg)
    app_ra, app_dec = calc_app_coords(
        lon_coord=np.tile(np.radians(ra_deg), nt),
        lat_coord=np.tile(np.radians(dec_deg), nt),
        coord_frame="icrs",
        coord_epoch=2000.0,
        time_array=np.repeat(times_jd, ns),
        lst_array=np.repeat(lst_rad, ns),
        telescope_loc=telescope_loc,
        telescope_frame="itrs",
        all_times_unique=True,
    )
    gha = np.repeat(lst_rad, ns) - app_ra - lon_rad
    vec = np.stack(
        [np.cos(app_dec) * np.cos(gha), -np.cos(app_dec) * np.sin(gha), np.sin(app_dec)], axis=-1
    )
    return vec.reshape(nt, ns, 3)


def make_uvh5_group(
    out_dir: str | Path,
    *,
    start_time="2025-01-15T12:00:00",
    dec_deg: float = 37.0,
    sources=None,
    n_channels_per_subband: int = N_CHANNELS_PER_SUBBAND,
    n_integrations: int = 24,
    noise: bool = True,
    sefd_jy: float = DEFAULT_SEFD_JY,
    gain_error: float = 0.0,
    flux_changes: Mapping | None = None,
    max_sources: int = 100,
    min_beam: float = 0.01,
    subbands: list[int] | None = None,
    station_table: str | Path | None = None,
    layout: str = "dsa110",
    correlated_antennas: Sequence[int] | None = None,
    name_jitter_s: int | None = None,
    nan_integrations: Sequence[int] = (),
    seed: int | None = 0,
    antennas=None,
    corruption=None,
) -> SimulatedGroup:
    """Simulate one drift-scan group and write its 16 subband UVH5 files.

    Parameters
    ----------
    out_dir : str or Path
        Directory for the files (created).
    start_time : str or astropy.time.Time
        UTC start of the group (ISO string or Time); also the earliest file-name timestamp.
    dec_deg : float
        Declination the dishes point at, on the meridian.
    sources : astropy.table.Table or dict of columns, optional
        ``ra_deg``, ``dec_deg``, ``flux_jy`` (or ``flux_mjy``) at 1.4 GHz, optionally
        ``spectral_index`` (default -0.7) and ``source_id``. ``None``: an empty sky (noise only).
    n_channels_per_subband : int
        Channels per subband (the telescope writes 48; fewer keep tests fast: in the real
        layout it must divide 48).
    n_integrations : int
        Integrations of 12.884902 s (24: about 5 minutes).
    noise : bool
        Add thermal noise for ``sefd_jy`` (per visibility, per channel).
    sefd_jy : float
        System-equivalent flux density of one dish in Jy.
    gain_error : float
        Standard deviation of a per-group amplitude gain error (0: none); the gain applied
        is in the result.
    flux_changes : mapping, optional
        ``{row index or source_id: factor}`` multiplying the intrinsic flux of those sources
        (variability tests).
    max_sources : int
        Keep at most this many sources, the brightest as seen through the beam.
    min_beam : float
        Drop sources whose beam response at mid-group is below this.
    subbands : list of int, optional
        Write only these subbands (default all 16; tests of missing subbands use fewer).
    station_table : str or Path, optional
        Station table (default: the bundled 117-station table; RevF for ``legacy``).
    layout : {"dsa110", "legacy"}
        The telescope's file layout (default) or the older simulated one.
    correlated_antennas : sequence of int, optional
        Station numbers (1-117) that carry baselines in the real layout (default
        :data:`DEFAULT_CORRELATED_ANTENNAS`, 96 core antennas); the antenna table always has
        all 117. Ignored by ``legacy`` (all 104 RevF stations).
    name_jitter_s : int, optional
        The subbands' file names are dated up to this many seconds after ``start_time``
        (each node opens its file at its own time); default 3 s (real), 0 (legacy).
    nan_integrations : sequence of int
        Integrations whose visibilities are NaN (a correlator disconnect).
    seed : int, optional
        Random seed of the noise, gain error and name jitter.
    antennas : sequence of int, optional
        Simulate only these antenna (station) numbers (small test arrays): in the real layout
        the correlated antennas (``correlated_antennas`` wins when both are given; the antenna
        table keeps all 117), in the legacy layout the only stations written.
    corruption : CorruptionSpec, optional
        Corrupt the visibilities (:mod:`dsa110_contimg.simulation.corruptions`); the truth is
        written beside the files as ``<timestamp>_corruptions.json``.

    Returns
    -------
    SimulatedGroup
        The files and the truth.

    Examples
    --------
    >>> import tempfile
    >>> g = make_uvh5_group(tempfile.mkdtemp(), sources={"ra_deg": [0.0], "dec_deg": [37.0],
    ...     "flux_jy": [1.0]}, n_channels_per_subband=1, n_integrations=2, subbands=[0],
    ...     correlated_antennas=range(1, 9))
    >>> [p.name for p in g.paths]
    ['2025-01-15T12:00:00_sb00.hdf5']
    """
    from astropy.table import Table
    from astropy.time import TimeDelta
    from pyuvdata import Telescope, UVData

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    real = layout == "dsa110"
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = _as_time(start_time)
    timestamp = t0.isot.split(".")[0]
    location = site_location(layout)
    loc_xyz = np.array(
        [location.x.to_value("m"), location.y.to_value("m"), location.z.to_value("m")]
    )
    if real:
        stations = dsa110_stations(station_table)
        if len(stations) != N_STATIONS:
            raise ValueError(f"the station table has {len(stations)} stations, not 117")
        chosen = correlated_antennas if correlated_antennas is not None else antennas
        corr = sorted({int(a) for a in (chosen or DEFAULT_CORRELATED_ANTENNAS)})
        if not corr or corr[0] < 1 or corr[-1] > N_STATIONS:
            raise ValueError("correlated antennas are station numbers 1-117")
        numbers = stations.numbers - 1  # the files number antennas 0-116
        names = list(stations.names)  # "1" ... "117"
        used = [n - 1 for n in corr]
        # the correlator's order: ant1 >= ant2 (autos included)
        antpairs = [(used[i], used[j]) for i in range(len(used)) for j in range(i + 1)]
        tel_name, instrument = "OVRO_MMA", "DSA"
    else:
        stations = station_positions(station_table)
        if antennas is not None:
            stations = select_stations(stations, antennas)
        numbers = stations.numbers
        names = [f"DSA-{n:03d}" for n in numbers]
        used = [int(n) for n in numbers]
        antpairs = [(used[i], used[j]) for i in range(len(used)) for j in range(i, len(used))]
        tel_name, instrument = "DSA-110", "DSA-110"
    telescope = Telescope.new(
        name=tel_name,
        location=location,
        antenna_positions=stations.ecef_m - loc_xyz,
        antenna_names=names,
        antenna_numbers=numbers,
        instrument=instrument,
        antenna_diameters=np.full(len(stations), DISH_DIAMETER_M),
        feeds=["x", "y"],
        mount_type="alt-az",
        update_from_known=False,
    )
    times_jd = t0.jd + (np.arange(n_integrations) + 0.5) * INTEGRATION_S / 86400.0
    if real:
        per_sb = [subband_frequencies(sb, n_channels_per_subband) for sb in range(N_SUBBANDS)]
        freqs = np.sort(np.concatenate([f for f, _ in per_sb]))
        chan_width = per_sb[0][1]
    else:
        freqs, chan_width = _legacy_frequencies(n_channels_per_subband)
    az_deg, alt_deg = _meridian_altaz(dec_deg, location.lat.rad)
    catalog = {
        0: {
            "cat_name": f"drift_dec{dec_deg:+.2f}",
            "cat_type": "driftscan",
            "cat_lon": np.radians(az_deg),
            "cat_lat": np.radians(alt_deg),
            "cat_frame": "altaz",
        }
    }
    with warnings.catch_warnings():
        # new() computes the uvws from the antenna positions: nothing to re-phase yet
        warnings.filterwarnings("ignore", message="Recalculating uvw_array")
        uv = UVData.new(
            freq_array=freqs,
            polarization_array=["xx", "yy"],
            times=times_jd,
            telescope=telescope,
            antpairs=antpairs,
            do_blt_outer=True,
            time_axis_faster_than_bls=False,
            integration_time=INTEGRATION_S,
            channel_width=chan_width,
            phase_center_catalog=catalog,
            vis_units="Jy",
            empty=True,
            history="Simulated by dsa110_contimg.simulation.make_uvh5_group",
        )
    uv.extra_keywords = {"pointing_dec_deg": float(dec_deg), "simulated": True}
    nbls, nt, nf = uv.Nbls, uv.Ntimes, uv.Nfreqs

    # --- sky ---------------------------------------------------------------------------------
    truth = (
        _sources_table(sources)
        if sources is not None
        else Table({"ra_deg": [], "dec_deg": [], "flux_jy": [], "spectral_index": []})
    )
    change = np.ones(len(truth))
    for key, factor in (flux_changes or {}).items():
        if "source_id" in truth.colnames and not isinstance(key, (int, np.integer)):
            idx = np.flatnonzero(np.asarray(truth["source_id"]).astype(str) == str(key))
        else:
            idx = np.array([int(key)])
        change[idx] *= float(factor)
    truth["flux_change"] = change
    truth["flux_jy"] = np.asarray(truth["flux_jy"], dtype=float) * change
    p_ra, p_dec = pointing_icrs(times_jd, az_deg=az_deg, alt_deg=alt_deg, location=location)
    pvec = unit_vectors(p_ra, p_dec)  # (nt, 3)
    svec = unit_vectors(truth["ra_deg"], truth["dec_deg"])  # (ns, 3)
    mid = nt // 2
    sep_mid = np.arccos(np.clip(svec @ pvec[mid], -1, 1))
    kw = {"dish_diameter_m": DISH_DIAMETER_M}
    truth["beam_mid"] = gaussian_beam(sep_mid, REF_FREQ_HZ, **kw)
    truth["apparent_flux_jy"] = truth["flux_jy"] * truth["beam_mid"]
    keep = np.flatnonzero(truth["beam_mid"] >= min_beam)
    keep = keep[np.argsort(-np.asarray(truth["apparent_flux_jy"])[keep])][:max_sources]
    truth = truth[np.sort(keep)]
    gain = float(1.0 + gain_error * rng.standard_normal()) if gain_error else 1.0

    data = np.zeros((nt, nbls, nf), dtype=np.complex64)
    if len(truth):
        flux = np.asarray(truth["flux_jy"], dtype=float)
        alpha = np.asarray(truth["spectral_index"], dtype=float)
        spec = flux[:, None] * (freqs[None, :] / REF_FREQ_HZ) ** alpha[:, None]  # (ns, nf)
        sep = np.arccos(np.clip(svec[np.sort(keep)] @ pvec.T, -1, 1))  # (ns, nt)
        beam = gaussian_beam(sep[:, :, None], freqs[None, None, :], **kw)  # (ns, nt, nf)
        lst = uv.lst_array.reshape(nt, nbls)[:, 0]
        dirs = _apparent_directions(
            np.asarray(truth["ra_deg"], float),
            np.asarray(truth["dec_deg"], float),
            times_jd,
            lst,
            location,
            location.lon.rad,
        )
        ant_index = {int(n): i for i, n in enumerate(telescope.antenna_numbers)}
        a1 = np.array([ant_index[a] for a in uv.ant_1_array[:nbls]])
        a2 = np.array([ant_index[a] for a in uv.ant_2_array[:nbls]])
        bvec = telescope.antenna_positions[a2] - telescope.antenna_positions[a1]  # (nbls, 3)
        w = uv.uvw_array[:, 2].reshape(nt, nbls)
        f0, df = freqs[0], freqs[1] - freqs[0] if nf > 1 else 0.0
        for it in range(nt):
            delay_m = bvec @ dirs[it].T - w[it][:, None]  # (nbls, ns)
            # phase of channel k = phase of channel 0 times step**k (equally spaced channels)
            cur = np.exp(2j * np.pi * delay_m * (f0 / C_M_S)).astype(np.complex64)
            step = np.exp(2j * np.pi * delay_m * (df / C_M_S)).astype(np.complex64)
            # (nf, ns), contiguous per channel: a strided vector would make matmul ~50x slower
            amp = np.ascontiguousarray((spec * beam[:, it, :]).T, dtype=np.complex64)
            out = data[it]
            for k in range(nf):
                if k:
                    np.multiply(cur, step, out=cur)
                out[:, k] = cur @ amp[k]
    data *= gain
    noise_jy = sefd_jy / np.sqrt(2.0 * chan_width * INTEGRATION_S) if noise else 0.0
    full = np.empty((nt * nbls, nf, 2), dtype=np.complex64)
    for ip in range(2):  # XX and YY: the same sky, independent noise (float32, in place)
        view = full[:, :, ip]
        view[:] = data.reshape(nt * nbls, nf)
        if noise:
            for part in (view.real, view.imag):
                part += np.float32(noise_jy) * rng.standard_normal(part.shape, dtype=np.float32)
    del data
    auto = uv.ant_1_array == uv.ant_2_array
    full[auto] = full[auto].real + sefd_jy  # autocorrelations: real, the system power
    corruption_truth = None
    if corruption is not None:
        from .corruptions import corrupt_visibilities

        # the truth is keyed by station number (the antenna's name in both layouts; the real
        # layout numbers antennas from 0, one below their station), and keeps the names
        station_of = 1 if real else 0
        names = {
            int(n) + station_of: str(a)
            for n, a in zip(telescope.antenna_numbers, telescope.antenna_names, strict=True)
        }
        corruption_truth = corrupt_visibilities(
            full, ant1=uv.ant_1_array + station_of, ant2=uv.ant_2_array + station_of,
            times_jd=uv.time_array,
            freqs_hz=freqs, spec=corruption, noise_jy=noise_jy or 1.0, band_hz=BAND_HZ,
            antenna_names=names,
        )
    for it in nan_integrations:
        full.reshape(nt, nbls, nf, 2)[int(it)] = np.nan
    # keep the full-band object metadata-only: selecting a subband then copies no data
    uv.data_array = uv.flag_array = uv.nsample_array = None

    # --- write the subbands ------------------------------------------------------------------
    todo = list(range(N_SUBBANDS)) if subbands is None else sorted(subbands)
    jitter = (
        0
        if name_jitter_s is None and not real
        else (DEFAULT_NAME_JITTER_S if name_jitter_s is None else int(name_jitter_s))
    )
    offsets = np.random.default_rng(None if seed is None else [seed, 18]).integers(
        0, jitter + 1, size=N_SUBBANDS
    )
    offsets -= offsets[todo].min()  # the earliest file is dated start_time
    paths = []
    for sb in todo:
        if real:
            sb_freqs = per_sb[sb][0]  # descending, as the correlator writes them
            chans = np.searchsorted(freqs, sb_freqs)
        else:
            # sb00 holds the highest frequencies
            k0 = (N_SUBBANDS - 1 - sb) * n_channels_per_subband
            chans = np.arange(k0, k0 + n_channels_per_subband)
        name_ts = (t0 + TimeDelta(int(offsets[sb]), format="sec")).isot.split(".")[0]
        path = out_dir / subband_filename(name_ts, sb)
        tmp = path.with_name(path.name[: -len(".hdf5")] + "_incomplete.hdf5")
        if real:
            _write_dsa110_file(
                tmp, uv, full[:, chans, :], freqs[chans], chan_width, dec_deg=dec_deg,
                calibrated=corruption is None,
            )
        else:
            sub = uv.select(freq_chans=chans, inplace=False, run_check=False)
            sub.data_array = full[:, chans, :]
            sub.flag_array = np.zeros(sub.data_array.shape, dtype=bool)
            sub.nsample_array = np.ones(sub.data_array.shape, dtype=np.float32)
            sub.write_uvh5(str(tmp), clobber=True, run_check=(sb == todo[0]))
        os.replace(tmp, path)  # renamed when complete, as the correlator does
        paths.append(path)
    if corruption_truth is not None:
        from .corruptions import write_truth

        write_truth(corruption_truth, out_dir / f"{timestamp}_corruptions.json")
    log.info(
        "simulated group %s (%s layout): %d sources, %d subbands in %s",
        timestamp,
        layout,
        len(truth),
        len(paths),
        out_dir,
    )
    return SimulatedGroup(
        paths=paths,
        timestamp=timestamp,
        truth=truth,
        gain=gain,
        times_jd=times_jd,
        pointing_dec_deg=float(dec_deg),
        noise_jy=float(noise_jy),
        freqs_hz=freqs,
        layout=layout,
        corruption=corruption_truth,
    )


def _write_dsa110_file(
    path: Path, uv, vis, freqs_desc, chan_width, *, dec_deg: float, calibrated: bool
) -> None:
    """Write one subband in the correlator's layout (h5py; see ``docs/dsa110-files.md``)."""
    import h5py

    tel = uv.telescope
    nblts, nf, npol = vis.shape
    lat, lon, alt = tel.location_lat_lon_alt_degrees
    with h5py.File(path, "w") as f:
        h = f.create_group("Header")
        h["latitude"] = lat
        h["longitude"] = lon
        h["altitude"] = alt
        h["telescope_name"] = np.bytes_(tel.name)
        h["instrument"] = np.bytes_(tel.instrument)
        h["object_name"] = np.bytes_("search")
        h["history"] = np.bytes_("simulated by dsa110_contimg in the dsamfs layout")
        h["phase_type"] = np.bytes_("drift")
        used = np.union1d(uv.ant_1_array, uv.ant_2_array)
        h["Nants_data"] = len(used)
        h["Nants_telescope"] = tel.Nants
        h["antenna_diameters"] = np.asarray(tel.antenna_diameters, dtype=float)
        h["antenna_names"] = np.array(tel.antenna_names, dtype="S4")
        h["antenna_numbers"] = np.asarray(tel.antenna_numbers, dtype=int)
        h["antenna_positions"] = np.asarray(tel.antenna_positions, dtype=float)
        h["ant_1_array"] = np.asarray(uv.ant_1_array, dtype=int)
        h["ant_2_array"] = np.asarray(uv.ant_2_array, dtype=int)
        h["Nbls"] = uv.Nbls
        h["Nblts"] = nblts
        h["Nfreqs"] = nf
        h["Npols"] = npol
        h["Ntimes"] = uv.Ntimes
        h["Nspws"] = 1
        h["spw_array"] = np.array([1])
        h["uvw_array"] = np.asarray(uv.uvw_array, dtype=np.float32)
        h["time_array"] = np.asarray(uv.time_array, dtype=np.float64)
        h["integration_time"] = np.asarray(uv.integration_time, dtype=np.float64)
        h["freq_array"] = np.asarray(freqs_desc, dtype=np.float64)[np.newaxis, :]
        h["channel_width"] = float(chan_width)
        h["polarization_array"] = np.array([-5, -6])
        x = h.create_group("extra_keywords")
        x["phase_center_dec"] = float(np.radians(dec_deg))
        x["ha_phase_center"] = 0.0
        x["phase_center_epoch"] = np.bytes_("HADEC")
        x["fs_table"] = np.bytes_("simulated")
        x["applied_delays_ns"] = np.bytes_(" ".join(["0"] * (2 * tel.Nants)))
        if calibrated:
            # not the correlator's: clean simulated visibilities are calibrated (Jy), and the
            # stream's auto mode takes correlator files without this marker as raw
            x["contimg_calibrated"] = True
        d = f.create_group("Data")
        d["visdata"] = vis.reshape(nblts, 1, nf, npol).astype(np.complex64, copy=False)
        d["flags"] = np.zeros((nblts, 1, nf, npol), dtype=bool)
        d["nsamples"] = np.full((nblts, 1, nf, npol), SAMPLES_PER_INTEGRATION, dtype=np.float32)
