"""Raw tables read from FITS, VOTable, CSV/TSV and HEASARC files, with line-aware errors.

A reader module maps a :class:`RawTable` (columns by case-insensitive name) to the store's
unit convention. Numbers that do not parse, and bad positions, raise
:class:`~dsa110_contimg.errors.CatalogError` naming the file and the line (text files) or
row (FITS, VOTable), so a malformed file is refused before anything is written.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import CatalogError

__all__ = ["RawTable", "open_text", "read_head", "read_raw_table", "sexagesimal_to_deg"]

_NAN_TOKENS = {"", "nan", "NaN", "NAN", "null", "NULL", "None", "--", "N/A", "n/a", "-"}


def read_head(path: Path, size: int = 65536) -> bytes:
    """Return the first bytes of a file (decompressed when gzip)."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        with gzip.open(path, "rb") as fh:
            try:
                return fh.read(size)
            except (OSError, EOFError) as exc:
                raise CatalogError(f"corrupt gzip file ({exc})", path=path) from None
    with open(path, "rb") as fh:
        return fh.read(size)


def open_text(path: Path) -> io.TextIOBase:
    """Open a (possibly gzip-compressed) text file for reading."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace", newline="")


@dataclass
class RawTable:
    """Columns of a catalog file by name, plus how to name a row in an error message.

    Attributes
    ----------
    path : Path
        The file.
    columns : dict
        Original column name -> values (numpy array or list of str).
    lines : numpy.ndarray or None
        Line number of each row in a text file (None: rows are numbered from 1).
    kind : str
        ``fits``, ``votable``, ``csv`` or ``text``.
    dropped : frozenset of str
        Lower-case names of columns present in the file but not kept (large text files keep
        only the columns some reader uses, see :data:`READ_COLUMNS`).
    """

    path: Path
    columns: dict[str, Sequence]
    lines: np.ndarray | None = None
    kind: str = "csv"
    dropped: frozenset[str] = frozenset()
    _lower: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._lower = {k.lower().strip(): k for k in self.columns}

    def __len__(self) -> int:
        for v in self.columns.values():
            return len(v)
        return 0

    @property
    def names(self) -> list[str]:
        """Original column names."""
        return list(self.columns)

    def find(self, *candidates: str) -> str | None:
        """Return the first candidate present (case-insensitive), or None."""
        for c in candidates:
            key = self._lower.get(c.lower())
            if key is not None:
                return key
            if c.lower() in self.dropped:  # pragma: no cover - a reader/READ_COLUMNS mismatch
                raise RuntimeError(f"column {c!r} is read but missing from READ_COLUMNS")
        return None

    def has(self, *candidates: str) -> bool:
        """Whether any candidate column is present."""
        return self.find(*candidates) is not None

    def where(self, i: int) -> str:
        """How to name row ``i`` in a message (``line N`` or ``row N``)."""
        if self.lines is not None:
            return f"line {int(self.lines[i])}"
        return f"row {i + 1}"

    def error(self, i: int, message: str) -> CatalogError:
        """Return a CatalogError naming the file and the row."""
        return CatalogError(f"{self.where(i)}: {message}", path=self.path)

    def float(self, *candidates: str, required: bool = False) -> np.ndarray:
        """Return a column as float64 (NaN where blank or masked); NaN array if absent."""
        name = self.find(*candidates)
        if name is None:
            if required:
                raise CatalogError(f"missing column {candidates[0]!r}", path=self.path)
            return np.full(len(self), np.nan)
        values = self.columns[name]
        if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
            out = np.asarray(values, dtype=np.float64)
            if isinstance(values, np.ma.MaskedArray):
                out = np.ma.asarray(values).astype(np.float64).filled(np.nan)
            return out
        if isinstance(values, np.ma.MaskedArray) and values.dtype.kind in "fiub":
            return values.astype(np.float64).filled(np.nan)
        return self._parse_floats(name, values)

    def _parse_floats(self, name: str, values: Sequence) -> np.ndarray:
        if isinstance(values, np.ndarray) and values.dtype.kind in "SU":
            arr = values
        else:
            arr = np.asarray([_decode(v) for v in values], dtype=str)
        if arr.size == 0:
            return np.zeros(0)
        arr = np.strings.strip(arr)
        if arr.dtype.kind == "S":
            blank = np.isin(arr, [t.encode() for t in _NAN_TOKENS])
            arr = np.where(blank, b"nan", arr)
        else:
            blank = np.isin(arr, list(_NAN_TOKENS))
            arr = np.where(blank, "nan", arr)
        try:
            return arr.astype(np.float64)
        except ValueError:
            for i, v in enumerate(arr.tolist()):
                try:
                    float(v)
                except ValueError:
                    text = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                    raise self.error(i, f"column {name!r}: {text!r} is not a number") from None
            raise  # pragma: no cover - astype failed, so some value must fail

    def text(self, *candidates: str) -> np.ndarray:
        """Return a column as stripped str ('' where absent or masked)."""
        name = self.find(*candidates)
        if name is None:
            return np.full(len(self), "", dtype="U1")
        values = self.columns[name]
        if isinstance(values, np.ma.MaskedArray):
            mask = np.ma.getmaskarray(values)
            arr = np.array([_decode(v) for v in values.data], dtype=str)
            arr = np.where(mask, "", arr)
        elif isinstance(values, np.ndarray) and values.dtype.kind == "S":
            arr = np.char.decode(values, "utf-8", "replace")
        elif isinstance(values, np.ndarray) and values.dtype.kind == "U":
            arr = values
        else:
            arr = np.array([_decode(v) for v in values], dtype=str)
        if arr.size == 0:
            return np.array([], dtype="U1")
        return np.strings.strip(arr.astype(str))


def _decode(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if v is None or v is np.ma.masked:
        return ""
    return str(v)


# --------------------------------------------------------------------------- loaders

#: Columns (lower case) any reader uses. Large text files (CSV, TSV, HEASARC tdat) keep only
#: these, as compact byte-string arrays, so a 3.4-million-row, 70-column VLASS table fits in
#: memory. A reader asking for a column that was dropped fails loudly (see RawTable.find).
READ_COLUMNS = frozenset(
    c.lower()
    for c in (
        # NVSS (HEASARC, VizieR, CATALOG41)
        "name ra dec ra_error dec_error flux_20_cm flux_20_cm_error limit_major_axis "
        "major_axis limit_minor_axis minor_axis position_angle residual_code "
        "NVSS RAJ2000 DEJ2000 _RAJ2000 _DEJ2000 e_RAJ2000 e_DEJ2000 S1.4 e_S1.4 l_MajAxis "
        "MajAxis l_MinAxis MinAxis PA f_resFlux "
        # FIRST
        "RA DEC SIDEPROB FPEAK FINT RMS MAJOR MINOR POSANG FITTED_MAJOR FITTED_MINOR "
        "FITTED_POSANG FLDNAME p(S) SideProb PS Fpeak Fint Rms Maj Min fMaj fMin fPA Fld FldName "
        # RACS CASDA / VizieR
        "Source_Name Source_ID Gaussian_ID Total_flux_Source Total_flux_Gaussian "
        "E_Total_flux_Source E_Total_flux_Source_PyBDSF E_Total_flux_Gaussian "
        "E_Total_flux_Gaussian_PyBDSF Peak_flux E_Peak_flux E_RA E_Dec maj_axis min_axis "
        "pos_ang DC_Maj DC_Min DC_PA dc_maj_axis dc_min_axis dc_pos_ang Noise S_Code Flag_Close "
        "ID RACS-DR1 RACS GID Ftot Fpk e_Ftot e_Fpk amaj bmin SCode "
        # Selavy, Aegean
        "component_id component_name ra_deg_cont dec_deg_cont ra_err dec_err flux_peak "
        "flux_peak_err flux_int flux_int_err maj_axis_deconv min_axis_deconv pos_ang_deconv "
        "rms_image has_siblings flag_c4 island_id island int_flux err_int_flux peak_flux "
        "err_peak_flux err_ra err_dec a b pa local_rms flags "
        # VLASS
        "Component_name Total_flux E_Total_flux Isl_rms Duplicate_flag Quality_flag"
    ).split()
)

_CHUNK_LINES = 200_000


class ColumnBuilder:
    """Accumulate the fields of a big text table into compact per-column arrays.

    Parameters
    ----------
    names : list of str
        Column names in file order.
    keep : collection of str, optional
        Lower-case names to keep (default: all).
    """

    def __init__(self, names: list[str], keep: frozenset[str] | None = None) -> None:
        self.names = names
        self.keep = [i for i, n in enumerate(names) if keep is None or n.lower().strip() in keep]
        self.dropped = frozenset(
            n.lower().strip() for i, n in enumerate(names) if i not in set(self.keep)
        )
        self._pending: list[list[str]] = [[] for _ in self.keep]
        self._chunks: list[list[np.ndarray]] = [[] for _ in self.keep]
        self._lines: list[int] = []

    def add(self, fields: Sequence[str], line_no: int) -> None:
        """Add one row (all its fields, in file order)."""
        for pending, i in zip(self._pending, self.keep, strict=True):
            pending.append(fields[i])
        self._lines.append(line_no)
        if len(self._pending[0] if self._pending else self._lines) >= _CHUNK_LINES:
            self._flush()

    def clear(self) -> None:
        """Forget the rows added so far."""
        self._pending = [[] for _ in self.keep]
        self._chunks = [[] for _ in self.keep]
        self._lines = []

    def __len__(self) -> int:
        return len(self._lines)

    def _flush(self) -> None:
        for j, pending in enumerate(self._pending):
            if pending:
                try:
                    arr = np.array(pending, dtype="S")
                except UnicodeEncodeError:
                    arr = np.array(pending, dtype=str)
                self._chunks[j].append(arr)
        self._pending = [[] for _ in self.keep]

    def build(self, path: Path, kind: str) -> RawTable:
        """Return the rows as a :class:`RawTable`."""
        self._flush()
        cols: dict[str, Sequence] = {}
        for j, i in enumerate(self.keep):
            parts = self._chunks[j]
            if not parts:
                cols[self.names[i]] = np.array([], dtype="S1")
            elif any(p.dtype.kind == "U" for p in parts):
                cols[self.names[i]] = np.concatenate([p.astype(str) for p in parts])
            else:
                cols[self.names[i]] = np.concatenate(parts)
        return RawTable(
            path,
            cols,
            lines=np.asarray(self._lines, dtype=np.int64),
            kind=kind,
            dropped=self.dropped,
        )


def read_raw_table(path: Path, *, head: bytes | None = None) -> RawTable:
    """Load a FITS binary table, a VOTable or a CSV/TSV file as a :class:`RawTable`."""
    head = read_head(path) if head is None else head
    if head.startswith(b"SIMPLE  ="):
        return _read_fits(path)
    text = head.lstrip()
    if text.startswith(b"<?xml") or b"<VOTABLE" in head[:2000]:
        return _read_votable(path)
    return _read_delimited(path)


def _read_fits(path: Path) -> RawTable:
    from astropy.io import fits

    try:
        hdul = fits.open(path, memmap=True)
    except (OSError, ValueError) as exc:
        raise CatalogError(f"not a readable FITS file ({exc})", path=path) from None
    with hdul:
        for hdu in hdul[1:]:
            if isinstance(hdu, fits.BinTableHDU | fits.TableHDU) and hdu.data is not None:
                data = hdu.data
                cols = {}
                for name in data.columns.names:
                    col = np.asarray(data[name])
                    if col.dtype.byteorder not in ("=", "|"):
                        col = col.astype(col.dtype.newbyteorder("="))
                    else:
                        col = np.array(col)
                    cols[name] = col
                return RawTable(path, cols, kind="fits")
    raise CatalogError("no table extension in this FITS file", path=path)


def _read_votable(path: Path) -> RawTable:
    from astropy.io.votable import parse_single_table
    from astropy.io.votable.exceptions import VOWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VOWarning)
            table = parse_single_table(str(path), verify="ignore").to_table(use_names_over_ids=True)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad catalog file
        raise CatalogError(f"not a readable VOTable ({exc})", path=path) from None
    cols = {}
    for name in table.colnames:
        col = table[name]
        cols[name] = (
            np.ma.asarray(col) if getattr(col, "mask", None) is not None else np.asarray(col)
        )
    return RawTable(path, cols, kind="votable")


def _read_delimited(path: Path) -> RawTable:
    with open_text(path) as fh:
        line_no = 0
        header = None
        for raw in fh:
            line_no += 1
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                continue
            header = raw.rstrip("\r\n")
            break
        if header is None:
            raise CatalogError("empty file: no header line", path=path)
        delim = max([",", "\t", ";", "|"], key=header.count)
        if header.count(delim) == 0:
            raise CatalogError("not a recognized catalog file (no delimited header)", path=path)
        names = [h.strip() for h in next(csv.reader([header], delimiter=delim))]
        ncol = len(names)
        builder = ColumnBuilder(names, READ_COLUMNS)
        reader = csv.reader(fh, delimiter=delim)
        first_data = True
        for row in reader:
            line_no += 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if row[0].lstrip().startswith("#"):
                continue
            if first_data and any(row) and all(c.strip() and set(c.strip()) <= {"-"} for c in row):
                # VizieR TSV: a units line and a dashes line follow the header
                builder.clear()
                first_data = False
                continue
            if len(row) != ncol:
                raise CatalogError(
                    f"line {line_no}: expected {ncol} fields, found {len(row)}", path=path
                )
            builder.add(row, line_no)
            if len(builder) > 3:
                first_data = False
    return builder.build(path, "csv")


# --------------------------------------------------------------------------- helpers

_SEX_SPLIT = re.compile(r"[\s:hdms]+")


def sexagesimal_to_deg(
    raw: RawTable, ra_text: np.ndarray, dec_text: np.ndarray, *, dec_dots: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Convert sexagesimal RA (hours) and Dec strings to degrees, naming bad lines.

    Parameters
    ----------
    raw : RawTable
        Where the strings come from (for error messages).
    ra_text, dec_text : array of str
        ``"hh mm ss.ss"`` / ``"hh:mm:ss.ss"`` and ``"+dd mm ss.s"`` / ``"+dd:mm:ss.s"``.
    dec_dots : bool
        The declination uses dots as separators (makesourcedb ``+dd.mm.ss.s``).

    Returns
    -------
    ra_deg, dec_deg : numpy.ndarray
    """
    n = len(ra_text)
    ra = np.empty(n)
    dec = np.empty(n)
    for i in range(n):
        r, d = ra_text[i], dec_text[i]
        try:
            h, m, s = _three(r)
            if dec_dots:
                sign, dd = _dot_dec(d)
            else:
                t = d.strip()
                sign = -1.0 if t.startswith("-") else 1.0
                dd = _three(t.lstrip("+-"))
            ra[i] = 15.0 * (h + m / 60.0 + s / 3600.0)
            dec[i] = sign * (dd[0] + dd[1] / 60.0 + dd[2] / 3600.0)
        except (ValueError, IndexError):
            raise raw.error(i, f"cannot parse sexagesimal position {r!r} {d!r}") from None
    return ra, dec


def _three(text: str) -> tuple[float, float, float]:
    parts = [p for p in _SEX_SPLIT.split(text.strip()) if p]
    if not 1 <= len(parts) <= 3:
        raise ValueError(text)
    vals = [float(p) for p in parts] + [0.0] * (3 - len(parts))
    if vals[1] >= 60 or vals[2] >= 60 or vals[1] < 0 or vals[2] < 0:
        raise ValueError(text)
    return vals[0], vals[1], vals[2]


def _dot_dec(text: str) -> tuple[float, tuple[float, float, float]]:
    t = text.strip()
    sign = -1.0 if t.startswith("-") else 1.0
    parts = t.lstrip("+-").split(".")
    if len(parts) < 3:
        raise ValueError(text)
    sec = float(".".join(parts[2:4])) if len(parts) > 3 else float(parts[2])
    return sign, (float(parts[0]), float(parts[1]), sec)
