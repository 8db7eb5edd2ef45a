"""Build one mosaic: inverse-variance weighted combination of primary-beam-corrected images.

Method
------
1. **Inputs.** Each input is a primary-beam-corrected image ``<name>-image-pb.fits``; its beam
   response B is ``<name>-beam.fits`` beside it (or the path given), and its noise sigma is the
   rms of the *uncorrected* image ``<name>-image.fits`` (or the value given, e.g. the
   ``images.noise_jy`` recorded at registration). The corrected image has noise sigma / B, so
   its inverse variance is **w = B^2 / sigma^2**. An input without a beam image is weighted
   as a flat beam (B = 1), with a warning.
2. **Common beam.** The restoring beam of the mosaic is the smallest-area ellipse enclosing
   every input's restoring beam (:func:`~dsa110_contimg.mosaic.beams.common_beam`). An input
   with a different beam is convolved with the Gaussian kernel ``Sigma_common - Sigma_input``
   (normalised convolution, so blanked pixels do not leak in) and multiplied by the beam-area
   ratio, which keeps point-source peaks in Jy/beam; its sigma is scaled accordingly for noise
   whose autocorrelation is the restoring beam (:func:`~dsa110_contimg.mosaic.beams.noise_scale`).
3. **Grid.** One celestial grid (SIN or CAR, see :mod:`~dsa110_contimg.mosaic.grid`) at the
   finest input pixel size, covering all inputs.
4. **Reprojection.** ``reproject.reproject_interp`` with ``order="bicubic"`` (cubic spline
   interpolation), which keeps peak fluxes of sources sampled at ~4 pixels per beam (flux
   conserving schemes preserve integrals, not peaks in Jy/beam). Image, beam and (when some
   input pixels are blanked) a validity mask are reprojected together, one strip of output rows
   at a time, from the cutout of the input that strip needs. Output pixels within the spline's
   reach of a blanked input pixel, or where B < ``min_beam_response``, get no weight.
5. **Accumulation.** ``sum(w I)`` and ``sum(w)`` in two float64 arrays the size of the output;
   the memory used is these two arrays plus one input (two when it must be convolved), never
   all inputs. The mosaic is ``sum(w I) / sum(w)``, its effective noise ``1 / sqrt(sum(w))``,
   both written strip by strip.

Outputs: the mosaic (``BUNIT JY/BEAM``, common ``BMAJ/BMIN/BPA``, ``DATE-OBS`` = earliest input
start, ``DATE-END`` = latest input end, HISTORY lines stating the beam rule and the inputs),
``<stem>-weight.fits`` (sum of weights, 1/(Jy/beam)^2) and ``<stem>-noise.fits`` (Jy/beam).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from astropy.wcs.utils import pixel_to_pixel

from ..config import Settings, resolve_settings
from ..errors import ContimgError, ContimgWarning, InvalidImageError, MosaicError
from ..photometry.beam import local_jacobian
from ..photometry.image import Beam, observation_times, read_image
from ..photometry.noise import robust_rms
from .beams import common_beam, convolution_kernel, gaussian_convolve, noise_scale
from .grid import MosaicGrid, edge_points, mosaic_grid, pixel_bbox

__all__ = [
    "BEAM_RULE",
    "MosaicInput",
    "MosaicResult",
    "build_mosaic",
    "default_beam_path",
    "default_uncorrected_path",
    "mosaic_side_paths",
]

log = logging.getLogger(__name__)

#: How the common restoring beam is chosen (written to the mosaic header as HISTORY).
BEAM_RULE = (
    "Common beam = smallest-area ellipse enclosing all input restoring beams; inputs with "
    "another beam convolved by the Gaussian (common - input) and scaled by the beam-area ratio."
)

#: Input pixels of padding around a cutout (the cubic spline prefilter's reach decays as 0.27^n).
_SPLINE_PAD = 10
#: Input pixels at the image boundary left out (the spline is biased against the edge).
_EDGE = 4


@dataclass(frozen=True)
class MosaicInput:
    """One input of a mosaic, as the builder resolved it.

    Attributes
    ----------
    path : Path
        Primary-beam-corrected image.
    beam_path : Path or None
        Primary-beam response image on the same grid (None: flat beam).
    noise_jy : float
        Noise of the uncorrected image (after convolution to the common beam, if any).
    beam : Beam
        Restoring beam of the input.
    mjd_start, mjd_end : float or None
        Observation start and end.
    """

    path: Path
    beam_path: Path | None
    noise_jy: float
    beam: Beam
    mjd_start: float | None
    mjd_end: float | None


@dataclass(frozen=True)
class MosaicResult:
    """What :func:`build_mosaic` wrote.

    Attributes
    ----------
    path, weight_path, noise_path : Path
        The mosaic, its weight map and its effective-noise map.
    n_images : int
        Number of inputs.
    inputs : tuple of MosaicInput
        The inputs in the order given.
    shape : tuple of int
        (ny, nx) of the mosaic.
    pixel_scale_deg : float
        Pixel size.
    ra_center_deg, dec_center_deg : float
        Centre of the output grid.
    beam : Beam
        Common restoring beam.
    mjd_start, mjd_end : float or None
        Earliest input start, latest input end (``DATE-OBS``, ``DATE-END``).
    min_noise_jy : float
        Lowest effective noise of the mosaic (deepest pixel).
    n_convolved : int
        Inputs convolved to the common beam.
    """

    path: Path
    weight_path: Path
    noise_path: Path
    n_images: int
    inputs: tuple[MosaicInput, ...]
    shape: tuple[int, int]
    pixel_scale_deg: float
    ra_center_deg: float
    dec_center_deg: float
    beam: Beam
    mjd_start: float | None
    mjd_end: float | None
    min_noise_jy: float
    n_convolved: int

    @property
    def mjd_mid(self) -> float | None:
        """Middle of ``mjd_start`` and ``mjd_end``."""
        if self.mjd_start is None or self.mjd_end is None:
            return self.mjd_start
        return 0.5 * (self.mjd_start + self.mjd_end)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".fits", ".fit", ".fts"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def default_beam_path(image_path: str | Path) -> Path | None:
    """``<name>-beam.fits`` beside a ``<name>-image-pb.fits``, or None for other names.

    Examples
    --------
    >>> default_beam_path("/d/obs1-image-pb.fits").name
    'obs1-beam.fits'
    """
    p = Path(image_path)
    stem = _stem(p)
    if not stem.endswith("-image-pb"):
        return None
    return p.with_name(stem[: -len("-image-pb")] + "-beam.fits")


def default_uncorrected_path(image_path: str | Path) -> Path | None:
    """``<name>-image.fits`` beside a ``<name>-image-pb.fits``, or None for other names.

    Examples
    --------
    >>> default_uncorrected_path("/d/obs1-image-pb.fits").name
    'obs1-image.fits'
    """
    p = Path(image_path)
    stem = _stem(p)
    if not stem.endswith("-image-pb"):
        return None
    return p.with_name(stem[: -len("-pb")] + ".fits")


def mosaic_side_paths(mosaic_path: str | Path) -> tuple[Path, Path]:
    """Return the weight and effective-noise map paths written beside a mosaic.

    Examples
    --------
    >>> [p.name for p in mosaic_side_paths("/m/mos_001.fits")]
    ['mos_001-weight.fits', 'mos_001-noise.fits']
    """
    p = Path(mosaic_path)
    stem = _stem(p)
    return p.with_name(f"{stem}-weight.fits"), p.with_name(f"{stem}-noise.fits")


def _mjd_to_iso(mjd: float) -> str:
    return Time(mjd, format="mjd", scale="utc").isot


def _measure_noise(path: Path, beam_path: Path | None) -> float:
    """Measure the noise of the uncorrected image of ``path``.

    From ``<name>-image.fits`` when it exists, else from ``corrected x beam``, else from the
    corrected image itself.
    """
    unc = default_uncorrected_path(path)
    if unc is not None and unc.is_file():
        img = read_image(unc)
        rms = robust_rms(img.data)
        del img
    elif beam_path is not None:
        img, beam = read_image(path), read_image(beam_path)
        step = max(1, int(math.ceil(math.sqrt(img.data.size / 1_000_000))))
        rms = robust_rms(
            np.asarray(img.data[::step, ::step], np.float64)
            * np.asarray(beam.data[::step, ::step], np.float64)
        )
        del img, beam
    else:
        img = read_image(path)
        rms = robust_rms(img.data)
        del img
    if rms is None or not (np.isfinite(rms) and rms > 0):
        raise MosaicError("cannot measure the image noise (no finite non-zero pixels)", path=path)
    return rms


@dataclass
class _Resolved:
    inp: MosaicInput
    wcs: WCS
    shape: tuple[int, int]
    pixel_scale_deg: float
    freq_hz: float | None
    dec_center_deg: float
    radesys_like: WCS


def _resolve_inputs(
    image_paths: Sequence[str | Path],
    beam_paths: Sequence[str | Path | None] | None,
    noise_jy: Sequence[float | None] | None,
) -> list[_Resolved]:
    n = len(image_paths)
    if beam_paths is not None and len(beam_paths) != n:
        raise MosaicError(f"{len(beam_paths)} beam paths given for {n} images")
    if noise_jy is not None and len(noise_jy) != n:
        raise MosaicError(f"{len(noise_jy)} noise values given for {n} images")
    out = []
    for i, raw in enumerate(image_paths):
        path = Path(raw)
        try:
            img = read_image(path)
        except InvalidImageError as exc:
            raise MosaicError(f"input image unreadable: {exc.message}", path=path) from None
        if img.beam is None:
            raise MosaicError("input image has no restoring beam (BMAJ/BMIN)", path=path)
        given = beam_paths[i] if beam_paths is not None else None
        bpath = Path(given) if given is not None else default_beam_path(path)
        if bpath is not None and not bpath.is_file():
            if given is not None:
                raise MosaicError(f"primary-beam image {bpath} does not exist", path=path)
            bpath = None
        if bpath is not None:
            try:
                bimg = read_image(bpath)
            except InvalidImageError as exc:
                raise MosaicError(
                    f"primary-beam image unreadable: {exc.message}", path=path
                ) from None
            if bimg.shape != img.shape:
                raise MosaicError(
                    f"primary-beam image {bpath.name} has shape {bimg.shape}, image {img.shape}",
                    path=path,
                )
            del bimg
        else:
            warnings.warn(
                f"{path}: no primary-beam image; weighted as a flat beam", ContimgWarning,
                stacklevel=3,
            )
        sigma = noise_jy[i] if noise_jy is not None else None
        if sigma is None or not (np.isfinite(sigma) and sigma > 0):
            sigma = _measure_noise(path, bpath)
        start, _mid, end = observation_times(img.header)
        ny, nx = img.shape
        _, dec_c = img.wcs.wcs_pix2world([[(nx - 1) / 2.0, (ny - 1) / 2.0]], 0)[0]
        out.append(
            _Resolved(
                inp=MosaicInput(path, bpath, float(sigma), img.beam, start, end),
                wcs=img.wcs,
                shape=img.shape,
                pixel_scale_deg=img.pixel_scale_deg,
                freq_hz=img.freq_hz,
                dec_center_deg=float(dec_c),
                radesys_like=img.wcs,
            )
        )
        del img
    return out


def _convolved_plane(res: _Resolved, target: Beam) -> tuple[np.ndarray, float] | None:
    """Input data convolved to ``target`` (float32, NaN where invalid) and the noise factor."""
    ny, nx = res.shape
    jac = local_jacobian(res.wcs, np.array([(nx - 1) / 2.0]), np.array([(ny - 1) / 2.0]))[0]
    kern = convolution_kernel(target, res.inp.beam, jac)
    if kern is None:
        return None
    kernel_cov, rescale = kern
    img = read_image(res.inp.path)
    data = np.array(img.data, dtype=np.float32)
    del img
    valid = np.isfinite(data)
    data[~valid] = 0.0
    out = gaussian_convolve(data, kernel_cov)
    del data
    # normalised convolution: blanked pixels and the outside of the image do not leak in
    den = gaussian_convolve(valid.astype(np.float32), kernel_cov)
    with np.errstate(invalid="ignore", divide="ignore"):
        out /= den
    out[den < 0.99] = np.nan
    del den
    out *= np.float32(rescale)
    return out.astype(np.float32, copy=False), noise_scale(target, res.inp.beam)


def _interior(
    out_wcs: WCS, rows: tuple[int, int], cols: tuple[int, int], in_wcs: WCS,
    in_shape: tuple[int, int], *, step: int = 16,
) -> np.ndarray:
    """Output pixels of a strip that fall at least ``_EDGE`` pixels inside the input image.

    The cubic spline is biased within a few pixels of the image boundary (its error decays as
    0.27 per pixel), so those pixels are left out. The input pixel coordinates are computed
    exactly on a coarse grid (every ``step`` output pixels) and interpolated linearly, which is
    accurate to far better than a pixel for these smooth mappings.
    """
    from scipy.ndimage import map_coordinates

    r0, r1 = rows
    c0, c1 = cols
    nr = int(math.ceil((r1 - 1 - r0) / step)) + 1
    nc = int(math.ceil((c1 - 1 - c0) / step)) + 1
    gy, gx = np.meshgrid(r0 + step * np.arange(nr, dtype=float),
                         c0 + step * np.arange(nc, dtype=float), indexing="ij")
    ix, iy = pixel_to_pixel(out_wcs, in_wcs, gx, gy)
    fy, fx = np.meshgrid(np.arange(r1 - r0, dtype=float) / step,
                         np.arange(c1 - c0, dtype=float) / step, indexing="ij", sparse=True)
    fy, fx = np.broadcast_arrays(fy, fx)
    coords = np.stack([fy, fx])
    ny, nx = in_shape
    inside = np.ones((r1 - r0, c1 - c0), dtype=bool)
    for field, n in ((np.asarray(ix, float), nx), (np.asarray(iy, float), ny)):
        val = map_coordinates(field, coords, order=1, mode="nearest")
        inside &= (val >= _EDGE) & (val <= n - 1 - _EDGE)
    return inside


def _strip_cutout(
    out_wcs: WCS, rows: tuple[int, int], cols: tuple[int, int], in_wcs: WCS,
    in_shape: tuple[int, int],
) -> tuple[int, int, int, int] | None:
    r0, r1 = rows
    c0, c1 = cols
    x, y = edge_points(r1 - r0, c1 - c0, n=17)
    ix, iy = pixel_to_pixel(out_wcs, in_wcs, x + c0, y + r0)
    return pixel_bbox(np.asarray(ix), np.asarray(iy), in_shape, pad=_SPLINE_PAD)


def _accumulate(
    res: _Resolved,
    grid: MosaicGrid,
    box: tuple[int, int, int, int],
    sum_wi: np.ndarray,
    sum_w: np.ndarray,
    *,
    data_override: np.ndarray | None,
    sigma: float,
    min_beam: float,
    strip_pixels: int,
) -> None:
    from reproject import reproject_interp

    y0, y1, x0, x1 = box
    if y1 <= y0 or x1 <= x0:
        return
    img = read_image(res.inp.path) if data_override is None else None
    data = data_override if data_override is not None else img.data
    bimg = read_image(res.inp.beam_path) if res.inp.beam_path is not None else None
    inv_var = 1.0 / (sigma * sigma)
    width = x1 - x0
    step = max(1, strip_pixels // width)
    try:
        for r0 in range(y0, y1, step):
            r1 = min(y1, r0 + step)
            cut = _strip_cutout(grid.wcs, (r0, r1), (x0, x1), res.wcs, res.shape)
            if cut is None:
                continue
            a0, a1, b0, b1 = cut
            planes = [np.asarray(data[a0:a1, b0:b1], dtype=np.float32)]
            if bimg is not None:
                planes.append(np.asarray(bimg.data[a0:a1, b0:b1], dtype=np.float32))
                valid = np.isfinite(planes[0]) & np.isfinite(planes[1])
                valid &= planes[1] >= min_beam
            else:
                valid = np.isfinite(planes[0])
            masked = not valid.all()
            if masked:
                for p in planes:
                    p[~valid] = 0.0
                planes.append(valid.astype(np.float32))
            stack = np.stack(planes)
            del planes, valid
            sub_in = res.wcs[a0:a1, b0:b1]
            sub_out = grid.wcs[r0:r1, x0:x1]
            out = reproject_interp(
                (stack, sub_in),
                sub_out,
                shape_out=(stack.shape[0], r1 - r0, width),
                order="bicubic",
                return_footprint=False,
                roundtrip_coords=False,
            )
            del stack
            image = out[0]
            good = np.isfinite(image)
            good &= _interior(grid.wcs, (r0, r1), (x0, x1), res.wcs, res.shape)
            if bimg is not None:
                b = out[1]
                good &= np.isfinite(b) & (b >= min_beam)
                w = np.where(good, b * b * inv_var, 0.0)
            else:
                w = np.where(good, inv_var, 0.0)
            if masked:
                good &= np.abs(out[-1] - 1.0) < 1e-3
                w[~good] = 0.0
            sum_wi[r0:r1, x0:x1] += np.where(good, w * image, 0.0)
            sum_w[r0:r1, x0:x1] += w
            del out, image, good, w
    finally:
        del img, bimg, data


def _headers(
    grid: MosaicGrid, resolved: list[_Resolved], beam: Beam, mjd_start, mjd_end,
    weight_path: Path, noise_path: Path,
) -> tuple[fits.Header, fits.Header, fits.Header]:
    base = grid.wcs.to_header()
    base["TELESCOP"] = "DSA-110"
    base["TIMESYS"] = "UTC"
    if mjd_start is not None:
        base["DATE-OBS"] = (_mjd_to_iso(mjd_start), "earliest input start (UTC)")
        base["MJD-OBS"] = mjd_start
    if mjd_end is not None:
        base["DATE-END"] = (_mjd_to_iso(mjd_end), "latest input end (UTC)")
    freqs = [r.freq_hz for r in resolved if r.freq_hz]
    if freqs:
        base["RESTFRQ"] = (float(np.mean(freqs)), "mean input frequency (Hz)")
    base["NIMAGES"] = (len(resolved), "number of input images")
    base["ORIGIN"] = "dsa110_contimg.mosaic"
    mosaic = base.copy()
    mosaic["BUNIT"] = "JY/BEAM"
    mosaic["BTYPE"] = "Intensity"
    mosaic["BMAJ"] = (beam.bmaj_deg, "common restoring beam major axis (deg)")
    mosaic["BMIN"] = (beam.bmin_deg, "common restoring beam minor axis (deg)")
    mosaic["BPA"] = (beam.bpa_deg, "common restoring beam position angle (deg)")
    mosaic["WGTMAP"] = weight_path.name  # the weight map beside this file
    mosaic["NOISEMAP"] = noise_path.name  # the effective-noise map beside this file
    mosaic["WEIGHTNG"] = ("B^2/sigma^2", "inverse variance of each pb-corrected input")
    mosaic["INTERP"] = ("bicubic", "reprojection interpolation (reproject)")
    mosaic.add_history(BEAM_RULE)
    for i, r in enumerate(resolved):
        mosaic.add_history(f"input {i}: {r.inp.path.name} sigma={r.inp.noise_jy:.4g} Jy/beam "
                           f"beam={'flat' if r.inp.beam_path is None else r.inp.beam_path.name}")
    weight = base.copy()
    weight["BUNIT"] = "1/(JY/BEAM)**2"
    weight["BTYPE"] = "Weight"
    weight.add_history("sum over inputs of B^2/sigma^2")
    noise = base.copy()
    noise["BUNIT"] = "JY/BEAM"
    noise["BTYPE"] = "Noise"
    noise["BMAJ"], noise["BMIN"], noise["BPA"] = beam.bmaj_deg, beam.bmin_deg, beam.bpa_deg
    noise.add_history("effective noise 1/sqrt(sum of weights)")
    return mosaic, weight, noise


def _write_streaming(path: Path, header: fits.Header, shape, rows_fn, step: int) -> None:
    """Write a float32 image row-strip by row-strip (bounded memory), atomically."""
    h = header.copy()
    h.insert(0, ("SIMPLE", True))
    h.insert(1, ("BITPIX", -32))
    h.insert(2, ("NAXIS", 2))
    h.insert(3, ("NAXIS1", shape[1]))
    h.insert(4, ("NAXIS2", shape[0]))
    tmp = path.with_name(f".{path.name}.partial")
    if tmp.exists():
        tmp.unlink()
    shdu = fits.StreamingHDU(tmp, h)
    try:
        for r0 in range(0, shape[0], step):
            r1 = min(shape[0], r0 + step)
            shdu.write(np.ascontiguousarray(rows_fn(r0, r1), dtype=">f4"))
    finally:
        shdu.close()
    os.replace(tmp, path)


def build_mosaic(
    image_paths: Sequence[str | Path],
    output_path: str | Path,
    *,
    settings: Settings | None = None,
    beam_paths: Sequence[str | Path | None] | None = None,
    noise_jy: Sequence[float | None] | None = None,
    dec_tolerance_deg: float | None = None,
) -> MosaicResult:
    """Combine primary-beam-corrected images into one inverse-variance weighted mosaic.

    See the module documentation for the method.

    Parameters
    ----------
    image_paths : sequence of path
        Primary-beam-corrected input images (``<name>-image-pb.fits``), in time order.
    output_path : path
        The mosaic FITS to write (overwritten); the weight and noise maps go beside it
        (:func:`mosaic_side_paths`).
    settings : Settings, optional
        ``settings.mosaic`` gives the projection, the beam cut-off and the memory step.
    beam_paths : sequence of path or None, optional
        Primary-beam image per input (default ``<name>-beam.fits`` beside
        ``<name>-image-pb.fits``; None in the sequence: the default).
    noise_jy : sequence of float or None, optional
        Noise of each input's uncorrected image (default: measured on ``<name>-image.fits``).
    dec_tolerance_deg : float, optional
        When given, inputs whose declination centres differ from the first one's by more are
        refused (one declination strip per mosaic).

    Returns
    -------
    MosaicResult

    Raises
    ------
    MosaicError
        No inputs, an input missing or unreadable (the message names it), without a restoring
        beam, on another declination strip, or not overlapping the grid.

    Warns
    -----
    ContimgWarning
        For an input without a primary-beam image (weighted as a flat beam).

    Examples
    --------
    >>> import tempfile, os
    >>> from dsa110_contimg.simulation.mosaic_inputs import make_pb_image_set
    >>> d = tempfile.mkdtemp()
    >>> s = make_pb_image_set(d, n_images=2, shape=(96, 96), n_sources=0, seed=1)
    >>> r = build_mosaic(s.pb_paths, os.path.join(d, "mos.fits"))
    >>> r.n_images, r.path.name
    (2, 'mos.fits')
    """
    cfg = resolve_settings(settings).mosaic
    if len(image_paths) == 0:
        raise MosaicError("no input images")
    output_path = Path(output_path)
    resolved = _resolve_inputs(image_paths, beam_paths, noise_jy)
    if dec_tolerance_deg is not None:
        dec0 = resolved[0].dec_center_deg
        for r in resolved[1:]:
            if abs(r.dec_center_deg - dec0) > dec_tolerance_deg:
                raise MosaicError(
                    f"input is on another declination strip (dec {r.dec_center_deg:.3f} deg vs "
                    f"{dec0:.3f} deg of {resolved[0].inp.path.name}, tolerance "
                    f"{dec_tolerance_deg} deg)",
                    path=r.inp.path,
                )
    beam = common_beam([r.inp.beam for r in resolved])
    scale = min(r.pixel_scale_deg for r in resolved)
    try:
        grid = mosaic_grid(
            [r.wcs for r in resolved], [r.shape for r in resolved],
            pixel_scale_deg=scale, projection=cfg.projection,
        )
    except ValueError as exc:
        raise MosaicError(f"cannot build the output grid: {exc}", path=output_path) from None
    ny, nx = grid.shape
    log.info("mosaic %s: %d inputs onto %d x %d pixels of %.2f arcsec, beam %.1f x %.1f arcsec",
             output_path.name, len(resolved), ny, nx, scale * 3600,
             beam.bmaj_deg * 3600, beam.bmin_deg * 3600)
    sum_wi = np.zeros((ny, nx), dtype=np.float64)
    sum_w = np.zeros((ny, nx), dtype=np.float64)
    final_inputs = []
    n_conv = 0
    for res, box in zip(resolved, grid.boxes, strict=True):
        try:
            conv = _convolved_plane(res, beam)
        except (OSError, ValueError) as exc:
            raise MosaicError(f"cannot convolve to the common beam ({exc})",
                              path=res.inp.path) from None
        sigma = res.inp.noise_jy
        data = None
        if conv is not None:
            data, factor = conv
            sigma *= factor
            n_conv += 1
        try:
            _accumulate(res, grid, box, sum_wi, sum_w, data_override=data, sigma=sigma,
                        min_beam=cfg.min_beam_response, strip_pixels=cfg.strip_pixels)
        except ContimgError:
            raise
        except (OSError, ValueError) as exc:
            raise MosaicError(f"cannot reproject the input ({exc})", path=res.inp.path) from None
        del data
        final_inputs.append(
            MosaicInput(res.inp.path, res.inp.beam_path, sigma, res.inp.beam,
                        res.inp.mjd_start, res.inp.mjd_end)
        )
    if not (sum_w > 0).any():
        raise MosaicError("no input pixel contributed to the mosaic", path=output_path)
    starts = [r.inp.mjd_start for r in resolved if r.inp.mjd_start is not None]
    ends = [r.inp.mjd_end for r in resolved if r.inp.mjd_end is not None]
    mjd_start = min(starts) if starts else None
    mjd_end = max(ends) if ends else None
    weight_path, noise_path = mosaic_side_paths(output_path)
    h_mos, h_w, h_n = _headers(grid, resolved, beam, mjd_start, mjd_end, weight_path, noise_path)
    step = max(1, cfg.strip_pixels // nx)
    output_path.parent.mkdir(parents=True, exist_ok=True)

    def mosaic_rows(r0: int, r1: int) -> np.ndarray:
        w = sum_w[r0:r1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(w > 0, sum_wi[r0:r1] / w, np.nan)

    def noise_rows(r0: int, r1: int) -> np.ndarray:
        w = sum_w[r0:r1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(w > 0, 1.0 / np.sqrt(w), np.nan)

    _write_streaming(output_path, h_mos, grid.shape, mosaic_rows, step)
    _write_streaming(weight_path, h_w, grid.shape, lambda a, b: sum_w[a:b], step)
    _write_streaming(noise_path, h_n, grid.shape, noise_rows, step)
    min_noise = float(1.0 / math.sqrt(float(sum_w.max())))
    return MosaicResult(
        path=output_path,
        weight_path=weight_path,
        noise_path=noise_path,
        n_images=len(resolved),
        inputs=tuple(final_inputs),
        shape=grid.shape,
        pixel_scale_deg=scale,
        ra_center_deg=grid.ra_center_deg,
        dec_center_deg=grid.dec_center_deg,
        beam=beam,
        mjd_start=mjd_start,
        mjd_end=mjd_end,
        min_noise_jy=min_noise,
        n_convolved=n_conv,
    )
