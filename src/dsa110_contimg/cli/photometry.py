"""``contimg photometry measure``: forced photometry of a list of positions on one image."""

from __future__ import annotations

import csv
import json
import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ContimgError
from ._common import Groups, err_console

__all__ = ["read_positions", "register", "write_results"]


class OutputFormat(StrEnum):
    """Formats of the results file."""

    csv = "csv"
    json = "json"


def read_positions(path: Path) -> tuple[list[float], list[float], list[str] | None]:
    """Read ``ra_deg,dec_deg[,source_id]`` from a CSV file.

    Parameters
    ----------
    path : Path
        CSV file with a header line.

    Returns
    -------
    tuple
        ``(ra_deg, dec_deg, source_ids)``; ``source_ids`` is None without that column.

    Raises
    ------
    ContimgError
        If the file is missing or unreadable, lacks the columns, or holds a non-numeric
        coordinate.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            names = [n.strip() for n in (reader.fieldnames or [])]
            missing = [c for c in ("ra_deg", "dec_deg") if c not in names]
            if missing:
                raise ContimgError(
                    f"positions CSV lacks column(s) {', '.join(missing)} "
                    f"(expected ra_deg,dec_deg[,source_id]; found {', '.join(names) or 'none'})",
                    path=path,
                )
            ra: list[float] = []
            dec: list[float] = []
            ids: list[str] = []
            for lineno, row in enumerate(reader, start=2):
                row = {(k or "").strip(): v for k, v in row.items()}
                try:
                    ra.append(float(row["ra_deg"]))
                    dec.append(float(row["dec_deg"]))
                except (TypeError, ValueError):
                    raise ContimgError(
                        f"line {lineno}: ra_deg/dec_deg must be numbers, got "
                        f"{row.get('ra_deg')!r}, {row.get('dec_deg')!r}",
                        path=path,
                    ) from None
                ids.append((row.get("source_id") or "").strip())
    except OSError as exc:
        raise ContimgError(
            f"cannot read the positions file ({exc.strerror or exc})", path=path
        ) from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ContimgError(f"not a readable CSV file ({exc})", path=path) from exc
    source_ids = ids if "source_id" in names else None
    if source_ids is not None and not all(source_ids):
        from ..catalog.ids import position_source_id

        source_ids = [
            s or (position_source_id(r, d) if math.isfinite(r) and math.isfinite(d) else "")
            for s, r, d in zip(source_ids, ra, dec, strict=True)
        ]
    return ra, dec, source_ids


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_results(table, path: Path | None, fmt: str) -> None:
    """Write a :func:`~dsa110_contimg.photometry.measure_many` table as CSV or JSON.

    Parameters
    ----------
    table : astropy.table.Table
        The results.
    path : Path or None
        Output file; None or ``-`` writes to standard output.
    fmt : str
        ``csv`` (NaN written as ``nan``) or ``json`` (a list of objects, NaN as null).
    """
    from ..photometry.forced import COLUMNS

    names = [c for c in COLUMNS if c in table.colnames]
    to_stdout = path is None or str(path) == "-"
    try:
        fh = sys.stdout if to_stdout else open(path, "w", newline="", encoding="utf-8")
    except OSError as exc:
        raise ContimgError(f"cannot write the output ({exc.strerror or exc})", path=path) from exc
    try:
        if fmt == "json":
            rows = [{n: _plain(row[n]) for n in names} for row in table]
            json.dump(rows, fh, indent=1)
            fh.write("\n")
        else:
            writer = csv.writer(fh)
            writer.writerow(names)
            for row in table:
                writer.writerow([_csv_value(row[n]) for n in names])
    finally:
        if not to_stdout:
            fh.close()


def _csv_value(value: Any) -> str:
    v = value.item() if hasattr(value, "item") else value
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return str(v)


def register(app: typer.Typer, groups: Groups) -> None:
    """Add ``photometry measure`` to the photometry group."""

    @groups.photometry.command("measure")
    def measure(
        image: Annotated[Path, typer.Argument(help="FITS image (2-D or 4-D).")],
        positions: Annotated[
            Path, typer.Option("--positions", "-p", help="CSV: ra_deg,dec_deg[,source_id].")
        ],
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Results file (default stdout).")
        ] = None,
        fmt: Annotated[
            OutputFormat, typer.Option("--format", "-f", help="Output format.")
        ] = OutputFormat.csv,
        noise_map: Annotated[
            Path | None, typer.Option("--noise-map", help="rms map instead of local noise.")
        ] = None,
        background: Annotated[
            Path | None, typer.Option("--background", help="Background map to subtract.")
        ] = None,
    ) -> None:
        """Measure forced photometry at every position (one row each, input order)."""
        from ..photometry import measure_many

        ra, dec, ids = read_positions(positions)
        table = measure_many(
            image,
            list(zip(ra, dec, strict=True)),
            source_ids=ids,
            noise_map_path=noise_map,
            background_path=background,
        )
        write_results(table, output, fmt.value)
        n_flagged = int(sum(1 for f in table["flags"] if f))
        if output is not None and str(output) != "-":
            err_console.print(
                f"measured {len(table)} position(s) on {image} ({n_flagged} flagged) -> {output}"
            )
