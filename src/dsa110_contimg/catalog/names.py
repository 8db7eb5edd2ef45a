"""Source names and sky positions as users type them: one parser for the CLI, API and web search.

Accepted names (case-insensitive, surrounding spaces ignored):

- ``NVSS J131517+463004``: a survey prefix, a space, a J-name;
- ``J131517+463004``: a J-name (``Jhhmmss[.s…]±ddmmss[.s…]``, also ``Jhhmm.m±ddmm``);
- ``131517+463004``: the bare digits.

A J-name is the *truncated* position (IAU convention, see :mod:`~dsa110_contimg.catalog.ids`),
so the source lies in the cell the name spells: :func:`parse_source_name` returns the centre of
that cell and a radius that covers it, which finds the source whatever precision its catalog
wrote the name with.

Accepted positions: decimal degrees (``197.32 46.5``, ``197.32, +46.5``, ``197.32d 46.5d``) or
sexagesimal (``13:15:17.2 +46:30:04``, ``13h15m17.2s +46d30m04s``, ``13 15 17.2 +46 30 04``);
RA in sexagesimal is in hours. Radii (:func:`parse_angle`): ``0.1`` (degrees unless said
otherwise), ``0.1deg``, ``2'``, ``2arcmin``, ``30"``, ``30arcsec``.

:func:`parse_sky_query` tells a name from a position and returns a :class:`SkyQuery`. Bad input
raises :class:`QueryParseError` (a :class:`~dsa110_contimg.errors.CatalogError` and a
``ValueError``) whose message says what was expected.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import CatalogError

__all__ = [
    "QueryParseError",
    "SkyQuery",
    "SourceName",
    "parse_angle",
    "parse_position",
    "parse_sky_query",
    "parse_source_name",
]

#: Default search radius of a position typed without one (degrees): two beams.
DEFAULT_POSITION_RADIUS_DEG = 2.0 / 60.0


class QueryParseError(CatalogError, ValueError):
    """A name, position or radius could not be read (the message says what was expected)."""


@dataclass(frozen=True)
class SourceName:
    """A source name as typed, normalized.

    Attributes
    ----------
    catalog : str or None
        The survey prefix, lower case (``"nvss"``), when one was typed.
    source_id : str
        The J-name as the catalogs store it (``"J131517+463004"``).
    ra_deg, dec_deg : float
        Centre of the cell the (truncated) name spells, degrees.
    radius_deg : float
        Radius of a cone that covers that cell, degrees.
    """

    catalog: str | None
    source_id: str
    ra_deg: float
    dec_deg: float
    radius_deg: float


@dataclass(frozen=True)
class SkyQuery:
    """What a search box held: a source name or a position, and the cone to search.

    Attributes
    ----------
    kind : str
        ``"name"`` or ``"position"``.
    ra_deg, dec_deg, radius_deg : float
        The cone (for a name: the cell of the name, or the radius asked for if larger).
    name : SourceName or None
        The parsed name when ``kind == "name"``.
    text : str
        The text as typed (stripped).
    """

    kind: str
    ra_deg: float
    dec_deg: float
    radius_deg: float
    name: SourceName | None
    text: str


_NAME = re.compile(
    r"^(?:(?P<cat>[A-Za-z][A-Za-z0-9_.\-]*)\s+)?J?\s*"
    r"(?P<ra>\d{4,6}(?:\.\d+)?)\s*(?P<sign>[+\-\u2212])\s*(?P<dec>\d{2,6}(?:\.\d+)?)$",
    re.IGNORECASE,
)


def _split_digits(text: str, what: str, full: str) -> tuple[list[int], str]:
    """Return the integer fields (2 digits each) and the decimal part of ``hhmmss.s``-like text."""
    whole, _, frac = text.partition(".")
    if len(whole) % 2:
        raise QueryParseError(
            f"cannot read the {what} of the name {full!r}: expected pairs of digits "
            f"(hhmmss or ddmmss), got {whole!r}"
        )
    return [int(whole[i : i + 2]) for i in range(0, len(whole), 2)], frac


def _fields_to_value(fields: list[int], frac: str) -> tuple[float, float]:
    """Return (value in the first field's unit, size of the last digit in that unit)."""
    scale = [1.0, 1 / 60.0, 1 / 3600.0][: len(fields)]
    value = sum(f * s for f, s in zip(fields, scale, strict=True))
    unit = scale[len(fields) - 1]
    if frac:
        unit = unit / 10 ** len(frac)
        value += int(frac) * unit
    return value, unit


def parse_source_name(text: str) -> SourceName:
    """Parse a source name as typed: ``NVSS J131517+463004``, ``J131517+463004``, ``131517+463004``.

    Parameters
    ----------
    text : str
        The name.

    Returns
    -------
    SourceName
        The survey prefix (lower case) if any, the J-name as stored by the catalogs and the
        cell of sky the truncated name spells.

    Raises
    ------
    QueryParseError
        Text that is not a J-name, or fields out of range (minutes or seconds >= 60,
        hours >= 24, declination beyond 90).

    Examples
    --------
    >>> n = parse_source_name("NVSS J131517+463004")
    >>> n.catalog, n.source_id
    ('nvss', 'J131517+463004')
    >>> round(n.ra_deg, 5), round(n.dec_deg, 5)
    (198.82292, 46.50125)
    >>> parse_source_name("131517+463004").source_id
    'J131517+463004'
    >>> parse_source_name(" j131517.25-463004.1 ").source_id
    'J131517.25-463004.1'
    >>> parse_source_name("J1315+46").source_id
    'J1315+46'
    """
    raw = text.strip()
    m = _NAME.match(raw)
    if m is None:
        raise QueryParseError(
            f"{raw!r} is not a source name: expected e.g. 'NVSS J131517+463004', "
            "'J131517+463004' or '131517+463004'"
        )
    sign = "-" if m["sign"] in "-\u2212" else "+"
    ra_f, ra_frac = _split_digits(m["ra"], "right ascension", raw)
    dec_f, dec_frac = _split_digits(m["dec"], "declination", raw)
    if len(ra_f) > 3 or len(dec_f) > 3 or len(ra_f) < 2:
        raise QueryParseError(f"cannot read {raw!r}: expected hhmm[ss] and dd[mm[ss]] digits")
    if ra_f[0] >= 24 or any(x >= 60 for x in ra_f[1:] + dec_f[1:]) or dec_f[0] > 90:
        raise QueryParseError(
            f"the position in the name {raw!r} is out of range "
            "(hours < 24, minutes and seconds < 60, degrees <= 90)"
        )
    ra_h, ra_unit = _fields_to_value(ra_f, ra_frac)
    dec_d, dec_unit = _fields_to_value(dec_f, dec_frac)
    # the name is truncated: the source is in [value, value + unit); return the cell's centre
    ra_deg = ((ra_h + ra_unit / 2) * 15.0) % 360.0
    dec_abs = min(dec_d + dec_unit / 2, 90.0)
    dec_deg = -dec_abs if sign == "-" else dec_abs
    if abs(dec_d) > 90.0:
        raise QueryParseError(f"the declination in the name {raw!r} is beyond 90 degrees")
    half_ra = ra_unit * 15.0 / 2 * max(math.cos(math.radians(dec_deg)), 1e-6)
    radius = math.hypot(half_ra, dec_unit / 2) * 1.05
    source_id = f"J{m['ra']}{sign}{m['dec']}"
    cat = m["cat"].lower() if m["cat"] else None
    return SourceName(cat, source_id, ra_deg, dec_deg, radius)


_NUMBER = re.compile(r"^[+\-\u2212]?(?:\d+\.?\d*|\.\d+)(?:[eE][+\-]?\d+)?$")
_ANGLE = re.compile(
    r"^(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+\-]?\d+)?)\s*"
    r"(?P<unit>deg|degrees?|d|°|arcmin|amin|'|′|arcsec|asec|\"|″|'')?$",
    re.IGNORECASE,
)
_ANGLE_UNITS = {
    "deg": 1.0,
    "degree": 1.0,
    "degrees": 1.0,
    "d": 1.0,
    "°": 1.0,
    "arcmin": 1 / 60.0,
    "amin": 1 / 60.0,
    "'": 1 / 60.0,
    "′": 1 / 60.0,
    "arcsec": 1 / 3600.0,
    "asec": 1 / 3600.0,
    '"': 1 / 3600.0,
    "″": 1 / 3600.0,
    "''": 1 / 3600.0,
}


def parse_angle(text: str | float, *, default_unit: str = "deg") -> float:
    """Parse a (non-negative) angle such as a search radius and return it in degrees.

    Parameters
    ----------
    text : str or float
        ``0.1``, ``0.1deg``, ``2'``, ``2arcmin``, ``30"``, ``30arcsec``.
    default_unit : str
        Unit of a bare number (``"deg"``, ``"arcmin"`` or ``"arcsec"``).

    Returns
    -------
    float
        The angle in degrees.

    Raises
    ------
    QueryParseError
        Text that is not a non-negative finite angle.

    Examples
    --------
    >>> parse_angle("2'")
    0.03333333333333333
    >>> parse_angle("30 arcsec") * 3600
    30.0
    >>> parse_angle("0.5")
    0.5
    """
    if isinstance(text, int | float):
        value = float(text) * _ANGLE_UNITS[default_unit]
    else:
        m = _ANGLE.match(text.strip())
        if m is None:
            raise QueryParseError(
                f"cannot read the angle {text!r}: expected e.g. 0.1 (degrees), 0.1deg, 2', "
                '2arcmin, 30" or 30arcsec'
            )
        unit = (m["unit"] or default_unit).lower()
        value = float(m["num"]) * _ANGLE_UNITS[unit]
    if not math.isfinite(value) or value < 0:
        raise QueryParseError(f"the angle {text!r} must be a non-negative finite number")
    return value


_SEXA = re.compile(
    r"^(?P<sign>[+\-\u2212])?(?P<a>\d+)\s*[:hHdD°\s]\s*(?P<b>\d+)\s*[:mM'′\s]\s*"
    r"(?P<c>\d+(?:\.\d*)?|\.\d+)?\s*[sS\"″]?$"
)


def _sexagesimal(token: str, *, hours: bool, full: str) -> float:
    m = _SEXA.match(token)
    if m is None:
        what = "right ascension" if hours else "declination"
        raise QueryParseError(f"cannot read the {what} {token!r} in {full!r}")
    a, b = int(m["a"]), int(m["b"])
    c = float(m["c"]) if m["c"] else 0.0
    if b >= 60 or c >= 60:
        raise QueryParseError(f"minutes and seconds must be below 60 in {token!r} ({full!r})")
    value = a + b / 60.0 + c / 3600.0
    if m["sign"] in ("-", "\u2212"):
        value = -value
    return value * 15.0 if hours else value


def _decimal(token: str) -> float | None:
    t = token.rstrip("dD°")
    if _NUMBER.match(t):
        return float(t.replace("\u2212", "-"))
    return None


def parse_position(text: str) -> tuple[float, float]:
    """Parse a sky position typed in decimal degrees or sexagesimal (RA in hours).

    Parameters
    ----------
    text : str
        ``197.32 46.5``, ``197.32, -46.5``, ``13:15:17.2 +46:30:04``,
        ``13h15m17.2s +46d30m04s`` or ``13 15 17.2 +46 30 04``.

    Returns
    -------
    tuple of float
        ``(ra_deg, dec_deg)``, RA wrapped into [0, 360).

    Raises
    ------
    QueryParseError
        Text that is not a position, or a position out of range.

    Examples
    --------
    >>> parse_position("197.32, +46.5")
    (197.32, 46.5)
    >>> ra, dec = parse_position("13:15:17.2 -46:30:04")
    >>> round(ra, 5), round(dec, 5)
    (198.82167, -46.50111)
    >>> [round(x, 5) for x in parse_position("13h15m17.2s +46d30m04s")]
    [198.82167, 46.50111]
    >>> [round(x, 5) for x in parse_position("13 15 17.2 +46 30 04")]
    [198.82167, 46.50111]
    """
    raw = text.strip()
    tokens = [t for t in re.split(r"[\s,;]+", raw.replace("\u2212", "-")) if t]
    if len(tokens) == 6:
        ra_t, dec_t = " ".join(tokens[:3]), " ".join(tokens[3:])
    elif len(tokens) == 4 and all(_NUMBER.match(t) for t in tokens):
        ra_t, dec_t = " ".join(tokens[:2]) + " 0", " ".join(tokens[2:]) + " 0"
    elif len(tokens) == 2:
        ra_t, dec_t = tokens
    else:
        raise QueryParseError(
            f"cannot read the position {raw!r}: expected RA and Dec in decimal degrees "
            "('197.32 46.5') or sexagesimal ('13:15:17.2 +46:30:04', '13h15m17.2s +46d30m04s')"
        )
    ra = _decimal(ra_t)
    if ra is None:
        ra = _sexagesimal(ra_t, hours=True, full=raw)
    dec = _decimal(dec_t)
    if dec is None:
        dec = _sexagesimal(dec_t, hours=False, full=raw)
    if not (math.isfinite(ra) and math.isfinite(dec)) or abs(dec) > 90.0 or not -360 <= ra <= 360:
        raise QueryParseError(
            f"the position {raw!r} is out of range (RA 0-360 deg or 0-24 h, Dec -90..90 deg)"
        )
    return ra % 360.0, dec


def parse_sky_query(
    text: str,
    *,
    radius: str | float | None = None,
    default_radius_deg: float = DEFAULT_POSITION_RADIUS_DEG,
) -> SkyQuery:
    """Read what a user typed into a search box: a source name or a position (with a radius).

    Parameters
    ----------
    text : str
        A name (see :func:`parse_source_name`) or a position (see :func:`parse_position`).
    radius : str or float, optional
        Search radius (see :func:`parse_angle`; a bare number is degrees). For a name, the
        cone is the name's cell or this radius, whichever is larger.
    default_radius_deg : float
        Radius of a position typed without one.

    Returns
    -------
    SkyQuery

    Raises
    ------
    QueryParseError
        Neither a name nor a position, or a bad radius.

    Examples
    --------
    >>> q = parse_sky_query("NVSS J131517+463004")
    >>> q.kind, q.name.source_id
    ('name', 'J131517+463004')
    >>> q = parse_sky_query("13:15:17.2 +46:30:04", radius="3'")
    >>> q.kind, round(q.radius_deg * 60, 3)
    ('position', 3.0)
    """
    raw = (text or "").strip()
    if not raw:
        raise QueryParseError("empty search: type a source name or a position")
    r = parse_angle(radius) if radius not in (None, "") else None
    try:
        name = parse_source_name(raw)
    except QueryParseError:
        name = None
    if name is not None:
        rad = max(name.radius_deg, r or 0.0)
        return SkyQuery("name", name.ra_deg, name.dec_deg, rad, name, raw)
    try:
        ra, dec = parse_position(raw)
    except QueryParseError as exc:
        raise QueryParseError(
            f"{raw!r} is neither a source name ('NVSS J131517+463004', 'J131517+463004', "
            "'131517+463004') nor a position ('197.32 46.5', '13:15:17.2 +46:30:04')"
        ) from exc
    return SkyQuery("position", ra, dec, r if r is not None else default_radius_deg, None, raw)
