"""The VLA calibrator list, calibrator flux models and recognizing a calibrator transit.

The bundled list ``calibration/data/vla_calibrators_dsacalib.txt`` is the VLA Calibrator
Manual's source list as DSA-110's own calibration package (``dsacalib``) ships it (provenance
in ``calibration/data/PROVENANCE.md``). Each entry is a J2000 line (name, equinox,
position-accuracy code, RA, Dec, position reference, alternative name such as ``3C286``), a
B1950 line, then one line per band: band wavelength, band letter, a quality code for each VLA
configuration (A B C D: ``P`` primary, ``S`` secondary, ``W`` weak, ``X`` unusable, ``?``
unknown), the flux density in Jy and uv limits.

DSA-110's longest baselines and synthesized beam (1-2 arcmin) are those of the VLA's compact
configurations, so the 20 cm quality code of the **D configuration** decides whether a
calibrator is usable (``X``: unusable): 3C48 (``X P P P``) is usable, a source marked ``X``
in D is not.

Flux scale (:func:`calibrator_flux_jy`): Perley & Butler (2017, ApJS 230, 7, table 6) for the
four primary calibrators 3C286, 3C48, 3C147 and 3C138, ``log10 S = sum a_k log10(nu/GHz)^k``;
for the others the list's 20 cm flux at 1.4 GHz with a power-law spectral index from the 90 cm
(0.33 GHz) and 6 cm (4.86 GHz) fluxes, or, when only one of them is listed, from that one and
the 20 cm flux, else -0.7.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import CalibrationError

__all__ = [
    "PB2017",
    "Calibrator",
    "CalibratorMatch",
    "calibrator_flux_jy",
    "find_calibrator",
    "get_calibrator",
    "load_calibrators",
    "transit_mjd",
]

log = logging.getLogger(__name__)

#: Perley & Butler (2017, ApJS 230, 7), table 6: log10(S/Jy) polynomial in log10(nu/GHz).
PB2017: dict[str, tuple[float, ...]] = {
    "3C48": (1.3253, -0.7553, -0.1914, 0.0498),
    "3C138": (1.0088, -0.4981, -0.155, -0.010, 0.022),
    "3C147": (1.4516, -0.6961, -0.201, 0.064, -0.046, 0.029),
    "3C286": (1.2481, -0.4507, -0.1798, 0.0357),
}

#: Band centres (Hz) of the list's 90, 20 and 6 cm fluxes.
BAND_FREQ_HZ = {"90cm": 0.33e9, "20cm": 1.4e9, "6cm": 4.86e9}
DEFAULT_SPECTRAL_INDEX = -0.7
_REF_HZ = 1.4e9


@dataclass(frozen=True)
class Calibrator:
    """One calibrator of the list.

    Attributes
    ----------
    name : str
        J2000 name from the list (``"1331+305"``).
    alt_name : str or None
        Alternative name (``"3C286"``).
    ra_deg, dec_deg : float
        J2000 position.
    flux_20cm_jy : float
        20 cm (1.4 GHz) flux in Jy (NaN when the list gives none).
    spectral_index : float
        Power-law index used away from 1.4 GHz (not used for the Perley-Butler primaries).
    usable : bool
        Listed at 20 cm with a D-configuration quality code other than ``X``.
    is_primary : bool
        One of the Perley & Butler (2017) flux-scale calibrators.
    quality_20cm : str
        The four 20 cm quality codes (A B C D), e.g. ``"SSPP"``; empty when not listed.
    """

    name: str
    alt_name: str | None
    ra_deg: float
    dec_deg: float
    flux_20cm_jy: float
    spectral_index: float
    usable: bool
    is_primary: bool
    quality_20cm: str = ""


@dataclass(frozen=True)
class CalibratorMatch:
    """A calibrator transiting through the beam during a group.

    Attributes
    ----------
    calibrator : Calibrator
    transit_mjd : float
        When the calibrator crosses the meridian (MJD UTC).
    beam_weighted_flux_jy : float
        Flux at 1.4 GHz times the primary-beam response at transit.
    contamination_ratio : float
        Beam-weighted flux of the other catalog sources within the confusion radius divided by
        the calibrator's.
    separation_deg : float
        Distance from the pointing at transit.
    """

    calibrator: Calibrator
    transit_mjd: float
    beam_weighted_flux_jy: float
    contamination_ratio: float
    separation_deg: float


_RA_RE = re.compile(r"(\d+)h(\d+)m([\d.]+)s")
_DEC_RE = re.compile(r"([+-]?)(\d+)d(\d+)'([\d.]+)\"")
_BAND_RE = re.compile(r"^\s*([\d.]+cm)\s+([A-Z])\s+([PSWX?])\s+([PSWX?])\s+([PSWX?])\s+([PSWX?])\s+"
                      r"([\d.]+)")


def _default_path() -> Path:
    return Path(str(resources.files("dsa110_contimg.calibration") / "data"
                    / "vla_calibrators_dsacalib.txt"))


def _spectral_index(fluxes: dict[str, float]) -> float:
    pairs = [("90cm", "6cm"), ("20cm", "6cm"), ("90cm", "20cm")]
    for lo, hi in pairs:
        if fluxes.get(lo, 0) > 0 and fluxes.get(hi, 0) > 0:
            return float(
                np.log(fluxes[hi] / fluxes[lo]) / np.log(BAND_FREQ_HZ[hi] / BAND_FREQ_HZ[lo])
            )
    return DEFAULT_SPECTRAL_INDEX


def load_calibrators(path: Path | None = None) -> list[Calibrator]:
    """Parse the VLA calibrator list.

    Parameters
    ----------
    path : Path, optional
        The list (default: the bundled copy).

    Returns
    -------
    list of Calibrator
        Every J2000 entry, in file order.

    Raises
    ------
    CalibrationError
        The file is missing or holds no calibrator.

    Examples
    --------
    >>> cal = {c.name: c for c in load_calibrators()}["1331+305"]
    >>> cal.alt_name, cal.flux_20cm_jy, cal.usable, cal.is_primary
    ('3C286', 15.0, True, True)
    """
    path = Path(path) if path is not None else _default_path()
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise CalibrationError(f"cannot read the calibrator list ({exc})", path=path) from None
    out: list[Calibrator] = []
    cur: dict | None = None

    def finish():
        if cur is None:
            return
        fl = cur["fluxes"]
        q = cur["quality"].get("20cm", "")
        alt = cur["alt"]
        flux20 = fl.get("20cm", float("nan"))
        out.append(
            Calibrator(
                name=cur["name"],
                alt_name=alt,
                ra_deg=cur["ra"],
                dec_deg=cur["dec"],
                flux_20cm_jy=float(flux20),
                spectral_index=_spectral_index(fl),
                usable=bool(q) and q[3] != "X" and bool(np.isfinite(flux20)),
                is_primary=alt in PB2017,
                quality_20cm=q,
            )
        )

    for line in lines:
        parts = line.split()
        if len(parts) >= 5 and parts[1] == "J2000":
            finish()
            ra_m, dec_m = _RA_RE.search(parts[3]), _DEC_RE.search(parts[4])
            if not ra_m or not dec_m:
                cur = None
                continue
            h, m, s = (float(x) for x in ra_m.groups())
            sign = -1.0 if dec_m.group(1) == "-" else 1.0
            d, dm, ds = (float(x) for x in dec_m.groups()[1:])
            alt = None
            for tok in parts[5:]:
                if re.fullmatch(r"3C\d+(\.\d+)?|[A-Z][A-Za-z0-9.+-]*", tok) and not re.fullmatch(
                    r"[A-Z][a-z]{2}\d{2}", tok  # position reference such as Aug01
                ) and tok not in {"JVAS", "VLBA", "CJ1", "CJ2", "VCS"}:
                    alt = tok
            cur = {
                "name": parts[0],
                "ra": 15.0 * (h + m / 60 + s / 3600),
                "dec": sign * (d + dm / 60 + ds / 3600),
                "alt": alt,
                "fluxes": {},
                "quality": {},
            }
            continue
        if cur is None:
            continue
        m = _BAND_RE.match(line)
        if m:
            band = m.group(1)
            cur["quality"][band] = "".join(m.group(k) for k in (3, 4, 5, 6))
            cur["fluxes"][band] = float(m.group(7))
    finish()
    if not out:
        raise CalibrationError("no calibrator found in the list", path=path)
    return out


def get_calibrator(name: str, calibrators: list[Calibrator] | None = None) -> Calibrator:
    """Look a calibrator up by its J2000 name (``1331+305``) or alternative name (``3C286``)."""
    cals = calibrators if calibrators is not None else load_calibrators()
    key = name.strip().upper().removeprefix("J")
    for c in cals:
        if c.name.upper() == key or (c.alt_name or "").upper() == name.strip().upper():
            return c
    raise CalibrationError(f"calibrator {name!r} is not in the calibrator list")


def calibrator_flux_jy(cal: Calibrator, freq_hz) -> np.ndarray:
    """Flux density of a calibrator at the given frequencies.

    Perley & Butler (2017) for 3C286, 3C48, 3C147 and 3C138; otherwise the 20 cm flux with
    the calibrator's spectral index about 1.4 GHz.

    Examples
    --------
    >>> c = Calibrator("1331+305", "3C286", 202.78, 30.51, 15.0, -0.5, True, True)
    >>> round(float(calibrator_flux_jy(c, 1.4e9)), 2)
    15.08
    """
    f = np.asarray(freq_hz, dtype=float)
    if cal.alt_name in PB2017:
        x = np.log10(f / 1e9)
        coeffs = PB2017[cal.alt_name]
        return 10.0 ** sum(a * x**k for k, a in enumerate(coeffs))
    return cal.flux_20cm_jy * (f / _REF_HZ) ** cal.spectral_index


def transit_mjd(ra_deg: float, dec_deg: float, after_mjd: float) -> float:
    """Return when the meridian pointing at ``dec_deg`` reaches RA ``ra_deg`` (after ``after_mjd``).

    The pointing's ICRS position drifts with sidereal time (plus precession): the transit is
    found by two Newton steps on :func:`~dsa110_contimg.imaging.primary_beam.pointing_icrs`.
    """
    from ..imaging.primary_beam import meridian_altaz, pointing_icrs
    from ..simulation.antennas import OVRO_LAT_DEG, ovro_location

    az, alt = meridian_altaz(dec_deg, OVRO_LAT_DEG)
    loc = ovro_location()
    rate = 360.98564736629  # deg of RA per day
    t = float(after_mjd)
    for i in range(3):
        ra, _ = pointing_icrs(t + 2400000.5, az_deg=az, alt_deg=alt, location=loc)
        d = (ra_deg - float(ra[0])) % 360.0
        if i > 0 and d > 180:
            d -= 360.0
        t += d / rate
    return t


def _catalog_sources(ra, dec, radius, settings, catalog, calibrators):
    """(ra, dec, flux_jy) arrays of the sources that may confuse a calibrator."""
    if catalog is not None:
        t = catalog
        flux = (np.asarray(t["flux_jy"], float) if "flux_jy" in t.colnames
                else np.asarray(t["flux_mjy"], float) / 1000.0)
        return np.asarray(t["ra_deg"], float), np.asarray(t["dec_deg"], float), flux
    if settings is not None:
        try:
            from ..catalog import query_sources

            t = query_sources(settings.calibration.catalog, ra, dec, radius, settings=settings)
            return (np.asarray(t["ra_deg"], float), np.asarray(t["dec_deg"], float),
                    np.asarray(t["flux_mjy"], float) / 1000.0)
        except Exception as exc:  # noqa: BLE001 - any store problem: fall back to the list
            log.debug("catalog %r unavailable for the confusion check (%s); using the "
                      "calibrator list", settings.calibration.catalog, exc)
    c = [x for x in calibrators if np.isfinite(x.flux_20cm_jy)]
    return (np.array([x.ra_deg for x in c]), np.array([x.dec_deg for x in c]),
            np.array([x.flux_20cm_jy for x in c]))


def find_calibrator(
    pointing_dec_deg: float,
    start_mjd: float,
    end_mjd: float,
    settings=None,
    catalog=None,
    *,
    calibrators: list[Calibrator] | None = None,
) -> CalibratorMatch | None:
    """Return the calibrator transiting through the beam during ``[start_mjd, end_mjd]``.

    A listed, usable calibrator qualifies when its 20 cm flux is at least
    ``calibration.min_flux_jy``, it transits inside the interval, its primary-beam response at
    transit (1.4 GHz) is at least ``calibration.min_beam_response``, and its beam-weighted
    flux is at least ``calibration.min_dominance`` times the beam-weighted flux of all other
    catalog sources within ``calibration.dominance_radius_fwhm`` beam FWHM of it.

    Parameters
    ----------
    pointing_dec_deg : float
        Declination of the meridian pointing.
    start_mjd, end_mjd : float
        The group's time range (MJD UTC).
    settings : Settings, optional
        Thresholds (``calibration``) and the catalog store of the confusion check.
    catalog : astropy.table.Table, optional
        Sources of the confusion check (``ra_deg``, ``dec_deg``, ``flux_jy`` or ``flux_mjy``);
        default: ``calibration.catalog`` from the store when ingested, else the calibrator
        list itself.
    calibrators : list of Calibrator, optional
        The list (default: the bundled one).

    Returns
    -------
    CalibratorMatch or None
        The qualifying calibrator with the largest beam-weighted flux, or None.
    """
    from ..config import resolve_settings
    from ..imaging.primary_beam import (
        beam_fwhm_rad,
        gaussian_beam,
        meridian_altaz,
        pointing_icrs,
        unit_vectors,
    )
    from ..simulation.antennas import OVRO_LAT_DEG, ovro_location

    settings = resolve_settings(settings)
    cs = settings.calibration
    cals = calibrators if calibrators is not None else load_calibrators()
    kw = {"dish_diameter_m": settings.imaging.dish_diameter_m,
          "fwhm_factor": settings.imaging.beam_fwhm_factor}
    fwhm_deg = float(np.degrees(beam_fwhm_rad(_REF_HZ, **kw)))
    # which calibrators can be in the beam at all (declination within ~1.5 FWHM)
    cands = [c for c in cals if c.usable and c.flux_20cm_jy >= cs.min_flux_jy
             and abs(c.dec_deg - pointing_dec_deg) < 1.5 * fwhm_deg]
    az, alt = meridian_altaz(pointing_dec_deg, OVRO_LAT_DEG)
    loc = ovro_location()
    best = None
    for c in cands:
        t = transit_mjd(c.ra_deg, pointing_dec_deg, start_mjd - 0.5)
        while t < start_mjd - 1e-9:
            t += 1 / 1.00273781191135
        if t > end_mjd:
            continue
        pra, pdec = pointing_icrs(t + 2400000.5, az_deg=az, alt_deg=alt, location=loc)
        pvec = unit_vectors(pra[0], pdec[0])
        sep = float(np.arccos(np.clip(unit_vectors(c.ra_deg, c.dec_deg) @ pvec, -1, 1)))
        resp = float(gaussian_beam(sep, _REF_HZ, **kw))
        if resp < cs.min_beam_response:
            continue
        bw = float(calibrator_flux_jy(c, _REF_HZ)) * resp
        radius = cs.dominance_radius_fwhm * fwhm_deg
        ra_s, dec_s, fl_s = _catalog_sources(c.ra_deg, c.dec_deg, radius, settings, catalog, cals)
        svec = unit_vectors(ra_s, dec_s)
        d_cal = np.degrees(np.arccos(np.clip(svec @ unit_vectors(c.ra_deg, c.dec_deg), -1, 1)))
        others = (d_cal <= radius) & (d_cal > 1.0 / 60.0)  # not the calibrator itself
        s_sep = np.arccos(np.clip(svec[others] @ pvec, -1, 1))
        rest = float(np.sum(fl_s[others] * gaussian_beam(s_sep, _REF_HZ, **kw)))
        ratio = rest / bw if bw > 0 else float("inf")
        if bw < cs.min_dominance * rest:
            log.info("calibrator %s at MJD %.5f refused: confused (rest/cal = %.2f)",
                     c.name, t, ratio)
            continue
        m = CalibratorMatch(c, float(t), bw, ratio, float(np.degrees(sep)))
        if best is None or m.beam_weighted_flux_jy > best.beam_weighted_flux_jy:
            best = m
    return best
