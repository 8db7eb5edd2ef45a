"""Response encodings: JSON that never fails on NaN, and tables as JSON, CSV or VOTable."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np
from starlette.responses import JSONResponse, Response

__all__ = [
    "SafeJSONResponse",
    "clean_json",
    "rows_to_csv",
    "column_values",
    "table_response",
    "table_rows",
]


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
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        vals = [row.get(c) for c in columns] if isinstance(row, dict) else list(row)
        writer.writerow(["" if isinstance(v, float) and not math.isfinite(v) else v for v in vals])
    return buf.getvalue()


def column_values(col) -> list:
    """Return a table column as a list of Python values, NaN/inf and masked as None.

    Vectorized: only the bad positions are touched in Python.

    Examples
    --------
    >>> column_values(np.array([1.5, np.nan, 2.0]))
    [1.5, None, 2.0]
    >>> column_values(np.ma.array([1, 2], mask=[True, False]))
    [None, 2]
    """
    arr = np.ma.asarray(col)
    data = np.asarray(arr.data)
    vals = data.tolist()
    bad = np.ma.getmaskarray(arr)
    if data.dtype.kind == "f":
        bad = bad | ~np.isfinite(data)
    elif data.dtype.kind in "OS":
        vals = clean_json(vals)
    if bad.any():
        for k in np.flatnonzero(bad).tolist():
            vals[k] = None
    return vals


def table_rows(table) -> list[dict[str, Any]]:
    """Return the rows of an astropy Table as dicts of Python values (masked, NaN -> None).

    Examples
    --------
    >>> from astropy.table import Table
    >>> table_rows(Table({"a": [1, 2], "b": ["x", "y"]}))
    [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'y'}]
    """
    columns = list(table.colnames)
    values = [column_values(table[name]) for name in columns]
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
    return SafeJSONResponse({"columns": columns, "rows": rows, "count": len(rows)})
