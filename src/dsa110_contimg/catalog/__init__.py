"""Catalogs: one reader per published format, the indexed store, cone search, master catalog."""

from .ids import POSITION_CATALOG, position_source_id, position_source_ids

__all__ = ["POSITION_CATALOG", "position_source_id", "position_source_ids"]
