"""The API and the web pages hold no SQL: every statement is in ``dsa110_contimg.database``.

A static check over the source: no module of ``api/`` or ``web/`` builds a statement
(``select``/``text``/``func``... from SQLAlchemy), imports the table objects, or executes
anything on a connection; only engine/connection types and SQLAlchemy's exceptions may be
imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dsa110_contimg

PACKAGE = Path(dsa110_contimg.__file__).parent
MODULES = sorted(
    p for d in ("api", "web") for p in (PACKAGE / d).rglob("*.py") if "static" not in p.parts
)
#: what a module outside database/ may take from SQLAlchemy: types and errors
ALLOWED = {"Engine", "Connection"}
EXECUTING = {"execute", "exec_driver_sql", "scalar", "scalars", "fetch_raw", "executemany_raw"}


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            mod = node.module
            if mod == "sqlalchemy":
                bad = [a.name for a in node.names if a.name not in ALLOWED]
                if bad:
                    out.append(f"line {node.lineno}: from sqlalchemy import {', '.join(bad)}")
            elif mod.startswith("sqlalchemy.") and not mod.startswith("sqlalchemy.exc"):
                out.append(f"line {node.lineno}: from {mod} import ...")
            elif mod.endswith("database.tables") or ".database.tables." in f".{mod}.":
                out.append(f"line {node.lineno}: imports the table objects ({mod})")
            elif mod.endswith("rawsql"):
                out.append(f"line {node.lineno}: imports the raw-cursor helpers")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in EXECUTING:
                out.append(f"line {node.lineno}: .{node.func.attr}(...)")
    return out


def test_the_check_sees_sql():
    """The check itself finds a statement (so that an empty result means something)."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(
            "from sqlalchemy import select, Engine\n"
            "from ..database.tables import photometry\n"
            "def f(conn):\n    return conn.execute(select(photometry)).all()\n"
        )
    found = _problems(Path(fh.name))
    Path(fh.name).unlink()
    assert len(found) == 3, found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_sql_in_api_or_web(path):
    assert not _problems(path), _problems(path)
