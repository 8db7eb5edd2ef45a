"""All SQL lives in ``dsa110_contimg.database``: the rule of issue 17, enforced on the source.

Outside ``database/`` a module may open a transaction (``write_transaction``, ``get_engine``)
and pass its connection to functions of ``database/``, but it may not build or run SQL itself:
it does not import SQLAlchemy or a database driver, nor the table definitions
(``database.tables``) or the raw-cursor helpers (``database.rawsql``), and it calls no
``execute``-like method. Type-only imports under ``if TYPE_CHECKING:`` load nothing and are
allowed. The allow-list names what still breaks the rule, each with its reason; an entry that
no longer breaks it fails the test, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dsa110_contimg

PACKAGE = Path(dsa110_contimg.__file__).parent

#: Modules (paths relative to the package) still allowed to touch SQL, and why.
ALLOWED: dict[str, str] = {
    # The HTTP API: its queries moved into database/ (tests/api/test_sql_lives_in_database.py);
    # what remains is the Engine type and the mapping of OperationalError to HTTP 503.
    "api/queries.py": "the API's read queries (issue 17, API half)",
    "api/deps.py": "the Engine type of the request dependency (issue 17, API half)",
    "api/errors.py": "maps sqlalchemy's OperationalError to HTTP 503 (issue 17, API half)",
    # A compatibility re-export (the module runs no SQL): old imports of
    # ``photometry.normalize.fetch_raw`` keep working; the function is database.rawsql's.
    "photometry/normalize.py": "re-exports database.rawsql.fetch_raw for old imports",
}

#: Imports that mean building or running SQL.
FORBIDDEN_MODULES = ("sqlalchemy", "sqlite3", "psycopg", "psycopg2", "alembic")
FORBIDDEN_PROJECT = ("database.tables", "database.rawsql")

#: Method names that run SQL on a connection or cursor.
EXECUTE_METHODS = frozenset(
    {"execute", "executemany", "executescript", "exec_driver_sql", "cursor"}
)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    inside.update(id(n) for n in ast.walk(child))
    return inside


def _resolve(module: str | None, level: int, path: str) -> str:
    """Absolute dotted name of an import in the module at ``path`` (relative to the package)."""
    if level == 0:
        return module or ""
    parts = ["dsa110_contimg", *Path(path).with_suffix("").parts]
    base = parts[: len(parts) - level]
    return ".".join(base + ([module] if module else []))


def violations(source: str, path: str) -> list[str]:
    """Return what in ``source`` (the module at ``path``) builds or runs SQL.

    Parameters
    ----------
    source : str
        Python source.
    path : str
        The module's path relative to the package (resolves relative imports).

    Returns
    -------
    list of str
        ``"line N: what"`` for each violation.
    """
    tree = ast.parse(source)
    typing_only = _type_checking_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module, node.level, path)
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"line {node.lineno}: imports {name}")
                break
            if any(f"dsa110_contimg.{p}" == name or name.startswith(f"dsa110_contimg.{p}.")
                   for p in FORBIDDEN_PROJECT):  # fmt: skip
                found.append(f"line {node.lineno}: imports {name}")
                break
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in EXECUTE_METHODS
        ):
            found.append(f"line {node.lineno}: calls .{node.func.attr}()")
    return found


def _modules() -> list[str]:
    return sorted(
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).parts[0] != "database"
    )


_DB = "dsa110_contimg.database"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import sqlalchemy\n", ["line 1: imports sqlalchemy"]),
        ("from sqlalchemy import select\n", ["line 1: imports sqlalchemy"]),
        ("def f():\n    from sqlalchemy.exc import Error\n", ["line 2: imports sqlalchemy.exc"]),
        ("import sqlite3\n", ["line 1: imports sqlite3"]),
        ("from ..database.tables import images\n", [f"line 1: imports {_DB}.tables"]),
        ("from ..database import tables\n", [f"line 1: imports {_DB}.tables"]),
        ("from ..database.rawsql import fetch_raw\n", [f"line 1: imports {_DB}.rawsql"]),
        ("def f(conn):\n    conn.execute('SELECT 1')\n", ["line 2: calls .execute()"]),
        ("import typing\nif typing.TYPE_CHECKING:\n    from sqlalchemy import Engine\n", []),
        ("from ..database import get_engine, write_transaction\n", []),
        ("from ..database.jobs import claimable_items\n", []),
        ("from ..database_tables import x\n", []),
    ],
)
def test_the_checker_finds_sql(source, expected):
    """The checker flags each way of touching SQL (in a module at ``jobs/queue.py``)."""
    assert violations(source, "jobs/queue.py") == expected


def test_no_sql_outside_database():
    """No module outside ``database/`` (bar the allow-list) builds or runs SQL."""
    offenders = {}
    for rel in _modules():
        if rel in ALLOWED:
            continue
        found = violations((PACKAGE / rel).read_text(), rel)
        if found:
            offenders[rel] = found
    assert not offenders, "SQL outside database/ (move it into a database/ module):\n" + "\n".join(
        f"  {rel}: {'; '.join(v)}" for rel, v in offenders.items()
    )


def test_allow_list_only_shrinks():
    """Every allow-listed module exists and still needs its entry (else remove the entry)."""
    stale = [
        rel
        for rel in ALLOWED
        if not (PACKAGE / rel).is_file() or not violations((PACKAGE / rel).read_text(), rel)
    ]
    assert not stale, f"allow-list entries no longer needed: {stale}"


def test_the_walk_sees_the_stage_modules():
    """The walk covers the modules this rule was written for (it is not vacuous)."""
    modules = set(_modules())
    for rel in (
        "jobs/queue.py",
        "jobs/records.py",
        "jobs/create.py",
        "jobs/worker.py",
        "conversion/streaming/queue.py",
        "conversion/streaming/retention.py",
        "mosaic/orchestrator.py",
        "simulation/lightcurves.py",
        "catalog/coverage.py",
        "cli/_run.py",
    ):
        assert rel in modules
