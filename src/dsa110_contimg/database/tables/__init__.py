"""SQLAlchemy Core table definitions, one module per pipeline area, one shared ``metadata``.

These objects describe the schema for queries; the schema itself is created and changed only
by the migrations in ``database/migrations/versions`` (a test checks that the two agree).
"""

from ._meta import metadata
from .calibration import *  # noqa: F403
from .catalog import *  # noqa: F403
from .mosaic import *  # noqa: F403
from .normalization import *  # noqa: F403
from .photometry import *  # noqa: F403
from .products import *  # noqa: F403
from .sources import *  # noqa: F403
from .stream import *  # noqa: F403

__all__ = ["metadata"]
