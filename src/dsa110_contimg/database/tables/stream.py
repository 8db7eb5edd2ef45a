"""Tables of the stream area (their migration is in migrations/versions)."""

__all__: list[str] = []
