"""makesourcedb / lsmtool sky models (``.sky``): ``FORMAT = Name, Type, Patch, Ra, Dec, I, ...``.

RA ``hh:mm:ss.ss`` (or degrees), Dec ``+dd.mm.ss.s`` (dots) or degrees, ``I`` in **Jy**,
``MajorAxis``/``MinorAxis`` in arcsec (for NVSS-derived models, the deconvolved axes),
``Orientation`` in degrees. Patch rows (blank name) are skipped. NVSS-style names
(``131726+445655``) become ``J131726+445655``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from ...errors import CatalogError
from ._result import ReadResult, build_result, survey_jname
from ._table import RawTable, open_text, sexagesimal_to_deg

__all__ = ["FORMAT", "matches_head", "read"]

FORMAT = "lsmtool-sky"

_FORMAT_LINE = re.compile(r"^\s*#?\s*\(?\s*format\s*=", re.IGNORECASE)


def matches_head(head: bytes) -> bool:
    """Whether the first non-blank line is a makesourcedb ``format =`` line."""
    for line in head.decode("utf-8", "replace").splitlines():
        if line.strip():
            return bool(_FORMAT_LINE.match(line))
    return False


def read(path: Path) -> ReadResult:
    """Read a makesourcedb sky model."""
    names: list[str] | None = None
    values: list[list[str]] = []
    lines: list[int] = []
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            if names is None:
                if not _FORMAT_LINE.match(text):
                    raise CatalogError(f"line {line_no}: expected a 'FORMAT = ...' line", path=path)
                spec = text.split("=", 1)[1].strip().strip("()")
                names = [f.split("=")[0].strip() for f in spec.split(",")]
                values = [[] for _ in names]
                continue
            if text.startswith("#"):
                continue
            fields = next(csv.reader([text], skipinitialspace=True))
            if len(fields) > len(names):
                raise CatalogError(
                    f"line {line_no}: expected at most {len(names)} fields, found {len(fields)}",
                    path=path,
                )
            fields += [""] * (len(names) - len(fields))
            for v, f in zip(values, fields, strict=True):
                v.append(f.strip())
            lines.append(line_no)
    if names is None:
        raise CatalogError("empty sky model", path=path)
    raw = RawTable(
        path, dict(zip(names, values, strict=True)), lines=np.asarray(lines), kind="text"
    )
    name = raw.text("Name")
    patch_rows = name == ""
    ra_text, dec_text = raw.text("Ra"), raw.text("Dec")
    ra = np.full(len(raw), np.nan)
    dec = np.full(len(raw), np.nan)
    src = np.flatnonzero(~patch_rows)
    if src.size:
        sub = RawTable(path, {"x": list(src)}, lines=raw.lines[src], kind="text")
        ra_s, dec_s = ra_text[src], dec_text[src]
        sex = np.char.find(ra_s, ":") >= 0
        if np.any(sex):
            r, d = sexagesimal_to_deg(sub, ra_s, dec_s, dec_dots=True)
            ra[src[sex]], dec[src[sex]] = r[sex], d[sex]
        if np.any(~sex):
            deg = RawTable(
                path, {"Ra": list(ra_s[~sex]), "Dec": list(dec_s[~sex])}, lines=raw.lines[src][~sex]
            )
            ra[src[~sex]], dec[src[~sex]] = deg.float("Ra"), deg.float("Dec")
    skipped = {"patch": int(patch_rows.sum())} if patch_rows.any() else {}
    cols = {
        "source_id": survey_jname(name),
        "ra_deg": ra,
        "dec_deg": dec,
        "flux_mjy": raw.float("I") * 1e3,
        "dc_maj_arcsec": raw.float("MajorAxis"),
        "dc_min_arcsec": raw.float("MinorAxis"),
        "dc_pa_deg": raw.float("Orientation"),
    }
    return build_result(raw, FORMAT, cols, keep=~patch_rows, skipped=skipped)
