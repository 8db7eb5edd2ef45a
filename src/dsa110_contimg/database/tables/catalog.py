"""Tables of the catalog area (their migration is in migrations/versions)."""

__all__: list[str] = []
