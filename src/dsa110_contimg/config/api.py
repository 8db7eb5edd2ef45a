"""Settings of the HTTP API and web UI (TOML table ``[api]``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ApiSettings(BaseModel):
    """API settings.

    Parameters
    ----------
    host, port : str, int
        Where ``contimg serve`` listens (``CONTIMG_API__HOST``, ``CONTIMG_API__PORT``).
    data_roots : list of Path
        Directories inside which image paths given in requests must resolve (symlinks
        followed). A path outside every root is refused with 403 before the file is touched;
        with no roots configured, every request path is refused. Paths read from the
        registry (images registered by the pipeline itself) are not restricted.
    token : SecretStr, optional
        Bearer token required by write and compute endpoints when set
        (``CONTIMG_API__TOKEN``); unset means those endpoints are open (loopback use).
    default_page_size : int
        Rows returned by a list endpoint when the request gives no ``limit``.
    max_page_size : int
        Largest ``limit`` a list endpoint accepts (larger is a 422 error).
    max_batch_images : int
        Most images one ``measure-batch`` request may name.
    max_batch_positions : int
        Most positions one ``measure-batch`` request may name.
    max_body_bytes : int
        Largest request body accepted (larger is a 413 error, before it is parsed).
    max_cutout_pixels : int
        Largest side, in pixels, of a FITS cutout or of a PNG preview (previews of bigger
        images are block-averaged down to it).
    max_cone_radius_deg : float
        Largest radius of a cone search over measured sources.
    allowed_hosts : list of str
        Host header names (without port) write requests may carry, besides the bind address,
        ``localhost``, ``127.0.0.1`` and ``::1`` (and this machine's name when bound to every
        interface). Other Hosts are refused (DNS rebinding), as are cross-site write requests
        (an ``Origin`` of another host, or ``Sec-Fetch-Site: cross-site``).
    """

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8110, ge=0, le=65535)
    data_roots: list[Path] = []
    token: SecretStr | None = None
    default_page_size: int = Field(50, ge=1)
    max_page_size: int = Field(1000, ge=1)
    max_batch_images: int = Field(1000, ge=1)
    max_batch_positions: int = Field(20000, ge=1)
    max_body_bytes: int = Field(8_000_000, ge=1024)
    max_cutout_pixels: int = Field(1024, ge=8)
    max_cone_radius_deg: float = Field(10.0, gt=0)
    allowed_hosts: list[str] = []
