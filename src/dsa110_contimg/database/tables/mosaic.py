"""Tables of the mosaic area (their migration is in migrations/versions)."""

__all__: list[str] = []
