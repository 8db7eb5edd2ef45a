"""DSA-110 station positions and the OVRO site.

Two bundled station tables (provenance in ``simulation/data/PROVENANCE.md``):

- ``DSA110_Station_Coordinates.csv`` (2/15/2022): all 117 stations ``DSA-001`` ...
  ``DSA-117`` (103-117 the outriggers) with WGS84 latitude, longitude and elevation. This is
  the table both of DSA-110's own pipelines use to overwrite the antenna positions of the
  telescope's files; :func:`dsa110_stations` reads it, and the converter and the simulator's
  default (real) layout use it.
- ``DSA110_positions_RevF.csv`` (older): described below, used by the older simulated layout.

The RevF station table bundled in ``simulation/data/DSA110_positions_RevF.csv`` is a spreadsheet
export (Revision F, 9/15/20): blank leading columns, a multi-line header, then two station
tables side by side, East-West (stations 1-51 and the two end markers 200W/200E) and
North-South (stations 52-102), each with the station number, the distance from the Tee centre
and WGS84 latitude/longitude. :func:`read_station_table` parses both tables;
:func:`station_positions` converts them to Earth-centred (ECEF) and local East-North-Up
coordinates.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ConfigError

__all__ = [
    "N_STATIONS",
    "OVRO_HEIGHT_M",
    "OVRO_LAT_DEG",
    "OVRO_LON_DEG",
    "DISH_DIAMETER_M",
    "Stations",
    "dsa110_stations",
    "ovro_location",
    "read_station_coordinates",
    "read_station_table",
    "select_stations",
    "station_positions",
    "wgs84_to_ecef",
]

log = logging.getLogger(__name__)

#: Tee centre latitude (WGS84, degrees), from the station table.
OVRO_LAT_DEG = 37.233386982
#: Tee centre longitude (WGS84, degrees east), from the station table.
OVRO_LON_DEG = -118.283405115
#: Height of the site above the WGS84 ellipsoid in metres (the table gives none; OVRO ~1222 m).
OVRO_HEIGHT_M = 1222.0
#: DSA-110 dish diameter in metres.
DISH_DIAMETER_M = 4.65
#: Stations in the 117-station table (the telescope's antenna table: numbers 0-116).
N_STATIONS = 117

_WGS84_A = 6378137.0
_WGS84_F = 1.0 / 298.257223563


def wgs84_to_ecef(lat_deg, lon_deg, height_m) -> np.ndarray:
    """Convert WGS84 geodetic coordinates to Earth-centred Earth-fixed metres.

    Parameters
    ----------
    lat_deg, lon_deg : array_like
        Geodetic latitude and longitude in degrees.
    height_m : array_like
        Height above the ellipsoid in metres.

    Returns
    -------
    numpy.ndarray
        ``(..., 3)`` X, Y, Z in metres.

    Examples
    --------
    >>> xyz = wgs84_to_ecef(0.0, 0.0, 0.0)
    >>> [round(v) for v in xyz]
    [6378137, 0, 0]
    """
    lat = np.radians(np.asarray(lat_deg, dtype=float))
    lon = np.radians(np.asarray(lon_deg, dtype=float))
    h = np.asarray(height_m, dtype=float)
    e2 = _WGS84_F * (2 - _WGS84_F)
    n = _WGS84_A / np.sqrt(1 - e2 * np.sin(lat) ** 2)
    x = (n + h) * np.cos(lat) * np.cos(lon)
    y = (n + h) * np.cos(lat) * np.sin(lon)
    z = (n * (1 - e2) + h) * np.sin(lat)
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def ecef_to_enu(xyz: np.ndarray, *, lat_deg: float, lon_deg: float) -> np.ndarray:
    """Rotate ECEF offsets (``(..., 3)`` metres) to local East, North, Up at a site."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    rot = np.array(
        [
            [-np.sin(lon), np.cos(lon), 0.0],
            [-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)],
            [np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)],
        ]
    )
    return np.asarray(xyz, dtype=float) @ rot.T


def ovro_location():
    """Return the DSA-110 Tee centre as an :class:`astropy.coordinates.EarthLocation`."""
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    return EarthLocation.from_geodetic(
        lon=OVRO_LON_DEG * u.deg, lat=OVRO_LAT_DEG * u.deg, height=OVRO_HEIGHT_M * u.m
    )


