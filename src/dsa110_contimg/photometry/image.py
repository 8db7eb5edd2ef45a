"""Reading FITS images: the celestial plane, its WCS, restoring beam and observation times.

One function, :func:`read_image`, opens a FITS file memory-mapped and returns a
:class:`FitsImage` holding a 2-D (y, x) view of the celestial plane, whatever the file's layout:
plain 2-D images, 4-D images as WSClean and CASA write them (degenerate FREQ and STOKES axes in
either order), or odd ones such as AMI-LA's (STOKES and VOPT, no FREQ). The data may be
big-endian: consumers convert cutouts with ``np.asarray(cutout, dtype=np.float64)``.

Integer-scaled images (BITPIX 8/16/32 with BSCALE/BZERO, optionally BLANK; AIPS, Obit and
older survey cutouts) cannot be memory-mapped as physical values: their celestial plane is read
into memory and scaled (``BZERO + BSCALE * raw``; BLANK pixels become NaN). Float images stay
memory-mapped.

Pixel units (BUNIT) are converted to Jy/beam by :func:`jy_per_unit`: Jy/beam in its usual
spellings (and mJy/beam, uJy/beam), and brightness temperature (K, mK, uK) through the
Rayleigh-Jeans law with the restoring beam's solid angle and the image's frequency. Any other
unit is refused with :class:`UnsupportedUnitError` naming the unit and the file.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

from ..errors import InvalidImageError

__all__ = [
    "Beam",
    "FitsImage",
    "UnsupportedUnitError",
    "image_jy_per_unit",
    "jy_per_unit",
    "observation_times",
    "read_image",
]

log = logging.getLogger(__name__)


class UnsupportedUnitError(InvalidImageError):
    """The image's pixel unit (BUNIT) cannot be converted to Jy/beam."""


# CASA/AIPS write the restoring beam as a HISTORY card when BMAJ is absent, e.g.
# "AIPS   CLEAN BMAJ=  1.5000E-03 BMIN=  1.5000E-03 BPA=   0.00"
_HISTORY_BEAM = re.compile(
    r"BMAJ\s*=\s*([-+0-9.EeDd]+)\s+BMIN\s*=\s*([-+0-9.EeDd]+)\s+BPA\s*=\s*([-+0-9.EeDd]+)"
)


@dataclass(frozen=True)
class Beam:
    """Restoring beam: full widths at half maximum and position angle (east of north).

    Parameters
    ----------
    bmaj_deg, bmin_deg : float
        Major and minor axis FWHM in degrees.
    bpa_deg : float
        Position angle of the major axis, degrees east of north.

    Examples
    --------
    >>> Beam(15 / 3600, 12 / 3600, 30.0).bmaj_arcsec
    15.0
    """

    bmaj_deg: float
    bmin_deg: float
    bpa_deg: float

    @property
    def bmaj_arcsec(self) -> float:
        """Major axis FWHM in arcseconds."""
        return self.bmaj_deg * 3600.0

    @property
    def bmin_arcsec(self) -> float:
        """Minor axis FWHM in arcseconds."""
        return self.bmin_deg * 3600.0


