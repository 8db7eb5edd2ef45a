"""A DSA-110 simulator: the 16 subband UVH5 files of one drift-scan group.

The telescope writes, every ~5 minutes, one UVH5 file per subband (``<timestamp>_sbNN.hdf5``,
16 subbands covering 1.28-1.53 GHz, ``sb00`` the highest frequency) holding visibilities of
all baselines, 12.885 s integrations, XX and YY, phased to the meridian at each integration
(the dishes point at a fixed declination on the meridian while the sky drifts). In pyuvdata
terms the phase centre is a ``driftscan`` centre fixed in azimuth/elevation.

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
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..imaging.primary_beam import C_M_S, gaussian_beam, meridian_altaz, pointing_icrs, unit_vectors
from .antennas import (
    DISH_DIAMETER_M,
    OVRO_LAT_DEG,
    ovro_location,
    select_stations,
    station_positions,
)

__all__ = [
    "BAND_HZ",
    "INTEGRATION_S",
    "N_SUBBANDS",
    "SimulatedGroup",
    "group_pointing",
    "make_uvh5_group",
    "subband_filename",
]

log = logging.getLogger(__name__)

#: Total band of DSA-110 in Hz (low edge, high edge).
BAND_HZ = (1.28e9, 1.53e9)
#: Number of subband files per group.
N_SUBBANDS = 16
#: Integration time in seconds.
INTEGRATION_S = 12.885
#: Reference frequency of catalog fluxes and spectral indices.
REF_FREQ_HZ = 1.4e9
#: Default system-equivalent flux density of one dish (Tsys ~ 25 K, 4.65 m, 70% efficiency).
DEFAULT_SEFD_JY = 5800.0


def subband_filename(timestamp: str, subband: int) -> str:
    """File name of one subband: ``<timestamp>_sbNN.hdf5``.

    Examples
    --------
    >>> subband_filename("2025-01-15T12:00:00", 3)
    '2025-01-15T12:00:00_sb03.hdf5'
    """
    return f"{timestamp}_sb{subband:02d}.hdf5"


@dataclass(frozen=True)
class SimulatedGroup:
    """What :func:`make_uvh5_group` wrote, and the truth to compare with.

    Attributes
    ----------
    paths : list of Path
        The subband files, ``sb00`` first.
    timestamp : str
        The group timestamp used in the file names.
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
    corruption: dict | None = field(default=None, repr=False)


def group_pointing(start_time, dec_deg: float, *, n_integrations: int = 24) -> tuple[float, float]:
    """ICRS (RA, Dec) in degrees where the dishes point at mid-group (the image centre).

    Examples
    --------
    >>> ra, dec = group_pointing("2025-01-15T12:00:00", 37.0)
    >>> round(ra, 1), round(dec, 1)
    (177.2, 37.1)
    """
    t0 = _as_time(start_time)
    az, alt = meridian_altaz(dec_deg, OVRO_LAT_DEG)
    mid = t0.jd + n_integrations * INTEGRATION_S / 2 / 86400.0
    ra, dec = pointing_icrs(mid, az_deg=az, alt_deg=alt, location=ovro_location())
    return float(ra[0]), float(dec[0])


