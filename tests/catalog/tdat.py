"""A realistic HEASARC ``heasarc_nvss.tdat`` writer for tests (there is no public sample).

It follows the documented layout: a ``<HEADER>`` block of ``key = value`` lines including
``field[...]`` definitions and ``line[1]`` (the column order), then ``<DATA>``, ``|``-separated
rows with a trailing ``|``, then ``<END>``. ``extra_comment_lines`` varies the header length,
since readers must not assume a fixed number of header lines.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

COLUMNS = [
    ("name", "char18", "Source Designation"),
    ("ra", "float8:.5f_degree", "Right Ascension"),
    ("dec", "float8:.5f_degree", "Declination"),
    ("lii", "float8:.4f_degree", "Galactic Longitude"),
    ("bii", "float8:.4f_degree", "Galactic Latitude"),
    ("ra_error", "float4:.2f_s", "RA error (seconds of time)"),
    ("dec_error", "float4:.1f_arcsec", "Dec error"),
    ("flux_20_cm", "float8:.1f_mJy", "Integrated 1.4 GHz flux density"),
    ("flux_20_cm_error", "float4:.1f_mJy", "Flux error"),
    ("limit_major_axis", "char1", "Upper limit flag on major axis"),
    ("major_axis", "float4:.1f_arcsec", "Deconvolved major axis"),
    ("major_axis_error", "float4:.1f_arcsec", "Major axis error"),
    ("limit_minor_axis", "char1", "Upper limit flag on minor axis"),
    ("minor_axis", "float4:.1f_arcsec", "Deconvolved minor axis"),
    ("minor_axis_error", "float4:.1f_arcsec", "Minor axis error"),
    ("position_angle", "float4:.1f_degree", "Position angle"),
    ("position_angle_error", "float4:.1f_degree", "Position angle error"),
    ("residual_code", "char2", "Residual code"),
    ("residual_flux", "int2_mJy", "Residual flux"),
    ("pol_flux", "float4:.2f_mJy", "Polarized flux"),
    ("pol_flux_error", "float4:.2f_mJy", "Polarized flux error"),
    ("pol_angle", "float4:.1f_degree", "Polarization angle"),
    ("pol_angle_error", "float4:.1f_degree", "Polarization angle error"),
    ("field_name", "char8", "NVSS field"),
    ("x_pixel", "float4:.2f", "X pixel"),
    ("y_pixel", "float4:.2f", "Y pixel"),
]


def _fmt(v, spec):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    return spec % v


def write_heasarc_nvss(
    path: Path,
    rows: list[dict],
    *,
    gz: bool = False,
    extra_comment_lines: int = 0,
    name_prefix: str = "NVSS ",
    trailer: str = "<END>\n",
) -> Path:
    """Write rows (dicts keyed by the HEASARC column names) as a tdat file."""
    head = ["<HEADER>", "#", "# TDAT-Format file created by the HEASARC", "#"]
    head += ["#"] * extra_comment_lines
    head += [
        "table_name = heasarc_nvss",
        'table_description = "NRAO VLA Sky Survey Catalog (NVSS)"',
        "table_document_url = https://heasarc.gsfc.nasa.gov/W3Browse/all/nvss.html",
        "table_security = public",
        "#",
        "# Table Parameters",
        "#",
    ]
    for name, typ, text in COLUMNS:
        head.append(f"field[{name}] = {typ} // {text}")
    head += [
        "#",
        "parameter_defaults = name ra dec flux_20_cm",
        "#",
        "# Data Format Specification",
        "#",
        "line[1] = " + " ".join(c[0] for c in COLUMNS),
        "#",
        "<DATA>",
    ]
    specs = {
        "ra": "%.5f",
        "dec": "%.5f",
        "lii": "%.4f",
        "bii": "%.4f",
        "ra_error": "%.2f",
        "dec_error": "%.1f",
        "flux_20_cm": "%.1f",
        "flux_20_cm_error": "%.1f",
        "major_axis": "%.1f",
        "major_axis_error": "%.1f",
        "minor_axis": "%.1f",
        "minor_axis_error": "%.1f",
        "position_angle": "%.1f",
        "position_angle_error": "%.1f",
        "residual_flux": "%d",
        "pol_flux": "%.2f",
        "pol_flux_error": "%.2f",
        "pol_angle": "%.1f",
        "pol_angle_error": "%.1f",
        "x_pixel": "%.2f",
        "y_pixel": "%.2f",
    }
    lines = []
    for row in rows:
        fields = []
        for name, _, _ in COLUMNS:
            v = row.get(name)
            if name == "name":
                fields.append(name_prefix + str(v))
            elif name in specs:
                fields.append(_fmt(v, specs[name]))
            else:
                fields.append("" if v is None else str(v))
        lines.append("|".join(fields) + "|")
    text = "\n".join(head + lines) + "\n" + trailer
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        Path(path).write_text(text)
    return Path(path)


def rows_from_vizier(table, start: int = 0, stop: int | None = None) -> list[dict]:
    """HEASARC rows from a VizieR VIII/65 table already read into the store convention plus
    the raw VizieR columns (for names and errors)."""
    from astropy.coordinates import SkyCoord

    out = []
    for i in range(start, len(table) if stop is None else stop):
        r = table[i]
        gal = SkyCoord(r["ra_deg"], r["dec_deg"], unit="deg").galactic
        out.append(
            {
                "name": r["source_id"].lstrip("J"),
                "ra": float(r["ra_deg"]),
                "dec": float(r["dec_deg"]),
                "lii": float(gal.l.deg),
                "bii": float(gal.b.deg),
                "ra_error": float(r["ra_err_arcsec"]) / 15.0 / np.cos(np.radians(r["dec_deg"])),
                "dec_error": float(r["dec_err_arcsec"]),
                "flux_20_cm": float(r["flux_mjy"]),
                "flux_20_cm_error": float(r["flux_err_mjy"]),
                "limit_major_axis": "<" if "dc_maj_limit" in r["flags"] else "",
                "major_axis": float(r["dc_maj_arcsec"]),
                "limit_minor_axis": "<" if "dc_min_limit" in r["flags"] else "",
                "minor_axis": float(r["dc_min_arcsec"]),
                "position_angle": float(r["dc_pa_deg"]),
                "residual_code": dict(
                    f.split("=", 1) for f in str(r["flags"]).split(",") if "=" in f
                ).get("residual", ""),
                "field_name": "C0600M32",
            }
        )
    return out
