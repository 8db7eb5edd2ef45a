"""Catalogs: one reader per published format, the indexed store, cone search, master catalog."""

from .ids import POSITION_CATALOG, position_source_id, position_source_ids
from .store import (
    MASTER_CATALOG,
    CatalogInfo,
    catalog_info,
    delete_catalog,
    get_sources,
    ingest_table,
    list_catalogs,
    query_nvss_sources,
    query_sources,
    read_all_sources,
)

__all__ = [
    "MASTER_CATALOG",
    "POSITION_CATALOG",
    "CatalogInfo",
    "catalog_info",
    "delete_catalog",
    "get_sources",
    "ingest_table",
    "list_catalogs",
    "position_source_id",
    "position_source_ids",
    "query_nvss_sources",
    "query_sources",
    "read_all_sources",
]
