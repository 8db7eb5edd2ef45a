"""Convert one group of DSA-110 subband UVH5 files into one Measurement Set.

The telescope writes one file per subband, with visibilities phased to the meridian at each
integration (a drift scan). :func:`convert_group` reads every subband with pyuvdata (a file
that cannot be read fails the group, naming the file), joins them along frequency in
ascending order, re-phases the whole group to one phase centre (the meridian position of the
pointing at mid-group, as ICRS) and writes a Measurement Set with python-casacore through
pyuvdata.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConversionError
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
        The subband files of one group.

    Returns
    -------
    pyuvdata.UVData
        All subbands, channels sorted by frequency.

    Raises
    ------
    ConversionError
        A file is missing, truncated, not HDF5, or not a UVH5 file matching the others.
    """
    UVData = _import_pyuvdata()
    paths = [Path(p) for p in paths]
    if not paths:
        raise ConversionError("no subband files in the group")
    parts = []
    for p in paths:
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
        parts.append((float(np.min(uv.freq_array)), p, uv))
    parts.sort(key=lambda t: t[0])
    first = parts[0][2]
    for _, p, uv in parts[1:]:
        if uv.Nblts != first.Nblts or not np.array_equal(uv.time_array, first.time_array):
            raise ConversionError("times/baselines differ from the group's other subbands", path=p)
    try:
        if len(parts) == 1:
            combined = first
        else:
            combined = first.fast_concat(
                [uv for _, _, uv in parts[1:]], axis="freq", inplace=False, run_check=False
            )
    except ValueError as exc:
        raise ConversionError(f"subbands cannot be joined ({exc})", path=parts[0][1]) from None
    combined.reorder_freqs(channel_order="freq")
    return combined


def phase_to_meridian(uv) -> tuple[float, float, float]:
    """Phase a drift-scan group to the meridian position of its pointing at mid-group.

    The pointing is taken from the driftscan phase centre (azimuth/elevation) of the data
    (or the zenith for unprojected data); the ICRS position it has at the mid time of the group
    becomes the one phase centre.

    Returns
    -------
    tuple of float
        ``(ra_deg, dec_deg, mid_time_jd)`` of the phase centre.
    """
    from ..imaging.primary_beam import pointing_icrs

    cat = next(iter(uv.phase_center_catalog.values()))
    if cat["cat_type"] == "driftscan" and cat.get("cat_frame") == "altaz":
        az_deg, alt_deg = np.degrees(cat["cat_lon"]), np.degrees(cat["cat_lat"])
    elif cat["cat_type"] == "unprojected":
        az_deg, alt_deg = 0.0, 90.0
    else:
        raise ConversionError(
            f"expected drift-scan data (driftscan alt-az or unprojected), found {cat['cat_type']!r}"
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
