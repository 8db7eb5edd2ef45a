"""The database: the one engine factory, the tables, migrations and the products/registry API.

Every function that touches storage takes ``settings=None`` (``Settings()`` from the
environment when omitted) and uses :func:`get_engine`; no other module opens a connection.
"""

from .engine import dispose_engine, get_engine, write_transaction
from .migrate import current_revision, ensure_schema, head_revision, upgrade

__all__ = [
    "current_revision",
    "dispose_engine",
    "ensure_schema",
    "get_engine",
    "head_revision",
    "upgrade",
    "write_transaction",
]
