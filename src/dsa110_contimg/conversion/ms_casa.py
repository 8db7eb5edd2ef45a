"""Make the Measurement Set of a group one that CASA (and DP3, WSClean) reads as meant.

Three things, each found by running CASA tasks on our own Measurement Sets (issue 13):

- **Observatory name.** ``OBSERVATION.TELESCOPE_NAME`` is looked up by CASA in its observatory
  table (``casadata``), which knows ``OVRO_MMA`` but not ``DSA-110``: with an unknown name,
  CASA tasks that need the site (``setjy``, ``gaincal`` with parallactic angles, ``listobs``)
  fail or guess. The MS is therefore labelled ``OVRO_MMA``, as the telescope's own files are
  (``dsamfs``: ``telescope_name = "OVRO_MMA"``). The array's own name (``DSA-110``) is kept
  in ``OBSERVATION.PROJECT`` and in the ``ARRAY_NAME`` keyword of the OBSERVATION table, and
  the array's own centre in pyuvdata's ``OBSERVATION.TELESCOPE_LOCATION`` column; antenna
  positions are absolute (ITRF) in the ANTENNA table, so no geometry comes from CASA's
  ``OVRO_MMA`` position.
- **Antenna numbering.** The ANTENNA table is indexed by antenna number. Numbers starting at
  1 leave an unnamed row 0 at (0, 0, 0), which DP3 refuses and ``listobs`` prints as an
  antenna at the Earth's centre. Antennas are renumbered 0 .. N-1 in the order of their
  numbers (names unchanged), so every row is a real station.
- **Spectral windows.** A group missing a subband has a gap in frequency; as one spectral
  window, CASA's delay solve sees a phase slope across a non-uniform grid and fails (10-30 ns
  errors). Each run of adjacent subbands (channels spaced by one channel width) becomes its
  own spectral window, ascending in frequency.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = [
    "ARRAY_NAME",
    "CASA_TELESCOPE_NAME",
    "contiguous_blocks",
    "label_ms",
    "prepare_for_casa",
    "read_array_name",
]

#: The observatory name CASA's casadata knows for the OVRO site (also what the correlator writes).
CASA_TELESCOPE_NAME = "OVRO_MMA"
#: The array's own name, kept in the MS beside CASA's observatory name.
ARRAY_NAME = "DSA-110"


def contiguous_blocks(freqs_hz, channel_width_hz) -> np.ndarray:
    """Block index of each channel: a new block starts wherever a gap breaks the channel grid.

    Parameters
    ----------
    freqs_hz : array_like
        Channel centres, ascending.
    channel_width_hz : array_like or float
        Channel widths (positive).

    Returns
    -------
    numpy.ndarray
        ``(Nfreqs,)`` int, 0 for the lowest block.

    Examples
    --------
    >>> contiguous_blocks([1.0, 2.0, 3.0, 6.0, 7.0], 1.0).tolist()
    [0, 0, 0, 1, 1]
    """
    f = np.asarray(freqs_hz, dtype=float)
    w = np.abs(np.broadcast_to(np.asarray(channel_width_hz, dtype=float), f.shape))
    if f.size < 2:
        return np.zeros(f.size, dtype=int)
    step = np.diff(f)
    # adjacent channels are one (mean) channel width apart; anything above 1.5 widths is a gap
    gap = step > 1.5 * 0.5 * (w[1:] + w[:-1])
    return np.concatenate([[0], np.cumsum(gap)]).astype(int)


def prepare_for_casa(uv) -> None:
    """Renumber antennas from 0, name the observatory for CASA, split SPWs at gaps (in place).

    Parameters
    ----------
    uv : pyuvdata.UVData
        The group, channels ascending, about to be written with ``write_ms``.
    """
    tel = uv.telescope
    numbers = np.asarray(tel.antenna_numbers, dtype=int)
    order = np.argsort(numbers, kind="stable")
    if not np.array_equal(numbers[order], np.arange(len(numbers))):
        new_of_old = {int(numbers[i]): k for k, i in enumerate(order)}
        lut = np.vectorize(new_of_old.__getitem__, otypes=[int])
        uv.ant_1_array = lut(uv.ant_1_array)
        uv.ant_2_array = lut(uv.ant_2_array)
        tel.antenna_numbers = np.arange(len(numbers))[np.argsort(order)]
        uv.baseline_array = uv.antnums_to_baseline(uv.ant_1_array, uv.ant_2_array)
    tel.name = CASA_TELESCOPE_NAME
    # a fresh, ascending SPW numbering: one window per run of adjacent channels
    blocks = contiguous_blocks(uv.freq_array, uv.channel_width)
    uv.flex_spw_id_array = blocks
    uv.spw_array = np.unique(blocks)
    uv.Nspws = len(uv.spw_array)


def label_ms(ms_path: str | Path, *, array_name: str = ARRAY_NAME) -> None:
    """Record the array's own name in a written MS (``PROJECT`` and ``ARRAY_NAME`` keyword).

    pyuvdata writes the observer as the telescope name; it is set to the array's name too.
    """
    import casacore.tables as ct

    with ct.table(str(Path(ms_path) / "OBSERVATION"), readonly=False, ack=False) as t:
        for row in range(t.nrows()):
            t.putcell("PROJECT", row, array_name)
            t.putcell("OBSERVER", row, array_name)
        t.putkeyword("ARRAY_NAME", array_name)


def read_array_name(ms_path: str | Path) -> str:
    """Return the array's own name from an MS: ``ARRAY_NAME`` keyword, else ``TELESCOPE_NAME``."""
    import casacore.tables as ct

    with ct.table(str(Path(ms_path) / "OBSERVATION"), ack=False) as t:
        if "ARRAY_NAME" in t.getkeywords():
            return str(t.getkeyword("ARRAY_NAME"))
        return str(t.getcell("TELESCOPE_NAME", 0)) if t.nrows() else ""