@dataclass(frozen=True, eq=False)
class FitsImage:
    """A FITS image reduced to its celestial plane.

    Attributes
    ----------
    path : Path
        The file.
    data : numpy.ndarray
        2-D (y, x) memory-mapped view of the celestial plane (possibly big-endian).
    wcs : astropy.wcs.WCS
        2-D celestial WCS matching ``data``.
    header : astropy.io.fits.Header
        The header of the image HDU.
    beam : Beam or None
        Restoring beam, when the header gives one.
    freq_hz : float or None
        Observing frequency, from a FREQ axis or frequency keywords.
    pixel_scale_deg : float
        Geometric mean pixel size at the reference pixel, in degrees.
    hdu_index : int
        Index of the image HDU in the file.
    """

    path: Path
    data: np.ndarray
    wcs: WCS
    header: fits.Header
    beam: Beam | None
    freq_hz: float | None
    pixel_scale_deg: float
    hdu_index: int = 0

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx) of the celestial plane."""
        return (int(self.data.shape[0]), int(self.data.shape[1]))


def _find_image_hdu(hdul: fits.HDUList, path: Path) -> int:
    for i, hdu in enumerate(hdul):
        if isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
            naxis = int(hdu.header.get("NAXIS", 0))
            if (
                naxis >= 2
                and sum(int(hdu.header.get(f"NAXIS{k}", 1)) > 1 for k in range(1, naxis + 1)) >= 2
            ):
                return i
    raise InvalidImageError("no image HDU with at least two non-degenerate axes", path=path)


def _beam_from_header(header: fits.Header) -> Beam | None:
    try:
        bmaj = header.get("BMAJ")
        bmin = header.get("BMIN")
        if bmaj is not None and bmin is not None:
            bpa = float(header.get("BPA", 0.0) or 0.0)
            bmaj, bmin = float(bmaj), float(bmin)
            if np.isfinite(bmaj) and np.isfinite(bmin) and bmaj > 0 and bmin > 0:
                return Beam(max(bmaj, bmin), min(bmaj, bmin), bpa)
    except (TypeError, ValueError):
        pass
    for card in reversed(header.get("HISTORY", [])):
        m = _HISTORY_BEAM.search(str(card))
        if m:
            vals = [float(v.replace("D", "E").replace("d", "e")) for v in m.groups()]
            if vals[0] > 0 and vals[1] > 0:
                return Beam(max(vals[0], vals[1]), min(vals[0], vals[1]), vals[2])
    return None


def _is_integer_scaled(header: fits.Header) -> bool:
    """Integer data with BSCALE/BZERO/BLANK (astropy cannot memory-map them scaled)."""
    try:
        bitpix = int(header.get("BITPIX", -32))
    except (TypeError, ValueError):
        return False
    return bitpix > 0 and any(k in header for k in ("BSCALE", "BZERO", "BLANK"))


def _scale_integers(raw: np.ndarray, header: fits.Header, path: Path) -> np.ndarray:
    """Physical values ``BZERO + BSCALE * raw`` of one integer plane; BLANK pixels -> NaN.

    8- and 16-bit data become float32 (exact to their quantization); 32-bit data float64.
    """
    try:
        bscale = float(header.get("BSCALE", 1.0))
        bzero = float(header.get("BZERO", 0.0))
    except (TypeError, ValueError) as exc:
        raise InvalidImageError(f"invalid BSCALE/BZERO ({exc})", path=path) from exc
    if not (np.isfinite(bscale) and np.isfinite(bzero)) or bscale == 0:
        raise InvalidImageError(f"invalid BSCALE={bscale} / BZERO={bzero}", path=path)
    dtype = np.float64 if raw.dtype.itemsize >= 4 else np.float32
    out = np.asarray(raw, dtype=np.float64) * bscale + bzero
    out = out.astype(dtype)
    blank = header.get("BLANK")
    if blank is not None:
        try:
            out[np.asarray(raw) == int(blank)] = np.nan
        except (TypeError, ValueError):
            log.warning("%s: ignoring a non-integer BLANK %r", path, blank)
    return out


def _freq_from_wcs(full: WCS, header: fits.Header) -> float | None:
    ctypes = [str(c).upper() for c in full.wcs.ctype]
    for i, ct in enumerate(ctypes):
        if ct.startswith("FREQ"):
            try:
                world = full.wcs_pix2world(np.zeros((1, full.naxis)), 0)[0]
                val = float(world[i])
            except Exception:  # non-invertible extra axes: fall back to the reference value
                val = float(full.wcs.crval[i])
            if np.isfinite(val) and val > 0:
                return val
    for k in range(1, 10):  # FREQ keywords beyond NAXIS (FIRST cutouts keep CTYPE3 = FREQ)
        if str(header.get(f"CTYPE{k}", "")).upper().startswith("FREQ"):
            try:
                val = float(header[f"CRVAL{k}"])
            except (KeyError, TypeError, ValueError):
                continue
            if np.isfinite(val) and val > 0:
                return val
    for key in ("RESTFRQ", "RESTFREQ", "FREQ"):
        if key in header:
            try:
                val = float(header[key])
            except (TypeError, ValueError):
                continue
            if np.isfinite(val) and val > 0:
                return val
    return None


def read_image(path: str | Path) -> FitsImage:
    """Open a FITS image memory-mapped and reduce it to its celestial plane.

    Parameters
    ----------
    path : str or Path
        A FITS file with an image HDU having a celestial WCS. Extra axes (FREQ, STOKES, VOPT,
        ...) must be degenerate; otherwise their first plane is used and a message is logged.

    Returns
    -------
    FitsImage
        The celestial plane (memory-mapped, not copied), its WCS, beam and frequency.

    Raises
    ------
    InvalidImageError
        If the file is missing, is not FITS, holds no image, or has no celestial WCS.

    Examples
    --------
    >>> import tempfile, os
    >>> from dsa110_contimg.simulation import make_fits_image
    >>> p = os.path.join(tempfile.mkdtemp(), "im.fits")
    >>> _ = make_fits_image(p, shape=(64, 64), n_sources=0, four_d=True, seed=1)
    >>> img = read_image(p)
    >>> img.shape, round(img.beam.bmaj_arcsec, 1) > 0
    ((64, 64), True)
    """
    path = Path(path)
    if not path.is_file():
        missing = InvalidImageError("file does not exist or is not a regular file", path=path)
        missing.retryable = True  # it may yet appear (a copy or a network file system)
        raise missing
    try:
        hdul = fits.open(path, memmap=True, lazy_load_hdus=True)
    except (OSError, ValueError, TypeError) as exc:
        reason = str(exc).split(".")[0] or type(exc).__name__
        raise InvalidImageError(f"not a readable FITS file ({reason})", path=path) from exc
    try:
        idx = _find_image_hdu(hdul, path)
        hdu = hdul[idx]
        header = hdu.header
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            try:
                full = WCS(header, naxis=int(header["NAXIS"]), fix=True)
            except Exception as exc:  # astropy raises many types for broken WCS keywords
                raise InvalidImageError(f"cannot parse the WCS ({exc})", path=path) from exc
        if not full.has_celestial or full.wcs.lng < 0 or full.wcs.lat < 0:
            raise InvalidImageError("no celestial (longitude/latitude) WCS axes", path=path)
        lng, lat = int(full.wcs.lng), int(full.wcs.lat)
        scaled = _is_integer_scaled(header)
        try:
            if scaled:
                hdul.close()
                hdul = fits.open(path, memmap=False, do_not_scale_image_data=True)
                hdu = hdul[idx]
            raw = hdu.data
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidImageError(f"cannot read the image data ({exc})", path=path) from exc
        if raw is None or raw.ndim < 2:
            raise InvalidImageError("the image HDU holds no data", path=path)
        ndim = raw.ndim
        # numpy axis of FITS axis k (0-based) is ndim - 1 - k
        index: list[Any] = []
        for ax in range(ndim):
            fits_ax = ndim - 1 - ax
            if fits_ax in (lng, lat):
                index.append(slice(None))
            else:
                if raw.shape[ax] > 1:
                    log.info(
                        "%s: axis %d (%s) has %d planes; using the first",
                        path,
                        fits_ax + 1,
                        full.wcs.ctype[fits_ax] if fits_ax < full.naxis else "?",
                        raw.shape[ax],
                    )
                index.append(0)
        data = raw[tuple(index)]
        if scaled:
            data = _scale_integers(data, header, path)
        if data.ndim != 2:
            raise InvalidImageError("celestial axes not found in the data array", path=path)
        celestial = full.sub([lng + 1, lat + 1])  # (longitude, latitude) = (x, y)
        if lat < lng:  # latitude is the first FITS axis: transpose so x is longitude
            data = data.T
        beam = _beam_from_header(header)
        freq = _freq_from_wcs(full, header)
        try:
            scales = proj_plane_pixel_scales(celestial)
            pixel_scale = float(np.sqrt(abs(scales[0] * scales[1])))
        except (ValueError, np.linalg.LinAlgError):  # degenerate CD matrix
            pixel_scale = float("nan")
        if not np.isfinite(pixel_scale) or pixel_scale <= 0:
            raise InvalidImageError("celestial WCS has a zero or invalid pixel scale", path=path)
        return FitsImage(
            path=path,
            data=data,
            wcs=celestial,
            header=header,
            beam=beam,
            freq_hz=freq,
            pixel_scale_deg=pixel_scale,
            hdu_index=idx,
        )
    finally:
        # The memory map stays open while ``data`` is referenced (astropy closes it lazily).
        hdul.close()


_JY_PER_BEAM = re.compile(
    r"^(?P<prefix>M|U|MU|µ|\u039c)?JY(/BEAM|BEAM-1|BEAM\^-1|\.BEAM-1|\*BEAM-1)?$"
)
_KELVIN = re.compile(r"^(?P<prefix>M|U|MU|µ|\u039c)?K(ELVIN)?(\(TB\)|TB)?$")
_PREFIX = {None: 1.0, "M": 1e-3, "U": 1e-6, "MU": 1e-6, "µ": 1e-6, "\u039c": 1e-6}
_K_BOLTZMANN = 1.380649e-23  # J/K
_C_LIGHT = 299_792_458.0  # m/s


def jy_per_unit(
    header: fits.Header,
    *,
    beam: Beam | None = None,
    freq_hz: float | None = None,
    path: str | Path | None = None,
) -> float:
    """Factor converting the image's pixel unit (BUNIT) to Jy/beam.

    Parameters
    ----------
    header : astropy.io.fits.Header
        Image header.
    beam : Beam, optional
        Restoring beam (needed for brightness temperature).
    freq_hz : float, optional
        Observing frequency (needed for brightness temperature).
    path : str or Path, optional
        The file, named in errors.

    Returns
    -------
    float
        1 for ``JY/BEAM`` (also ``Jy/beam``, ``Jy beam-1``, ``JY``, or no BUNIT), 1e-3 for
        ``mJy/beam``, 1e-6 for ``uJy/beam``; for ``K`` (``mK``, ``uK``) the Rayleigh-Jeans
        factor ``2 k nu^2 Omega / c^2`` in Jy per kelvin, with ``Omega = pi bmaj bmin /
        (4 ln 2)`` the solid angle of the Gaussian restoring beam.

    Raises
    ------
    UnsupportedUnitError
        For any other unit, or for K without a beam or a frequency.

    Examples
    --------
    >>> jy_per_unit(fits.Header({"BUNIT": "mJy/beam"}))
    0.001
    >>> f = jy_per_unit(fits.Header({"BUNIT": "K"}), beam=Beam(1 / 60, 1 / 60, 0), freq_hz=1.4e9)
    >>> round(f, 5)  # Jy/beam per kelvin for a 1 arcmin beam at 1.4 GHz
    0.00577
    """
    text = str(header.get("BUNIT", "") or "").strip()
    unit = text.upper().replace(" ", "")
    if not unit:
        return 1.0
    m = _JY_PER_BEAM.match(unit)
    if m:
        return _PREFIX[m.group("prefix")]
    m = _KELVIN.match(unit)
    if m:
        if beam is None:
            raise UnsupportedUnitError(
                f"BUNIT {text!r} (brightness temperature) needs a restoring beam "
                "(BMAJ/BMIN) to convert to Jy/beam",
                path=path,
            )
        if freq_hz is None or not np.isfinite(freq_hz) or freq_hz <= 0:
            raise UnsupportedUnitError(
                f"BUNIT {text!r} (brightness temperature) needs the observing frequency "
                "(a FREQ axis, RESTFRQ or FREQ keyword) to convert to Jy/beam",
                path=path,
            )
        omega = np.pi * np.deg2rad(beam.bmaj_deg) * np.deg2rad(beam.bmin_deg) / (4 * np.log(2))
        jy_per_kelvin = 2.0 * _K_BOLTZMANN * freq_hz**2 * omega / _C_LIGHT**2 * 1e26
        return float(_PREFIX[m.group("prefix")] * jy_per_kelvin)
    raise UnsupportedUnitError(
        f"unsupported pixel unit BUNIT {text!r}: expected Jy/beam (or mJy/beam, uJy/beam) "
        "or a brightness temperature in K",
        path=path,
    )


def image_jy_per_unit(image: FitsImage) -> float:
    """:func:`jy_per_unit` of an opened image (its header, beam, frequency and path)."""
    return jy_per_unit(image.header, beam=image.beam, freq_hz=image.freq_hz, path=image.path)


def _parse_date(value: Any, scale: str) -> float | None:
    from astropy.time import Time

    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if re.fullmatch(r"\d{8}", text):  # FIRST-style YYYYMMDD
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    m = re.fullmatch(r"(\d{2})/(\d{2})/(\d{2})", text)  # old FITS DD/MM/YY
    if m:
        text = f"19{m.group(3)}-{m.group(2)}-{m.group(1)}"
    try:
        return float(Time(text, format="isot" if "T" in text else "iso", scale=scale).utc.mjd)
    except ValueError:
        try:
            return float(Time(text, scale=scale).utc.mjd)
        except ValueError:
            log.debug("unparseable date %r", value)
            return None


def observation_times(header: fits.Header) -> tuple[float | None, float | None, float | None]:
    """Start, middle and end of the observation as MJD (UTC).

    Parameters
    ----------
    header : astropy.io.fits.Header
        Image header. Uses DATE-OBS (or MJD-OBS) for the start and DATE-END, or the start plus
        EXPTIME / EXPOSURE / DURATION seconds, for the end.

    Returns
    -------
    tuple of (float or None)
        ``(mjd_start, mjd_mid, mjd_end)``. When the end is unknown, ``mjd_mid`` is the start
        (snapshot images) and ``mjd_end`` is None; all three are None without a start time.

    Examples
    --------
    >>> h = fits.Header({"DATE-OBS": "2025-01-01T00:00:00", "DATE-END": "2025-01-01T00:10:00"})
    >>> [round(t, 5) for t in observation_times(h)]
    [60676.0, 60676.00347, 60676.00694]
    """
    scale = str(header.get("TIMESYS", "UTC") or "UTC").strip().lower()
    if scale not in ("utc", "tai", "tt", "tdb", "tcg", "tcb", "ut1"):
        scale = "utc"
    start = _parse_date(header.get("DATE-OBS"), scale)
    if start is None:
        for key in ("MJD-OBS", "MJD_OBS"):
            if key in header:
                try:
                    start = float(header[key])
                    break
                except (TypeError, ValueError):
                    continue
    if start is None:
        return None, None, None
    end = _parse_date(header.get("DATE-END"), scale)
    if end is None:
        for key in ("EXPTIME", "EXPOSURE", "DURATION"):
            if key in header:
                try:
                    seconds = float(header[key])
                except (TypeError, ValueError):
                    continue
                if np.isfinite(seconds) and seconds >= 0:
                    end = start + seconds / 86400.0
                    break
    if end is None or end < start:
        return start, start, None
    return start, 0.5 * (start + end), end
