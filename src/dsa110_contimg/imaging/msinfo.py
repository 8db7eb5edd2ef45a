"""What imaging needs to know about a Measurement Set (times, band, baselines, phase centre).

A Measurement Set may hold several spectral windows (one per contiguous block of subbands,
possibly of different channel counts): channels are read per window and rows per data
description, never as one fixed-shape column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ImagingError

__all__ = ["MsInfo", "read_ms_info"]


@dataclass(frozen=True)
class MsInfo:
    """Summary of a Measurement Set.

    Attributes
    ----------
    path : Path
        The Measurement Set.
    times_mjd_s : numpy.ndarray
        Unique integration mid times (MJD seconds, UTC).
    integration_s : float
        Integration time in seconds.
    start_mjd, end_mjd : float
        Start of the first and end of the last integration (MJD, UTC).
    freqs_hz : numpy.ndarray
        Channel frequencies.
    channel_width_hz : float
        Channel width.
    phase_ra_deg, phase_dec_deg : float
        Phase centre (ICRS/J2000).
    max_baseline_m : float
        Longest projected baseline.
    n_cross_vis : int
        Unflagged cross-correlation visibilities per polarization and channel, summed over
        channels (for the expected thermal noise).
    n_pols : int
        Polarizations.
    n_spws : int
        Spectral windows.
    telescope_name : str
        ``OBSERVATION.TELESCOPE_NAME`` (the observatory CASA knows, ``OVRO_MMA``).
    array_name : str
        The array's own name (``ARRAY_NAME`` keyword of OBSERVATION, else the telescope name).
    """

    path: Path
    times_mjd_s: np.ndarray
    integration_s: float
    start_mjd: float
    end_mjd: float
    freqs_hz: np.ndarray
    channel_width_hz: float
    phase_ra_deg: float
    phase_dec_deg: float
    max_baseline_m: float
    n_cross_vis: int
    n_pols: int
    n_spws: int = 1
    telescope_name: str = ""
    array_name: str = ""

    @property
    def times_jd(self) -> np.ndarray:
        """Integration mid times as Julian dates."""
        return self.times_mjd_s / 86400.0 + 2400000.5

    @property
    def duration_s(self) -> float:
        """Observed time span in seconds."""
        return (self.end_mjd - self.start_mjd) * 86400.0


def read_ms_info(ms_path: str | Path) -> MsInfo:
    """Read the summary of a Measurement Set with python-casacore.

    Raises
    ------
    ImagingError
        The path is not a readable Measurement Set.
    """
    try:
        import casacore.tables as ct
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading a Measurement Set needs python-casacore (the 'radio' extra)"
        ) from exc
    ms_path = Path(ms_path)
    try:
        with ct.table(str(ms_path), ack=False) as t:
            times = t.getcol("TIME")
            interval = t.getcol("INTERVAL")
            uvw = t.getcol("UVW")
            a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
            ddid = t.getcol("DATA_DESC_ID")
            cross = a1 != a2
            n_cross, n_pols = 0, 1
            # per data description: windows may differ in channel count
            for d in np.unique(ddid):
                rows = np.flatnonzero(ddid == d)
                sub = t.selectrows(rows)
                flag = sub.getcol("FLAG")
                n_pols = int(flag.shape[-1]) if flag.ndim == 3 else 1
                if flag.size:
                    n_cross += int(np.count_nonzero(~flag[cross[rows]][..., 0]))
        with ct.table(str(ms_path / "SPECTRAL_WINDOW"), ack=False) as s:
            n_spws = s.nrows()
            freqs = np.concatenate(
                [np.asarray(s.getcell("CHAN_FREQ", i), dtype=float).ravel() for i in range(n_spws)]
            )
            widths = np.abs(
                np.concatenate(
                    [
                        np.asarray(s.getcell("CHAN_WIDTH", i), dtype=float).ravel()
                        for i in range(n_spws)
                    ]
                )
            )
        with ct.table(str(ms_path / "FIELD"), ack=False) as f:
            pdir = np.asarray(f.getcol("PHASE_DIR"), dtype=float)[0, 0]
        telescope_name, array_name = "", ""
        obs_path = ms_path / "OBSERVATION"
        if obs_path.exists():
            with ct.table(str(obs_path), ack=False) as o:
                if o.nrows():
                    telescope_name = str(o.getcell("TELESCOPE_NAME", 0))
                keywords = o.getkeywords()
                array_name = str(keywords.get("ARRAY_NAME", telescope_name))
    except RuntimeError as exc:
        raise ImagingError(f"not a readable Measurement Set ({exc})", path=ms_path) from None
    ut = np.unique(times)
    integ = float(np.median(interval)) if interval.size else 0.0
    bl = np.sqrt((uvw[cross] ** 2).sum(axis=1)) if cross.any() else np.zeros(1)
    return MsInfo(
        path=ms_path,
        times_mjd_s=ut,
        integration_s=integ,
        start_mjd=float((ut.min() - integ / 2) / 86400.0),
        end_mjd=float((ut.max() + integ / 2) / 86400.0),
        freqs_hz=np.sort(freqs),
        channel_width_hz=float(np.median(widths)),
        phase_ra_deg=float(np.degrees(pdir[0]) % 360.0),
        phase_dec_deg=float(np.degrees(pdir[1])),
        max_baseline_m=float(bl.max()),
        n_cross_vis=n_cross,
        n_pols=n_pols,
        n_spws=int(n_spws),
        telescope_name=telescope_name,
        array_name=array_name,
    )
