"""Commands of the stream area (filled in by its issue)."""

from __future__ import annotations

import typer

from ._common import Groups


def register(app: typer.Typer, groups: Groups) -> None:
    """Add this module's commands to the app and groups."""
