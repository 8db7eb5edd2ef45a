"""The database: the one engine factory, the tables, migrations and the products/registry API.

Every function that touches storage takes ``settings=None`` (``Settings()`` from the
environment when omitted) and uses :func:`get_engine`; no other module opens a connection.
"""

from .engine import dispose_engine, get_engine, write_transaction
from .migrate import current_revision, ensure_schema, head_revision, upgrade
from .mosaics import get_mosaic, list_mosaic_groups, list_mosaics, register_mosaic
from .products import (
    ImageRecord,
    get_image,
    list_images,
    photometry_for_data,
    photometry_insert,
    register_image,
)
from .registry import (
    RegistryRecord,
    count_data,
    finalize_data,
    get_data,
    get_photometry_status,
    link_photometry_to_data,
    list_data,
    update_photometry_status,
    update_qa,
)

__all__ = [
    "get_mosaic",
    "list_mosaic_groups",
    "list_mosaics",
    "register_mosaic",
    "ImageRecord",
    "RegistryRecord",
    "count_data",
    "finalize_data",
    "get_data",
    "get_image",
    "get_photometry_status",
    "link_photometry_to_data",
    "list_data",
    "list_images",
    "photometry_for_data",
    "photometry_insert",
    "register_image",
    "update_photometry_status",
    "update_qa",
    "current_revision",
    "dispose_engine",
    "ensure_schema",
    "get_engine",
    "head_revision",
    "upgrade",
    "write_transaction",
]
