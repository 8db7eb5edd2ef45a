"""NVSS from HEASARC: ``heasarc_nvss.tdat(.gz)``.

A ``<HEADER>`` block of ``key = value`` lines (``line[1] = <column order>``), then
``<DATA>``, rows of ``|``-separated fields with a trailing ``|``, then ``<END>``. The column
order is taken from ``line[1]``, never from a fixed number of header lines. RA/Dec are in
degrees, ``ra_error`` in seconds of time, ``dec_error`` in arcsec, ``flux_20_cm`` (integrated)
in mJy, axes deconvolved in arcsec with ``<`` in ``limit_*`` marking upper limits.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ...errors import CatalogError
from ._result import ReadResult, build_result, flag_strings, survey_jname
from ._table import READ_COLUMNS, ColumnBuilder, RawTable, open_text

__all__ = ["FORMAT", "matches_head", "read"]

FORMAT = "nvss-heasarc"

_KEY = re.compile(r"^\s*([A-Za-z_][\w\[\]]*)\s*=\s*(.*?)\s*$")


def matches_head(head: bytes) -> bool:
    """Whether the first bytes look like a HEASARC tdat file."""
    return b"<HEADER>" in head[:4096] or (b"line[1]" in head and b"<DATA>" in head)


def read_tdat(path: Path) -> tuple[dict[str, str], RawTable]:
    """Parse any HEASARC tdat file into its header keys and a :class:`RawTable`."""
    header: dict[str, str] = {}
    names: list[str] | None = None
    builder: ColumnBuilder | None = None
    state = "start"
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, start=1):
            text = line.rstrip("\r\n")
            tag = text.strip()
            if state != "data":
                if tag == "<HEADER>":
                    state = "header"
                    continue
                if tag == "<DATA>":
                    if "line[1]" not in header:
                        raise CatalogError(
                            f"line {line_no}: <DATA> before the 'line[1]' column order", path=path
                        )
                    names = header["line[1]"].split()
                    builder = ColumnBuilder(names, READ_COLUMNS)
                    state = "data"
                    continue
                m = _KEY.match(text)
                if m:
                    header[m.group(1)] = m.group(2)
                continue
            if tag == "<END>":
                state = "end"
                break
            if not tag:
                continue
            fields = text.split("|")
            if fields and fields[-1].strip() == "":
                fields = fields[:-1]  # the trailing '|'
            if len(fields) != len(names):
                raise CatalogError(
                    f"line {line_no}: expected {len(names)} '|'-separated fields, "
                    f"found {len(fields)}",
                    path=path,
                )
            builder.add(fields, line_no)
    if names is None or builder is None:
        raise CatalogError("no <DATA> section (not a HEASARC tdat file?)", path=path)
    if state != "end":
        raise CatalogError("truncated file: no <END> after the data", path=path)
    return header, builder.build(path, "text")


def read(path: Path) -> ReadResult:
    """Read a HEASARC NVSS tdat(.gz) file."""
    header, raw = read_tdat(path)
    table_name = header.get("table_name", "").strip().lower()
    if table_name and table_name != "heasarc_nvss" and "nvss" not in table_name:
        raise CatalogError(f"HEASARC table {table_name!r} is not NVSS", path=path)
    for col in ("ra", "dec", "flux_20_cm"):
        if not raw.has(col):
            raise CatalogError(f"the 'line[1]' column order lacks {col!r}", path=path)
    dec = raw.float("dec")
    ra_err_s = raw.float("ra_error")
    lim_maj, lim_min = raw.text("limit_major_axis"), raw.text("limit_minor_axis")
    cols = {
        "source_id": survey_jname(raw.text("name")),
        "ra_deg": raw.float("ra"),
        "dec_deg": dec,
        "flux_mjy": raw.float("flux_20_cm"),
        "flux_err_mjy": raw.float("flux_20_cm_error"),
        "ra_err_arcsec": ra_err_s * 15.0 * np.cos(np.radians(np.nan_to_num(dec))),
        "dec_err_arcsec": raw.float("dec_error"),
        "dc_maj_arcsec": raw.float("major_axis"),
        "dc_min_arcsec": raw.float("minor_axis"),
        "dc_pa_deg": raw.float("position_angle"),
        "flags": flag_strings(
            [
                ("dc_maj_limit", np.where(lim_maj == "<", "1", "")),
                ("dc_min_limit", np.where(lim_min == "<", "1", "")),
                ("residual", raw.text("residual_code")),
            ],
            len(raw),
        ),
    }
    return build_result(raw, FORMAT, cols, ra_decimals=0, dec_decimals=0)
