"""Tables of the normalization area (their migration is in migrations/versions)."""

__all__: list[str] = []
