"""Server-side pictures and cutouts of FITS images: PNG previews and FITS/PNG cutouts.

Matplotlib is used through its object API with the Agg canvas (no pyplot, no global state),
so rendering is safe in the server's worker threads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InvalidImageError
from .errors import ApiError

__all__ = ["RenderCache", "block_reduce", "cutout_fits", "cutout_png", "preview_png"]


def _image(path: str | Path):
    from ..photometry.image import read_image

    return read_image(path)


def block_reduce(data: np.ndarray, max_side: int) -> tuple[np.ndarray, int]:
    """Block-average a 2-D array so neither side exceeds ``max_side``; return it and the factor.

    NaN (blanked) pixels are ignored in each block's mean.

    Examples
    --------
    >>> a, f = block_reduce(np.arange(16.0).reshape(4, 4), 2)
    >>> f, a.tolist()
    (2, [[2.5, 4.5], [10.5, 12.5]])
    """
    f = max(1, math.ceil(max(data.shape) / max_side))
    arr = np.asarray(data, dtype=np.float64)
    if f == 1:
        return arr, 1
    ny, nx = (arr.shape[0] // f) * f, (arr.shape[1] // f) * f
    blocks = arr[:ny, :nx].reshape(ny // f, f, nx // f, f)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(blocks)
        total = np.where(finite, blocks, 0.0).sum(axis=(1, 3))
        count = finite.sum(axis=(1, 3))
        out = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out, f


def _limits(data: np.ndarray) -> tuple[float, float]:
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1.0, 99.7])
    if not hi > lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def _imshow_mjy(ax, data_jy: np.ndarray, lo_jy: float, hi_jy: float):
    """Show an image in mJy/beam (grey, low values white) between two levels given in Jy."""
    return ax.imshow(
        data_jy * 1e3,
        origin="lower",
        cmap="gray_r",
        vmin=lo_jy * 1e3,
        vmax=hi_jy * 1e3,
        interpolation="nearest",
    )


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def preview_png(
    path: str | Path,
    *,
    positions: Sequence[tuple[float, float, bool]] = (),
    max_side: int = 1024,
    title: str | None = None,
) -> bytes:
    """Render a PNG preview of a FITS image with measured positions overlaid.

    Parameters
    ----------
    path : str or Path
        The FITS image.
    positions : sequence of (ra_deg, dec_deg, clean)
        Positions to mark: green circles for clean measurements, red for flagged ones.
    max_side : int
        Largest side of the rendered pixel grid (bigger images are block-averaged).
    title : str, optional
        Title drawn above the image.

    Returns
    -------
    bytes
        The PNG file.
    """
    from matplotlib.figure import Figure

    img = _image(path)
    data, f = block_reduce(img.data, max_side)
    wcs = img.wcs.slice((slice(None, None, f), slice(None, None, f))) if f > 1 else img.wcs
    lo, hi = _limits(data)
    side_in = 7.0
    fig = Figure(figsize=(side_in, side_in * data.shape[0] / data.shape[1] + 0.6), dpi=110)
    ax = fig.add_subplot(projection=wcs)
    shown = _imshow_mjy(ax, data, lo, hi)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, label="mJy/beam")
    ax.set_xlabel("RA")
    ax.set_ylabel("Dec")
    if positions:
        pos = np.asarray([(p[0], p[1]) for p in positions], dtype=float)
        clean = np.asarray([bool(p[2]) for p in positions])
        x, y = wcs.world_to_pixel_values(pos[:, 0], pos[:, 1])
        ok = np.isfinite(x) & np.isfinite(y)
        r = max(4.0, 12.0 / f)
        for sel, color in ((ok & clean, "#1a9850"), (ok & ~clean, "#d73027")):
            if sel.any():
                ax.scatter(
                    x[sel], y[sel], s=r**2, facecolors="none", edgecolors=color, linewidths=1.0
                )
        ax.set_xlim(-0.5, data.shape[1] - 0.5)
        ax.set_ylim(-0.5, data.shape[0] - 0.5)
    if title:
        ax.set_title(title, fontsize=9)
    fig.subplots_adjust(left=0.14, right=0.9, top=0.94, bottom=0.08)
    return _png(fig)


def _cutout(path: str | Path, ra_deg: float, dec_deg: float, size_arcmin: float, max_pixels: int):
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D
    from astropy.nddata.utils import NoOverlapError

    img = _image(path)
    side = int(math.ceil(size_arcmin / 60.0 / img.pixel_scale_deg - 1e-6))
    if side > max_pixels:
        raise ApiError(
            422,
            f"cutout of {size_arcmin} arcmin is {side} pixels wide; the maximum is {max_pixels}",
        )
    side = max(side, 2)
    try:
        cut = Cutout2D(
            img.data,
            SkyCoord(ra_deg, dec_deg, unit="deg"),
            (side, side),
            wcs=img.wcs,
            mode="partial",
            fill_value=np.nan,
            copy=True,
        )
    except NoOverlapError:
        raise ApiError(
            422, f"position ({ra_deg}, {dec_deg}) deg is outside image {Path(path).name}"
        ) from None
    except ValueError:  # non-finite pixel position: the far side of the projection
        raise ApiError(
            422,
            f"position ({ra_deg}, {dec_deg}) deg is outside image {Path(path).name} "
            "(not on its projection)",
        ) from None
    return img, cut


_KEEP_KEYS = (
    "BUNIT",
    "BMAJ",
    "BMIN",
    "BPA",
    "DATE-OBS",
    "DATE-END",
    "MJD-OBS",
    "EXPTIME",
    "TELESCOP",
    "OBJECT",
    "RESTFRQ",
)


def cutout_fits(
    path: str | Path, ra_deg: float, dec_deg: float, *, size_arcmin: float, max_pixels: int = 1024
) -> bytes:
    """Return a FITS cutout (celestial WCS kept) around a position as bytes.

    Raises
    ------
    ApiError
        422 when the position does not overlap the image or the cutout is too large.
    InvalidImageError
        The file is not a FITS image with a celestial WCS.
    """
    from astropy.io import fits

    img, cut = _cutout(path, ra_deg, dec_deg, size_arcmin, max_pixels)
    header = cut.wcs.to_header()
    for key in _KEEP_KEYS:
        if key in img.header:
            header[key] = img.header[key]
    if img.freq_hz is not None:
        header["FREQ"] = (float(img.freq_hz), "Hz")
    header["ORIGIN"] = "dsa110_contimg cutout"
    header["SRCIMAGE"] = Path(path).name[:68]
    buf = io.BytesIO()
    try:
        fits.PrimaryHDU(np.asarray(cut.data, dtype=np.float32), header=header).writeto(buf)
    except (ValueError, OSError) as exc:  # pragma: no cover - malformed header values
        raise InvalidImageError(f"cannot write a cutout ({exc})", path=path) from None
    return buf.getvalue()


def cutout_png(
    path: str | Path,
    ra_deg: float,
    dec_deg: float,
    *,
    size_arcmin: float,
    max_pixels: int = 1024,
    title: str | None = None,
    annotate: bool = False,
    positions: Sequence[tuple[float, float]] = (),
) -> bytes:
    """Return a PNG of the cutout around a position, with a cross at the position.

    Parameters
    ----------
    path : str or Path
        The FITS image.
    ra_deg, dec_deg : float
        Centre of the cutout (the cross), degrees.
    size_arcmin : float
        Side of the cutout.
    max_pixels : int
        Largest side in pixels.
    title : str, optional
        Title above the picture.
    annotate : bool
        Draw what is needed to read the picture (the source page's strip): a scale bar
        labelled in arcmin, the restoring beam as an ellipse at its true size and angle, a
        colour bar in mJy/beam; the picture is ~128 px across.
    positions : sequence of (ra_deg, dec_deg)
        Catalog positions of other sources to mark (circles) on the cutout.
    """
    from matplotlib.figure import Figure

    img, cut = _cutout(path, ra_deg, dec_deg, size_arcmin, max_pixels)
    data = np.asarray(cut.data, dtype=np.float64)
    lo, hi = _limits(data)
    if not annotate:
        fig = Figure(figsize=(2.4, 2.6), dpi=100)
        ax = fig.add_axes((0.02, 0.02, 0.96, 0.86))
        ax.imshow(data, origin="lower", cmap="gray_r", vmin=lo, vmax=hi, interpolation="nearest")
        x, y = cut.wcs.world_to_pixel_values(ra_deg, dec_deg)
        ax.plot([x], [y], marker="+", color="#d73027", markersize=14, mew=1.2)
        ax.set_axis_off()
        if title:
            ax.set_title(title, fontsize=7)
        return _png(fig)
    from matplotlib.patches import Ellipse

    fig = Figure(figsize=(1.5, 1.7), dpi=100)  # 150 x 170 px: a 128 px image + colour bar
    ax = fig.add_axes((0.0, 0.2, 0.86, 0.7))
    cax = fig.add_axes((0.87, 0.2, 0.05, 0.7))
    shown = _imshow_mjy(ax, data, lo, hi)
    cb = fig.colorbar(shown, cax=cax)
    cb.ax.tick_params(labelsize=5, length=2, pad=1)
    cb.set_label("mJy/beam", fontsize=5, labelpad=1)
    ny, nx = data.shape
    pix_arcmin = img.pixel_scale_deg * 60.0
    x, y = cut.wcs.world_to_pixel_values(ra_deg, dec_deg)
    ax.plot([x], [y], marker="+", color="#d73027", markersize=9, mew=1.0)
    if positions:
        pos = np.asarray(positions, dtype=float).reshape(-1, 2)
        px, py = cut.wcs.world_to_pixel_values(pos[:, 0], pos[:, 1])
        ok = np.isfinite(px) & np.isfinite(py)
        ax.scatter(px[ok], py[ok], s=40, facecolors="none", edgecolors="#1a9850", linewidths=0.8)
    # scale bar: 1 arcmin (or the largest round size that fits in ~40% of the side)
    side_arcmin = nx * pix_arcmin
    bar = next((b for b in (5.0, 2.0, 1.0, 0.5, 0.2, 0.1) if b <= 0.4 * side_arcmin), 0.1)
    bar_px = bar / pix_arcmin
    x0, y0 = nx * 0.06, ny * 0.07
    ax.plot([x0, x0 + bar_px], [y0, y0], color="#08519c", lw=1.6)
    label = f"{bar:g}′" if bar >= 1 else f"{bar * 60:g}″"
    ax.text(x0 + bar_px / 2, y0 + ny * 0.03, label, color="#08519c", fontsize=6, ha="center")
    beam = img.beam
    if beam is not None:
        w, h = beam.bmaj_deg * 60 / pix_arcmin, beam.bmin_deg * 60 / pix_arcmin
        bx, by = nx - 0.08 * nx - w / 2, 0.08 * ny + w / 2
        # BPA is east of north; with north up and east left the ellipse's major axis is at
        # 90 + BPA from the +x axis of the picture
        ax.add_patch(
            Ellipse((bx, by), w, h, angle=90.0 + beam.bpa_deg, fc="none", ec="#e08214", lw=1.0)
        )
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        fig.text(0.45, 0.02, title, fontsize=6, ha="center", va="bottom")
    return _png(fig)


class RenderCache:
    """A small thread-safe LRU of rendered pictures, owned by one app (``app.state``).

    Examples
    --------
    >>> c = RenderCache(max_items=1)
    >>> c.get_or_make(("a",), lambda: b"1"), c.get_or_make(("a",), lambda: b"2")
    (b'1', b'1')
    >>> c.get_or_make(("b",), lambda: b"3"), c.get_or_make(("a",), lambda: b"4")
    (b'3', b'4')
    """

    def __init__(self, max_items: int = 64) -> None:
        import threading
        from collections import OrderedDict

        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.max_items = max_items

    def get_or_make(self, key: tuple, make) -> bytes:
        """Return the cached value of ``key``, or make, store and return it."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return value
