"""Catalogs: one reader per published format, the indexed store, cone search, master catalog."""

from .download import download_catalog
from .ids import POSITION_CATALOG, position_source_id, position_source_ids
from .ingest import file_sha256, ingest_catalog
from .master import build_master_catalog
from .names import QueryParseError, SkyQuery, parse_position, parse_sky_query, parse_source_name
from .readers import FORMATS, ReadResult, detect_format, read_catalog
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
    "FORMATS",
    "MASTER_CATALOG",
    "QueryParseError",
    "SkyQuery",
    "parse_position",
    "parse_sky_query",
    "parse_source_name",
    "POSITION_CATALOG",
    "CatalogInfo",
    "ReadResult",
    "build_master_catalog",
    "catalog_info",
    "delete_catalog",
    "detect_format",
    "download_catalog",
    "file_sha256",
    "get_sources",
    "ingest_catalog",
    "ingest_table",
    "list_catalogs",
    "position_source_id",
    "position_source_ids",
    "query_nvss_sources",
    "query_sources",
    "read_all_sources",
    "read_catalog",
]
