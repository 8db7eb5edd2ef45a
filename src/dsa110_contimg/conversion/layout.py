"""Which UVH5 layout a subband file has: the telescope's, our older simulated one, or neither.

Two layouts are read (``docs/dsa110-files.md`` gives each fact with its source):

``dsa110``
    What DSA-110's correlator writes (``dsamfs/io.py``): ``phase_type = "drift"`` while the
    data are fringe-stopped at each integration to hour angle 0 at the pointing declination,
    given only in ``extra_keywords['phase_center_dec']`` (radians; ``ha_phase_center`` 0,
    ``phase_center_epoch`` "HADEC"); float32 ``uvw_array``; ``Data/visdata`` of shape
    (Nblts, 1, Nfreqs, Npols).
``legacy``
    The project's older simulated files: pyuvdata's own layout with one ``driftscan`` alt-az
    phase centre (the meridian at the pointing declination).

:func:`inspect_uvh5` reads only the header (h5py) and refuses anything else with a
:class:`UnknownLayoutError` naming the file and what differs: a file that is neither would
otherwise be phased from a guessed direction, silently (pyuvdata reads a bare ``drift`` file as
"unprojected", i.e. phased at the zenith).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ConversionError

__all__ = ["FileLayout", "UnknownLayoutError", "inspect_uvh5"]

#: Polarization sets the correlator writes: XX, YY, or XX, XY, YX, YY.
_POLS = ({-5, -6}, {-5, -6, -7, -8})


class UnknownLayoutError(ConversionError):
    """A UVH5 file matches neither the telescope's layout nor the older simulated one."""


@dataclass(frozen=True)
class FileLayout:
    """What :func:`inspect_uvh5` found.

    Attributes
    ----------
    name : {"dsa110", "legacy"}
        The layout.
    pointing_dec_rad : float or None
        ``extra_keywords['phase_center_dec']`` of the telescope's layout (None for legacy).
    spw_axis : bool
        ``Data/visdata`` has the old length-1 spectral-window axis.
    """

    name: str
    pointing_dec_rad: float | None
    spw_axis: bool


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "item"):
        return _text(value.item())
    return str(value)


def _scalar(group, key):
    return group[key][()] if key in group else None


def inspect_uvh5(path: str | Path, h5file=None) -> FileLayout:
    """Identify the layout of one subband file from its header.

    Parameters
    ----------
    path : str or Path
        The file (named in errors).
    h5file : h5py.File, optional
        The file already open (the stream's file check passes it).

    Returns
    -------
    FileLayout

    Raises
    ------
    UnknownLayoutError
        Naming the file and what differs from both layouts.
    """
    import h5py

    path = Path(path)
    if h5file is None:
        try:
            with h5py.File(path, "r") as f:
                return inspect_uvh5(path, f)
        except OSError as exc:
            raise ConversionError(f"not a readable HDF5 file ({exc})", path=path) from None
    f = h5file
    if "Header" not in f or "Data" not in f:
        raise UnknownLayoutError("not a UVH5 file: no 'Header' and 'Data' groups", path=path)
    h = f["Header"]
    vis = f["Data"].get("visdata")
    if vis is None:
        raise UnknownLayoutError("not a UVH5 file: no Data/visdata", path=path)
    spw_axis = len(vis.shape) == 4
    if len(vis.shape) not in (3, 4) or (spw_axis and vis.shape[1] != 1):
        raise UnknownLayoutError(
            f"Data/visdata has shape {tuple(vis.shape)}: expected (Nblts, Nfreqs, Npols) or "
            "(Nblts, 1, Nfreqs, Npols)",
            path=path,
        )
    pols = _scalar(h, "polarization_array")
    if pols is None or set(int(p) for p in pols) not in _POLS:
        raise UnknownLayoutError(
            f"polarizations {None if pols is None else [int(p) for p in pols]}: the correlator "
            "writes XX, YY (-5, -6) or XX, XY, YX, YY (-5, -7, -8, -6)",
            path=path,
        )
    phase_type = _scalar(h, "phase_type")
    extra = h.get("extra_keywords")
    if phase_type is not None:
        phase_type = _text(phase_type)
        if phase_type != "drift":
            raise UnknownLayoutError(
                f"phase_type {phase_type!r}: the telescope's files are 'drift' "
                "(fringe-stopped at the meridian) and the older simulated ones have a "
                "driftscan phase-centre catalog",
                path=path,
            )
        if extra is None or "phase_center_dec" not in extra:
            raise UnknownLayoutError(
                "phase_type 'drift' without extra_keywords['phase_center_dec']: not the "
                "telescope's layout (which gives the declination the data are fringe-stopped "
                "at); it would be read as phased at the zenith",
                path=path,
            )
        ha = float(extra["ha_phase_center"][()]) if "ha_phase_center" in extra else 0.0
        if abs(ha) > 1e-9:
            raise UnknownLayoutError(
                f"extra_keywords['ha_phase_center'] = {ha}: only meridian fringe-stopping "
                "(hour angle 0) is the telescope's layout",
                path=path,
            )
        dec = float(extra["phase_center_dec"][()])
        if not -1.5708 <= dec <= 1.5708:
            raise UnknownLayoutError(
                f"extra_keywords['phase_center_dec'] = {dec} is not a declination in radians",
                path=path,
            )
        return FileLayout("dsa110", dec, spw_axis)
    cat = h.get("phase_center_catalog")
    if cat is None:
        raise UnknownLayoutError(
            "neither a phase_type (the telescope's layout) nor a phase_center_catalog "
            "(the older simulated layout) in the header",
            path=path,
        )
    entries = [cat[k] for k in cat]
    kinds = [
        (_text(e["cat_type"][()]), _text(e["cat_frame"][()]) if "cat_frame" in e else "")
        for e in entries
    ]
    if len(kinds) != 1 or kinds[0] != ("driftscan", "altaz"):
        found = ", ".join(f"{t} {fr}".strip() for t, fr in kinds) or "none"
        raise UnknownLayoutError(
            f"phase centre catalog holds {found}: not the telescope's layout (phase_type "
            "'drift' + extra_keywords['phase_center_dec']) nor the older simulated one (one "
            "driftscan alt-az centre on the meridian)",
            path=path,
        )
    return FileLayout("legacy", None, spw_axis)