def _frequencies(n_channels_per_subband: int) -> tuple[np.ndarray, float]:
    lo, hi = BAND_HZ
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
    n_channels_per_subband: int = 4,
    n_integrations: int = 24,
    noise: bool = True,
    sefd_jy: float = DEFAULT_SEFD_JY,
    gain_error: float = 0.0,
    flux_changes: Mapping | None = None,
    max_sources: int = 100,
    min_beam: float = 0.01,
    subbands: list[int] | None = None,
    station_table: str | Path | None = None,
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
        UTC start of the group (ISO string or Time); also the file-name timestamp.
    dec_deg : float
        Declination the dishes point at, on the meridian.
    sources : astropy.table.Table or dict of columns, optional
        ``ra_deg``, ``dec_deg``, ``flux_jy`` (or ``flux_mjy``) at 1.4 GHz, optionally
        ``spectral_index`` (default -0.7) and ``source_id``. ``None``: an empty sky (noise only).
    n_channels_per_subband : int
        Channels per subband (the telescope has 48; few keep tests fast).
    n_integrations : int
        Integrations of 12.885 s (24: about 5 minutes).
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
        Station table (default: the bundled DSA-110 Revision F table).
    seed : int, optional
        Random seed of the noise and gain error.
    antennas : sequence of int, optional
        Simulate only these antenna (station) numbers (small test arrays).
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
    ...     "flux_jy": [1.0]}, n_channels_per_subband=1, n_integrations=2, subbands=[0])
    >>> [p.name for p in g.paths]
    ['2025-01-15T12:00:00_sb00.hdf5']
    """
    from astropy.table import Table
    from pyuvdata import Telescope, UVData

    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = _as_time(start_time)
    timestamp = t0.isot.split(".")[0]
    location = ovro_location()
    stations = station_positions(station_table)
    if antennas is not None:
        stations = select_stations(stations, antennas)
    rel_ecef = stations.ecef_m - np.array(
        [location.x.to_value("m"), location.y.to_value("m"), location.z.to_value("m")]
    )
    telescope = Telescope.new(
        name="DSA-110",
        location=location,
        antenna_positions=rel_ecef,
        antenna_names=[f"DSA-{n:03d}" for n in stations.numbers],
        antenna_numbers=stations.numbers,
        instrument="DSA-110",
        antenna_diameters=np.full(len(stations), DISH_DIAMETER_M),
        feeds=["x", "y"],
        mount_type="alt-az",
        update_from_known=False,
    )
    times_jd = t0.jd + (np.arange(n_integrations) + 0.5) * INTEGRATION_S / 86400.0
    freqs, chan_width = _frequencies(n_channels_per_subband)
    nums = stations.numbers
    antpairs = [(int(nums[i]), int(nums[j])) for i in range(len(nums)) for j in range(i, len(nums))]
    az_deg, alt_deg = meridian_altaz(dec_deg, OVRO_LAT_DEG)
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

        names = dict(zip(telescope.antenna_numbers, telescope.antenna_names, strict=True))
        corruption_truth = corrupt_visibilities(
            full, ant1=uv.ant_1_array, ant2=uv.ant_2_array, times_jd=uv.time_array,
            freqs_hz=freqs, spec=corruption, noise_jy=noise_jy or 1.0, band_hz=BAND_HZ,
            antenna_names=names,
        )
    # keep the full-band object metadata-only: selecting a subband then copies no data
    uv.data_array = uv.flag_array = uv.nsample_array = None

    # --- write the subbands ------------------------------------------------------------------
    todo = list(range(N_SUBBANDS)) if subbands is None else sorted(subbands)
    paths = []
    for sb in todo:
        # sb00 holds the highest frequencies
        k0 = (N_SUBBANDS - 1 - sb) * n_channels_per_subband
        chans = np.arange(k0, k0 + n_channels_per_subband)
        sub = uv.select(freq_chans=chans, inplace=False, run_check=False)
        sub.data_array = full[:, chans, :]
        sub.flag_array = np.zeros(sub.data_array.shape, dtype=bool)
        sub.nsample_array = np.ones(sub.data_array.shape, dtype=np.float32)
        path = out_dir / subband_filename(timestamp, sb)
        tmp = path.with_name("." + path.name + ".part")
        sub.write_uvh5(str(tmp), clobber=True, run_check=(sb == todo[0]))
        tmp.replace(path)
        paths.append(path)
    if corruption_truth is not None:
        from .corruptions import write_truth

        write_truth(corruption_truth, out_dir / f"{timestamp}_corruptions.json")
    log.info(
        "simulated group %s: %d sources, %d subbands in %s",
        timestamp,
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
        corruption=corruption_truth,
    )
