"""Settings of the HTTP API and web UI (TOML table ``[api]``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr


class ApiSettings(BaseModel):
    """API settings.

    Parameters
    ----------
    host, port : str, int
        Where ``contimg serve`` listens.
    data_roots : list of Path
        Directories inside which request image paths must resolve.
    token : SecretStr, optional
        Bearer token required by write and compute endpoints when set
        (``CONTIMG_API__TOKEN``).
    """

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8110
    data_roots: list[Path] = []
    token: SecretStr | None = None
