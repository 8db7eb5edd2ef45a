"""Convert one group of DSA-110 subband UVH5 files into one Measurement Set.

The telescope writes one file per subband, with visibilities fringe-stopped at each
integration to the meridian (hour angle 0) at the pointing declination (a drift scan).
:func:`convert_group` reads every subband with pyuvdata (a file that cannot be read, or whose
layout is neither the telescope's nor our older simulated one, fails the group naming the
file; see :mod:`.layout`), joins them along frequency in ascending order, re-phases the whole
group to one phase centre (the meridian position of the pointing at mid-group, as ICRS) and
writes a Measurement Set with python-casacore through pyuvdata, labelled for CASA
(:mod:`.ms_casa`).

Reading the telescope's layout (``docs/dsa110-files.md`` has each fact's source):

- ``uvw_array`` is float32 in the files: cast to float64 on read (pyuvdata refuses to join
  float32 uvws).
- ``phase_type = "drift"`` with ``extra_keywords['phase_center_dec']``: the data are already
  fringe-stopped at each integration to hour angle 0 at that declination. pyuvdata reads such
  a file as "unprojected" (phased at the zenith), which would re-phase from the wrong
  direction. Instead the phase centre becomes a pyuvdata ``driftscan`` alt-az centre at hour
  angle 0 and that declination (``erfa.hd2ae``; pyuvdata turns it back with ``erfa.ae2hd``,
  so each integration's apparent centre is RA = LST, Dec = pointing, exactly).
- Antenna positions are overwritten from the bundled 117-station table (as both of DSA-110's
  own pipelines do), matched by antenna name (the station number), relative to the file's
  telescope location; the uvws are then recomputed from them for that centre (the w the
  correlator fringe-stopped with, given the same positions).
- NaN visibilities (the last integration after a correlator disconnect) are flagged and
  zeroed; descending channels are sorted; baselines are conjugated to ``ant1 <= ant2``.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConversionError
from .layout import FileLayout, inspect_uvh5
from .ms_casa import label_ms, prepare_for_casa

__all__ = ["ConversionResult", "convert_group", "read_group", "phase_to_meridian"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConversionResult:
    """A converted group.

    Attributes
    ----------
    ms_path : Path
        The Measurement Set written.
    n_files : int
        Subband files read.
    phase_ra_deg, phase_dec_deg : float
        The ICRS phase centre (meridian at mid-group).
    mid_time_jd : float
        Mid time of the group (JD UTC).
    start_time_jd, end_time_jd : float
        Start of the first and end of the last integration (JD UTC).
    n_channels : int
        Channels in the Measurement Set.
    read_seconds, convert_seconds : float
        Wall time spent reading and phasing/writing.
    """

    ms_path: Path
    n_files: int
    phase_ra_deg: float
    phase_dec_deg: float
    mid_time_jd: float
    start_time_jd: float
    end_time_jd: float
    n_channels: int
    read_seconds: float
    convert_seconds: float


def _import_pyuvdata():
    try:
        from pyuvdata import UVData
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("conversion needs pyuvdata: install the 'radio' extra") from exc
    return UVData


def read_group(paths) -> object:
    """Read subband UVH5 files and join them along frequency (ascending).

    Parameters
    ----------
    paths : sequence of str or Path
        The subband files of one group (the telescope's layout or the older simulated one).

    Returns
    -------
    pyuvdata.UVData
        All subbands, channels sorted by frequency, ``ant1 <= ant2``, float64 uvws, NaNs
        flagged, phase centre a ``driftscan`` alt-az centre on the meridian.

    Raises
    ------
    ConversionError
        A file is missing, truncated, not HDF5, of an unknown layout
        (:class:`~dsa110_contimg.conversion.layout.UnknownLayoutError`), or not matching the
        others.
    """
    UVData = _import_pyuvdata()
    paths = [Path(p) for p in paths]
    if not paths:
        raise ConversionError("no subband files in the group")
    parts = []
    stations = None
    for p in paths:
        if not p.exists():
            raise ConversionError("subband file is missing", path=p)
        layout = inspect_uvh5(p)
        uv = UVData()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                uv.read(str(p), file_type="uvh5", run_check=False)
        except FileNotFoundError:
            raise ConversionError("subband file is missing", path=p) from None
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise ConversionError(
                f"not a readable UVH5 file ({type(exc).__name__}: {exc})", path=p
            ) from None
        if uv.data_array is None or uv.Nfreqs < 1:
            raise ConversionError("UVH5 file holds no visibilities", path=p)
        uv.uvw_array = np.asarray(uv.uvw_array, dtype=np.float64)
        if layout.name == "dsa110":
            if stations is None:
                from ..simulation.antennas import dsa110_stations

                stations = dsa110_stations()
            _from_correlator(uv, layout, stations, p)
        _flag_nans(uv)
        _ascending_channels(uv)
        parts.append((float(np.min(uv.freq_array)), p, uv))
    parts.sort(key=lambda t: t[0])
    first = parts[0][2]
    for _, p, uv in parts[1:]:
        same = (
            uv.Nblts == first.Nblts
            and np.allclose(uv.time_array, first.time_array, rtol=0, atol=1e-8)
            and np.array_equal(uv.ant_1_array, first.ant_1_array)
            and np.array_equal(uv.ant_2_array, first.ant_2_array)
        )
        if not same:
            raise ConversionError("times/baselines differ from the group's other subbands", path=p)
        uv.time_array = first.time_array
    try:
        if len(parts) == 1:
            combined = first
        else:
            combined = first.fast_concat(
                [uv for _, _, uv in parts[1:]], axis="freq", inplace=False, run_check=False
            )
    except ValueError as exc:
        raise ConversionError(f"subbands cannot be joined ({exc})", path=parts[0][1]) from None
    if not np.all(np.diff(combined.freq_array) > 0):  # subbands overlap: the general sort
        combined.reorder_freqs(channel_order="freq", run_check=False)
    _conjugate_to_ant1_le_ant2(combined)
    return combined


def _ascending_channels(uv) -> None:
    """Flip a file's descending channels (the correlator's usual order) in one copy."""
    f = np.asarray(uv.freq_array)
    if f.size < 2 or not np.all(np.diff(f) < 0):
        return
    uv.freq_array = f[::-1].copy()
    uv.channel_width = np.asarray(uv.channel_width)[::-1].copy()
    uv.flex_spw_id_array = np.asarray(uv.flex_spw_id_array)[::-1].copy()
    for name in ("data_array", "flag_array", "nsample_array"):
        setattr(uv, name, np.ascontiguousarray(getattr(uv, name)[:, ::-1, :]))


def _conjugate_to_ant1_le_ant2(uv) -> None:
    """Conjugate ``ant1 > ant2`` baselines in place (pyuvdata's generic path copies ~3x)."""
    swap = uv.ant_1_array > uv.ant_2_array
    if not swap.any():
        return
    pols = set(int(p) for p in uv.polarization_array)
    if pols - {-5, -6, -1, -2, 1}:  # cross-hands swap on conjugation: pyuvdata does it
        uv.conjugate_bls("ant1<ant2")
        return
    np.conjugate(uv.data_array, out=uv.data_array, where=swap[:, None, None])
    uv.uvw_array[swap] *= -1.0
    a1 = uv.ant_1_array.copy()
    uv.ant_1_array = np.where(swap, uv.ant_2_array, a1)
    uv.ant_2_array = np.where(swap, a1, uv.ant_2_array)
    uv.baseline_array = uv.antnums_to_baseline(uv.ant_1_array, uv.ant_2_array)


def _from_correlator(uv, layout: FileLayout, stations, path: Path) -> None:
    """Turn a file of the telescope's layout into a meridian driftscan with true positions."""
    import erfa

    tel = uv.telescope
    try:
        numbers = np.array([int(str(n).strip()) for n in tel.antenna_names])
    except ValueError:
        raise ConversionError(
            "antenna names are not station numbers ('1' ... '117'): cannot take positions "
            "from the station table",
            path=path,
        ) from None
    index = {int(n): i for i, n in enumerate(stations.numbers)}
    unknown = sorted(set(numbers.tolist()) - set(index))
    if unknown:
        raise ConversionError(f"antennas {unknown[:5]} are not in the 117-station table", path=path)
    ecef = stations.ecef_m[[index[n] for n in numbers]]
    tel.antenna_positions = ecef - tel._location.xyz()
    az, el = erfa.hd2ae(0.0, layout.pointing_dec_rad, tel.location.lat.rad)
    dec_deg = float(np.degrees(layout.pointing_dec_rad))
    cat_id = uv._add_phase_center(
        f"meridian_dec{dec_deg:+.3f}",
        cat_type="driftscan",
        cat_lon=float(az),
        cat_lat=float(el),
        cat_frame="altaz",
    )
    uv.phase_center_id_array = np.full(uv.Nblts, cat_id, dtype=int)
    uv._clear_unused_phase_centers()
    uv._set_app_coords_helper()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uv.set_uvws_from_antenna_positions(update_vis=False)


def _flag_nans(uv) -> None:
    bad = ~np.isfinite(uv.data_array)
    if bad.any():
        log.warning("flagging %d non-finite visibilities", int(bad.sum()))
        uv.flag_array = np.asarray(uv.flag_array, dtype=bool) | bad
        uv.data_array[bad] = 0.0


def phase_to_meridian(uv) -> tuple[float, float, float]:
    """Phase a drift-scan group to the meridian position of its pointing at mid-group.

    The pointing is taken from the driftscan phase centre (azimuth/elevation) of the data, as
    :func:`read_group` sets it; the ICRS position it has at the mid time of the group becomes
    the one phase centre. Unprojected data are refused: pyuvdata reads the telescope's
    ``drift`` files as unprojected, and re-phasing them from the zenith is the silent error
    this converter must never make.

    Returns
    -------
    tuple of float
        ``(ra_deg, dec_deg, mid_time_jd)`` of the phase centre.
    """
    from ..imaging.primary_beam import pointing_icrs

    cat = next(iter(uv.phase_center_catalog.values()))
    if cat["cat_type"] == "driftscan" and cat.get("cat_frame") == "altaz":
        az_deg, alt_deg = np.degrees(cat["cat_lon"]), np.degrees(cat["cat_lat"])
    else:
        raise ConversionError(
            f"expected meridian drift-scan data (a driftscan alt-az phase centre), found "
            f"{cat['cat_type']!r}: read the files with read_group"
        )
    times = np.unique(uv.time_array)
    mid = float(0.5 * (times.min() + times.max()))
    ra, dec = pointing_icrs(
        mid, az_deg=float(az_deg), alt_deg=float(alt_deg), location=uv.telescope.location
    )
    ra_deg, dec_deg = float(ra[0]), float(dec[0])
    uv.phase(
        ra=np.radians(ra_deg),
        dec=np.radians(dec_deg),
        cat_name=f"meridian_{ra_deg:07.3f}{dec_deg:+07.3f}",
        phase_frame="icrs",
        epoch="J2000",
    )
    return ra_deg, dec_deg, mid


def convert_group(paths, ms_path: str | Path, *, overwrite: bool = True) -> ConversionResult:
    """Convert the subband files of one group into a Measurement Set.

    Parameters
    ----------
    paths : sequence of str or Path
        The group's subband UVH5 files (any order).
    ms_path : str or Path
        The Measurement Set to write (a directory).
    overwrite : bool
        Replace an existing Measurement Set (a previous, interrupted attempt).

    Returns
    -------
    ConversionResult
        Where the MS is and what it holds.

    Raises
    ------
    ConversionError
        A file cannot be read, the subbands do not match, or the MS cannot be written.
    """
    import time

    t0 = time.perf_counter()
    uv = read_group(paths)
    t1 = time.perf_counter()
    ms_path = Path(ms_path)
    ra_deg, dec_deg, mid = phase_to_meridian(uv)
    if ms_path.exists():
        if not overwrite:
            raise ConversionError("Measurement Set already exists", path=ms_path)
        shutil.rmtree(ms_path)
    ms_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = ms_path.with_name(ms_path.name + ".part")
    if tmp.exists():
        shutil.rmtree(tmp)
    prepare_for_casa(uv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            uv.write_ms(str(tmp), clobber=True, run_check=False)
        label_ms(tmp)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "writing a Measurement Set needs python-casacore (the 'radio' extra)"
        ) from exc
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConversionError(f"cannot write the Measurement Set ({exc})", path=ms_path) from None
    tmp.rename(ms_path)
    t2 = time.perf_counter()
    times = np.unique(uv.time_array)
    half = float(np.median(uv.integration_time)) / 2 / 86400.0
    log.info("converted %d subbands -> %s (%d channels)", len(paths), ms_path, uv.Nfreqs)
    return ConversionResult(
        ms_path=ms_path,
        n_files=len(list(paths)),
        phase_ra_deg=ra_deg,
        phase_dec_deg=dec_deg,
        mid_time_jd=mid,
        start_time_jd=float(times.min() - half),
        end_time_jd=float(times.max() + half),
        n_channels=int(uv.Nfreqs),
        read_seconds=t1 - t0,
        convert_seconds=t2 - t1,
    )
