"""Response encodings: JSON that never fails on NaN, and tables as JSON, CSV or VOTable."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
from starlette.responses import JSONResponse, Response

__all__ = ["SafeJSONResponse", "clean_json", "rows_to_csv", "table_response", "table_rows"]


def clean_json(value: Any) -> Any:
    """Return ``value`` with non-finite floats as None and numpy scalars/arrays as Python.

    Examples
    --------
    >>> clean_json({"a": float("nan"), "b": [1.5, float("inf")], "c": np.int64(3)})
    {'a': None, 'b': [1.5, None], 'c': 3}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if isinstance(value, np.generic):
        return clean_json(value.item())
    if isinstance(value, np.ndarray):
        return clean_json(value.tolist())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic | np.ndarray):
        return clean_json(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


class SafeJSONResponse(JSONResponse):
    """JSON response whose NaN/inf values become ``null`` (strict JSON, never a 500)."""

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as strict JSON."""
        try:
            text = json.dumps(content, allow_nan=False, default=_default, separators=(",", ":"))
        except ValueError:
            text = json.dumps(
                clean_json(content), allow_nan=False, default=_default, separators=(",", ":")
            )
        return text.encode("utf-8")


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float | np.floating):
        return repr(float(v)) if math.isfinite(v) else ""
    s = str(v)
    if any(c in s for c in ',"\n\r'):
        s = '"' + s.replace('"', '""') + '"'
    return s


def rows_to_csv(columns: list[str], rows: list[dict[str, Any]] | list[tuple]) -> str:
    """Return rows as CSV text with a header line (empty cells for NULL/NaN).

    Examples
    --------
    >>> rows = [{"a": 1, "b": float("nan")}, {"a": "x,y", "b": 2.5}]
    >>> print(rows_to_csv(["a", "b"], rows), end="")
    a,b
    1,
    "x,y",2.5
    """
    out = [",".join(columns)]
    for row in rows:
        vals = [row.get(c) for c in columns] if isinstance(row, dict) else list(row)
        out.append(",".join(_csv_cell(v) for v in vals))
    return "\n".join(out) + "\n"


def table_rows(table) -> list[dict[str, Any]]:
    """Return the rows of an astropy Table as dicts of Python values (masked -> None).

    Examples
    --------
    >>> from astropy.table import Table
    >>> table_rows(Table({"a": [1, 2], "b": ["x", "y"]}))
    [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'y'}]
    """
    columns = list(table.colnames)
    values = []
    for name in columns:
        col = table[name]
        if getattr(col, "mask", None) is not None and np.any(col.mask):
            values.append(clean_json(np.ma.asarray(col).astype(object).filled(None).tolist()))
        else:
            values.append(clean_json(np.asarray(col).tolist()))
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def table_response(table, fmt: str, *, filename: str) -> Response:
    """Return an astropy Table as JSON (``{"columns", "rows"}``), CSV or VOTable.

    Parameters
    ----------
    table : astropy.table.Table
        The table (masked values become null / empty).
    fmt : {"json", "csv", "votable"}
        The encoding.
    filename : str
        Base name offered for download (CSV and VOTable).
    """
    columns = list(table.colnames)
    if fmt == "votable":
        from astropy.io.votable import from_table

        buf = io.BytesIO()
        from_table(table).to_xml(buf)
        return Response(
            buf.getvalue(),
            media_type="application/x-votable+xml",
            headers={"Content-Disposition": f'attachment; filename="{filename}.xml"'},
        )
    rows = table_rows(table)
    if fmt == "csv":
        return Response(
            rows_to_csv(columns, rows),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    return SafeJSONResponse({"columns": columns, "rows": clean_json(rows), "count": len(rows)})
