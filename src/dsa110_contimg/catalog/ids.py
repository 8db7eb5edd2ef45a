"""Source identity: IAU-style J-names built from positions.

Every catalog source is identified by ``(catalog, source_id)``. Where a survey has its own
name the catalog keeps it; otherwise, and for bare positions (catalog ``"position"``), the id
is the J-name of the position built here, truncated (not rounded) as the IAU recommends, so a
position always falls in the cell its name spells.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["POSITION_CATALOG", "position_source_id", "position_source_ids"]

#: Catalog name of measurements made at bare positions (no catalog source).
POSITION_CATALOG = "position"

_EPS = 1e-9


def _split(
    total: np.ndarray, decimals: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    scale = 10**decimals
    units = np.floor(total * scale + _EPS).astype(np.int64)
    frac = units % scale
    whole = units // scale
    return whole // 3600, (whole // 60) % 60, whole % 60, frac


def position_source_ids(
    ra_deg: ArrayLike, dec_deg: ArrayLike, *, ra_decimals: int = 2, dec_decimals: int = 1
) -> list[str]:
    """Return the J-names of many positions (vectorized :func:`position_source_id`).

    Parameters
    ----------
    ra_deg, dec_deg : array_like
        ICRS/J2000 positions in degrees.
    ra_decimals, dec_decimals : int
        Decimals of the seconds of RA (time) and of Dec (arc).

    Returns
    -------
    list of str
        One name per position.
    """
    ra = np.mod(np.asarray(ra_deg, dtype=float).ravel(), 360.0)
    dec = np.asarray(dec_deg, dtype=float).ravel()
    if ra.shape != dec.shape:
        raise ValueError("ra_deg and dec_deg must have the same length")
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
        raise ValueError("positions must be finite")
    if np.any(np.abs(dec) > 90.0):
        raise ValueError("declinations must lie within [-90, 90] degrees")
    rh, rm, rs, rf = _split(ra / 15.0 * 3600.0, ra_decimals)
    rh = rh % 24
    dd, dm, ds, df = _split(np.abs(dec) * 3600.0, dec_decimals)
    # Assemble the names as a byte matrix, one column per character (no Python loop).
    parts: list[np.ndarray] = [np.full(ra.size, ord("J"), dtype=np.uint8)[:, None]]
    parts += [_digits(rh, 2), _digits(rm, 2), _digits(rs, 2)]
    if ra_decimals:
        parts += [np.full((ra.size, 1), ord("."), dtype=np.uint8), _digits(rf, ra_decimals)]
    parts.append(np.where(dec < 0, ord("-"), ord("+")).astype(np.uint8)[:, None])
    parts += [_digits(dd, 2), _digits(dm, 2), _digits(ds, 2)]
    if dec_decimals:
        parts += [np.full((ra.size, 1), ord("."), dtype=np.uint8), _digits(df, dec_decimals)]
    chars = np.ascontiguousarray(np.concatenate(parts, axis=1))
    return chars.view(f"S{chars.shape[1]}").ravel().astype(str).tolist()


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Return the zero-padded decimal digits of non-negative integers as ASCII codes."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (ord("0") + (values[:, None] // powers) % 10).astype(np.uint8)


def position_source_id(
    ra_deg: float, dec_deg: float, *, ra_decimals: int = 2, dec_decimals: int = 1
) -> str:
    """Return the IAU-style J-name of a position.

    Parameters
    ----------
    ra_deg, dec_deg : float
        ICRS/J2000 position in degrees.
    ra_decimals, dec_decimals : int
        Decimals of the seconds of RA (time) and of Dec (arc); a catalog uses its own
        precision (NVSS names have none: ``ra_decimals=0, dec_decimals=0``).

    Returns
    -------
    str
        ``Jhhmmss.ss+ddmmss.s`` at the requested precision, truncated.

    Examples
    --------
    >>> position_source_id(187.70593, 12.39112)
    'J123049.42+122328.0'
    >>> position_source_id(0.0, -0.5, ra_decimals=0, dec_decimals=0)
    'J000000-003000'
    """
    return position_source_ids(
        [ra_deg], [dec_deg], ra_decimals=ra_decimals, dec_decimals=dec_decimals
    )[0]
