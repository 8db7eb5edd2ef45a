"""Subband file names and the check that a file is a complete, readable UVH5 file.

DSA-110 writes ``<timestamp>_sbNN.hdf5`` (ISO timestamp to the second, subband ``NN``; each
node dates its file by when it opened it, so the 16 names of a group differ by seconds and
the queue groups them within ``stream.group_tolerance_seconds``). The correlator writes
``..._incomplete.hdf5`` and renames the file when it is complete: such names match neither
the stream's file pattern nor :func:`parse_subband_name`, so they are ignored until renamed.

:func:`check_uvh5_file` opens a file with h5py and verifies the UVH5 layout (``Header`` and
``Data`` groups, the visibility, flag and nsample datasets with the shape the header
announces: (Nblts, Nfreqs, Npols), or (Nblts, 1, Nfreqs, Npols) as the correlator writes
them), that the layout is one the converter reads (:func:`~dsa110_contimg.conversion.layout.
inspect_uvh5`) and that every contiguous dataset lies inside the file (a truncated copy fails
here, before it is queued).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ...errors import ConversionError, StreamError
from ..layout import inspect_uvh5

__all__ = ["SubbandName", "check_uvh5_file", "parse_subband_name"]

_NAME = re.compile(r"^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)_sb(?P<sb>\d{2})\.hdf5$")
_HEADER_KEYS = (
    "Nblts",
    "Nfreqs",
    "Npols",
    "freq_array",
    "time_array",
    "ant_1_array",
    "ant_2_array",
)
_DATA_KEYS = ("visdata", "flags", "nsamples")


@dataclass(frozen=True)
class SubbandName:
    """What a subband file name says.

    Attributes
    ----------
    timestamp : str
        The ISO timestamp as written in the name.
    time_unix : float
        The timestamp as Unix seconds (UTC).
    subband : int
        Subband index.
    """

    timestamp: str
    time_unix: float
    subband: int


def parse_subband_name(path: str | Path) -> SubbandName | None:
    """Parse ``<timestamp>_sbNN.hdf5``; None for any other name.

    Examples
    --------
    >>> parse_subband_name("/in/2025-01-15T12:00:00_sb03.hdf5").subband
    3
    >>> parse_subband_name("notes.txt") is None
    True
    """
    m = _NAME.match(Path(path).name)
    if m is None:
        return None
    try:
        dt = datetime.fromisoformat(m["ts"]).replace(tzinfo=UTC)
    except ValueError:
        return None
    return SubbandName(timestamp=m["ts"], time_unix=dt.timestamp(), subband=int(m["sb"]))


def check_uvh5_file(path: str | Path) -> None:
    """Check that a file is a complete UVH5 file with the expected groups and datasets.

    Raises
    ------
    StreamError
        Naming the file and what is wrong: not HDF5, truncated, missing groups or datasets,
        shapes that disagree with the header.
    """
    import h5py
    import numpy as np

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StreamError(f"cannot stat the file ({exc.strerror})", path=path) from None
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except OSError as exc:
        raise StreamError(f"cannot read the file ({exc.strerror})", path=path) from None
    if magic != b"\x89HDF\r\n\x1a\n":
        raise StreamError("not an HDF5 file (no HDF5 signature)", path=path)
    try:
        with h5py.File(path, "r") as f:
            for grp in ("Header", "Data"):
                if grp not in f:
                    raise StreamError(f"not a UVH5 file: no '{grp}' group", path=path)
            header, data = f["Header"], f["Data"]
            missing = [k for k in _HEADER_KEYS if k not in header]
            if missing:
                raise StreamError(f"UVH5 header lacks {', '.join(missing)}", path=path)
            missing = [k for k in _DATA_KEYS if k not in data]
            if missing:
                raise StreamError(f"UVH5 data lacks {', '.join(missing)}", path=path)
            nblts = int(header["Nblts"][()])
            nfreqs = int(header["Nfreqs"][()])
            npols = int(header["Npols"][()])
            shapes = ((nblts, nfreqs, npols), (nblts, 1, nfreqs, npols))
            for key in _DATA_KEYS:
                ds = data[key]
                if tuple(ds.shape) not in shapes:
                    raise StreamError(
                        f"Data/{key} has shape {tuple(ds.shape)}, header says "
                        f"({nblts}, {nfreqs}, {npols}) (or ({nblts}, 1, {nfreqs}, {npols}))",
                        path=path,
                    )
                offset = ds.id.get_offset()
                if offset is not None and offset + ds.id.get_storage_size() > size:
                    raise StreamError(
                        f"truncated: Data/{key} ends at byte {offset + ds.id.get_storage_size()}"
                        f" but the file has {size}",
                        path=path,
                    )
            if nblts:
                np.asarray(data["visdata"][nblts - 1 : nblts])  # the last record reads back
            try:
                inspect_uvh5(path, f)
            except ConversionError as exc:
                raise StreamError(exc.message, path=path) from None
    except StreamError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise StreamError(f"unreadable HDF5 file ({exc})", path=path) from None