@dataclass(frozen=True)
class Stations:
    """Antenna stations of the array.

    Attributes
    ----------
    names : numpy.ndarray
        Station names (``"1"`` ... ``"102"``, ``"200W"``, ``"200E"``).
    numbers : numpy.ndarray
        Antenna numbers (the station number; 200W -> 103, 200E -> 104).
    arm : numpy.ndarray
        ``"EW"`` or ``"NS"``.
    lat_deg, lon_deg : numpy.ndarray
        WGS84 latitude and longitude in degrees.
    ecef_m : numpy.ndarray
        ``(n, 3)`` ECEF positions in metres.
    enu_m : numpy.ndarray
        ``(n, 3)`` East, North, Up metres relative to the Tee centre.
    """

    names: np.ndarray
    numbers: np.ndarray
    arm: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    ecef_m: np.ndarray
    enu_m: np.ndarray

    def __len__(self) -> int:
        return len(self.names)


def _default_table() -> Path:
    return Path(
        str(resources.files("dsa110_contimg.simulation") / "data" / "DSA110_positions_RevF.csv")
    )


def _csv_rows(path: Path) -> list[list[str]]:
    """Rows of a spreadsheet-exported station table."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read the station table ({exc})", path=path) from None
    return list(csv.reader(text.splitlines()))


def _parse_station(cells: list[str], start: int) -> tuple[str, float, float] | None:
    if len(cells) < start + 4:
        return None
    name = cells[start].strip()
    if not name:
        return None
    try:
        lat = float(cells[start + 2])
        lon = float(cells[start + 3])
    except ValueError:
        return None
    return name, lat, lon


def read_station_table(path: str | Path | None = None) -> list[tuple[str, str, float, float]]:
    """Parse both station tables of the DSA-110 position spreadsheet export.

    Parameters
    ----------
    path : str or Path, optional
        The CSV export (default: the bundled Revision F table).

    Returns
    -------
    list of tuple
        ``(name, arm, lat_deg, lon_deg)`` per station, East-West stations first.

    Raises
    ------
    ConfigError
        The file is missing or has no station table header.

    Examples
    --------
    >>> rows = read_station_table()
    >>> len(rows), rows[0][:2], rows[-1][:2]
    (104, ('1', 'EW'), ('102', 'NS'))
    """
    path = Path(path) if path is not None else _default_table()
    rows = _csv_rows(path)
    header_at = None
    for i, cells in enumerate(rows):
        hits = [j for j, c in enumerate(cells) if c.strip().lower() == "station number"]
        if len(hits) >= 2:
            header_at, ew_col, ns_col = i, hits[0], hits[1]
            break
    if header_at is None:
        raise ConfigError(
            "no 'Station Number' header for the two station tables (East-West, North-South)",
            path=path,
        )
    ew, ns = [], []
    for cells in rows[header_at + 1 :]:
        a = _parse_station(cells, ew_col)
        if a is not None:
            ew.append((a[0], "EW", a[1], a[2]))
        b = _parse_station(cells, ns_col)
        if b is not None:
            ns.append((b[0], "NS", b[1], b[2]))
    if not ew or not ns:
        raise ConfigError(
            "expected stations in both the East-West and North-South tables", path=path
        )
    return ew + ns


def _station_number(name: str, extra: dict[str, int]) -> int:
    if name.isdigit():
        return int(name)
    return extra[name]


def station_positions(
    path: str | Path | None = None,
    *,
    include_markers: bool = True,
    height_m: float = OVRO_HEIGHT_M,
) -> Stations:
    """Return the DSA-110 stations with ECEF and local ENU positions.

    Parameters
    ----------
    path : str or Path, optional
        Station table (default: the bundled Revision F table).
    include_markers : bool
        Keep the 200W/200E end stations of the East-West arm (numbered 103 and 104).
    height_m : float
        Height of every station above the ellipsoid (the table gives none).

    Returns
    -------
    Stations
        Positions sorted by antenna number.

    Examples
    --------
    >>> st = station_positions()
    >>> len(st), st.numbers[:3].tolist()
    (104, [1, 2, 3])
    >>> round(float(st.enu_m[:, 0].max() - st.enu_m[:, 0].min()))
    400
    """
    rows = read_station_table(path)
    markers = sorted({r[0] for r in rows if not r[0].isdigit()})
    max_num = max(int(r[0]) for r in rows if r[0].isdigit())
    # 200W before 200E: west end first, like the station order along the arm
    markers.sort(key=lambda n: (not n.endswith("W"), n))
    extra = {name: max_num + 1 + i for i, name in enumerate(markers)}
    if not include_markers:
        rows = [r for r in rows if r[0].isdigit()]
    numbers = np.array([_station_number(r[0], extra) for r in rows], dtype=int)
    order = np.argsort(numbers)
    names = np.array([r[0] for r in rows])[order]
    arm = np.array([r[1] for r in rows])[order]
    lat = np.array([r[2] for r in rows])[order]
    lon = np.array([r[3] for r in rows])[order]
    ecef = wgs84_to_ecef(lat, lon, np.full(lat.shape, height_m))
    centre = wgs84_to_ecef(OVRO_LAT_DEG, OVRO_LON_DEG, height_m)
    enu = ecef_to_enu(ecef - centre, lat_deg=OVRO_LAT_DEG, lon_deg=OVRO_LON_DEG)
    return Stations(
        names=names,
        numbers=numbers[order],
        arm=arm,
        lat_deg=lat,
        lon_deg=lon,
        ecef_m=ecef,
        enu_m=enu,
    )


def _default_coordinates() -> Path:
    return Path(
        str(
            resources.files("dsa110_contimg.simulation")
            / "data"
            / "DSA110_Station_Coordinates.csv"
        )
    )


def read_station_coordinates(
    path: str | Path | None = None,
) -> list[tuple[int, float, float, float | None]]:
    """Parse the 117-station table (``DSA-NNN``, latitude, longitude, elevation).

    Parameters
    ----------
    path : str or Path, optional
        The CSV export (default: the bundled ``DSA110_Station_Coordinates.csv``).

    Returns
    -------
    list of tuple
        ``(station number, lat_deg, lon_deg, elevation_m or None)``, by station number.

    Raises
    ------
    ConfigError
        The file is missing, has no ``Station Number`` header or no stations.

    Examples
    --------
    >>> rows = read_station_coordinates()
    >>> len(rows), rows[0][0], rows[-1][0], rows[-1][3] is None
    (117, 1, 117, True)
    """
    path = Path(path) if path is not None else _default_coordinates()
    rows = _csv_rows(path)
    col = None
    out = []
    for cells in rows:
        stripped = [c.strip() for c in cells]
        if col is None:
            if "Station Number" in stripped:
                col = stripped.index("Station Number")
            continue
        if len(stripped) < col + 3 or not stripped[col].upper().startswith("DSA-"):
            continue
        try:
            number = int(stripped[col][4:])
            lat, lon = float(stripped[col + 1]), float(stripped[col + 2])
        except ValueError:
            raise ConfigError(f"unreadable station row {cells!r}", path=path) from None
        elev = stripped[col + 3] if len(stripped) > col + 3 else ""
        out.append((number, lat, lon, float(elev) if elev else None))
    if col is None:
        raise ConfigError("no 'Station Number' header in the station table", path=path)
    if not out:
        raise ConfigError("no DSA-NNN station rows in the station table", path=path)
    return sorted(out)


def dsa110_stations(path: str | Path | None = None) -> Stations:
    """Return the 117 DSA-110 stations with ECEF and local ENU positions.

    Names are the station numbers as strings (``"1"`` ... ``"117"``), as in the telescope's
    files, and ``numbers`` the station numbers 1-117 (the files' antenna numbers are these
    minus one). A blank elevation (DSA-117) takes that of the nearest station with one.
    ``arm`` is ``"EW"`` (1-51), ``"NS"`` (52-102) or ``"OUT"`` (103-117, the outriggers).

    Examples
    --------
    >>> st = dsa110_stations()
    >>> len(st), str(st.names[0]), str(st.arm[-1])
    (117, '1', 'OUT')
    """
    rows = read_station_coordinates(path)
    numbers = np.array([r[0] for r in rows], dtype=int)
    lat = np.array([r[1] for r in rows])
    lon = np.array([r[2] for r in rows])
    elev = np.array([np.nan if r[3] is None else r[3] for r in rows])
    missing = np.flatnonzero(~np.isfinite(elev))
    have = np.flatnonzero(np.isfinite(elev))
    for i in missing:
        d = np.hypot(lat[have] - lat[i], (lon[have] - lon[i]) * np.cos(np.radians(lat[i])))
        elev[i] = elev[have[np.argmin(d)]]
    ecef = wgs84_to_ecef(lat, lon, elev)
    centre = wgs84_to_ecef(OVRO_LAT_DEG, OVRO_LON_DEG, OVRO_HEIGHT_M)
    enu = ecef_to_enu(ecef - centre, lat_deg=OVRO_LAT_DEG, lon_deg=OVRO_LON_DEG)
    arm = np.where(numbers <= 51, "EW", np.where(numbers <= 102, "NS", "OUT"))
    return Stations(
        names=np.array([str(n) for n in numbers]),
        numbers=numbers,
        arm=arm,
        lat_deg=lat,
        lon_deg=lon,
        ecef_m=ecef,
        enu_m=enu,
    )

def select_stations(stations: Stations, numbers) -> Stations:
    """Keep only the stations with these antenna numbers (small simulated arrays).

    Examples
    --------
    >>> len(select_stations(station_positions(), [1, 2, 60]))
    3
    """
    keep = np.isin(stations.numbers, np.asarray(list(numbers), dtype=int))
    if not keep.any():
        raise ConfigError(f"none of the antennas {list(numbers)} is in the station table")
    return Stations(**{f: getattr(stations, f)[keep] for f in stations.__dataclass_fields__})
