"""One reader per published catalog format, and format auto-detection.

=================  ==============================================================
format             files
=================  ==============================================================
nvss-heasarc       HEASARC ``heasarc_nvss.tdat(.gz)``
nvss-vizier        VizieR VIII/65 (FITS, VOTable, CSV/TSV)
nvss-catalog41     NRAO ``CATALOG41.FIT`` (AIPS VL table of raw fits)
first-fits         ``first_14dec17.fits``
first-vizier       VizieR VIII/92
racs-casda         RACS-low DR1 source or Gaussian tables from CASDA
racs-vizier        VizieR J/other/PASA/38.58
selavy             ASKAP Selavy component tables
aegean             Aegean component tables
vlass-cirada       CIRADA VLASS Quick Look component CSV
lsmtool-sky        makesourcedb / lsmtool ``.sky`` sky models
=================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...errors import CatalogError
from . import first, lsmtool_sky, nvss_catalog41, nvss_heasarc, nvss_vizier, racs, vlass
from ._result import ReadResult
from ._table import RawTable, read_head, read_raw_table

__all__ = ["FORMATS", "ReadResult", "detect_format", "read_catalog"]

# tabular formats: (name, matches(raw), read(raw)), in detection order
_TABULAR: list[tuple[str, Callable[[RawTable], bool], Callable[[RawTable], ReadResult]]] = [
    (nvss_catalog41.FORMAT, nvss_catalog41.matches, nvss_catalog41.read_raw),
    (nvss_vizier.FORMAT, nvss_vizier.matches, nvss_vizier.read_raw),
    (first.FORMAT_FITS, first.matches_fits, first.read_raw),
    (first.FORMAT_VIZIER, first.matches_vizier, first.read_raw),
    (vlass.FORMAT, vlass.matches, vlass.read_raw),
    (racs.FORMAT_CASDA, racs.matches_casda, racs.read_casda),
    (racs.FORMAT_SELAVY, racs.matches_selavy, racs.read_selavy),
    (racs.FORMAT_AEGEAN, racs.matches_aegean, racs.read_aegean),
    (racs.FORMAT_VIZIER, racs.matches_vizier, racs.read_vizier),
]
_TEXT = {nvss_heasarc.FORMAT: nvss_heasarc.read, lsmtool_sky.FORMAT: lsmtool_sky.read}

#: Every format name accepted by ``--format``.
FORMATS: tuple[str, ...] = (*_TEXT, *(name for name, _, _ in _TABULAR))


def _text_format(head: bytes) -> str | None:
    if nvss_heasarc.matches_head(head):
        return nvss_heasarc.FORMAT
    if lsmtool_sky.matches_head(head):
        return lsmtool_sky.FORMAT
    return None


def _check_file(path: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CatalogError("catalog file not found", path=path)
    return path


def detect_format(path: str | Path) -> str:
    """Return the format name of a catalog file.

    Raises
    ------
    CatalogError
        The file is missing or matches no known format.
    """
    path = _check_file(Path(path))
    head = read_head(path)
    fmt = _text_format(head)
    if fmt is not None:
        return fmt
    raw = read_raw_table(path, head=head)
    return _match(raw)


def _match(raw: RawTable) -> str:
    for name, matches, _ in _TABULAR:
        if matches(raw):
            return name
    cols = ", ".join(raw.names[:12])
    raise CatalogError(
        f"unrecognized catalog format (columns: {cols}...); pass --format, one of "
        + ", ".join(FORMATS),
        path=raw.path,
    )


def read_catalog(path: str | Path, *, format: str | None = None) -> ReadResult:
    """Read a catalog file into the store's unit convention.

    Parameters
    ----------
    path : str or Path
        The catalog file (gzip-compressed text is read transparently).
    format : str, optional
        One of :data:`FORMATS`; detected from the content when omitted.

    Returns
    -------
    ReadResult
        Standard table, format, rows skipped by reason.

    Raises
    ------
    CatalogError
        Unknown format, or a malformed row (the message names the file and the line).
    """
    path = _check_file(Path(path))
    if format is not None and format not in FORMATS:
        raise CatalogError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    if format in _TEXT:
        return _TEXT[format](path)
    head = read_head(path)
    if format is None:
        fmt = _text_format(head)
        if fmt is not None:
            return _TEXT[fmt](path)
    raw = read_raw_table(path, head=head)
    name = format or _match(raw)
    reader = next(r for n, _, r in _TABULAR if n == name)
    try:
        return reader(raw)
    except KeyError as exc:  # pragma: no cover - readers look columns up with .find
        raise CatalogError(f"missing column {exc} for format {name}", path=path) from None
