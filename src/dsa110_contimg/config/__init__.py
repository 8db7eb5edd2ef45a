"""Settings: the only reader of the environment and of the TOML configuration file.

One :class:`Settings` object is built at the edge of every process (the ``contimg`` command,
the API startup, a worker's main) from, in increasing precedence:

1. the built-in defaults;
2. the TOML file named by ``CONTIMG_CONFIG`` (or the ``config=`` argument / ``--config`` flag);
3. ``CONTIMG_*`` environment variables (nested sections with a double underscore, for example
   ``CONTIMG_CATALOG__MATCH_RADIUS_ARCSEC``);
4. explicit keyword arguments (command-line flags).

It is then passed down. Every public function that touches storage takes
``settings: Settings | None = None``, where ``None`` means ``Settings()`` loaded from the
environment. Each pipeline stage owns one section (a small pydantic model in its own module of
this package), shown in TOML as a table::

    state_dir = "/data/contimg"
    database_url = "postgresql+psycopg://contimg@db/contimg"

    [jobs]
    lease_seconds = 60
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ..errors import ConfigError
from .api import ApiSettings
from .calibration import CalibrationSettings
from .catalog import CatalogSettings
from .imaging import ImagingSettings
from .jobs import JobSettings
from .mosaic import MosaicSettings
from .normalize import NormalizeSettings
from .photometry import PhotometrySettings
from .stream import StreamSettings

__all__ = [
    "ApiSettings",
    "CalibrationSettings",
    "CatalogSettings",
    "ImagingSettings",
    "JobSettings",
    "MosaicSettings",
    "NormalizeSettings",
    "PhotometrySettings",
    "Settings",
    "StreamSettings",
    "resolve_settings",
]

_ENV_PREFIX = "CONTIMG_"


class _TomlSource(PydanticBaseSettingsSource):
    """Settings read from the TOML file named by ``config`` or ``CONTIMG_CONFIG``."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field, field_name):  # pragma: no cover - unused by __call__
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            with open(self.path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError("configuration file not found", path=self.path) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML ({exc})", path=self.path) from None
        data.pop("config", None)
        return data


class Settings(BaseSettings):
    """All settings of the pipeline, built once per process and passed down.

    Parameters
    ----------
    state_dir : Path
        Where the pipeline keeps its state (the default SQLite database, logs, scratch).
        Environment: ``CONTIMG_STATE_DIR``; default ``./contimg-state``.
    database_url : str, optional
        SQLAlchemy URL of the one database holding catalogs, products, registry, jobs and the
        stream queue. ``sqlite:///...`` (default: ``<state_dir>/contimg.sqlite3``) or
        ``postgresql+psycopg://...``. Environment: ``CONTIMG_DATABASE_URL``.
    config : Path, optional
        TOML file with settings (lowest precedence after the defaults).
        Environment: ``CONTIMG_CONFIG``.
    auto_migrate : bool
        Upgrade a database whose schema is behind on first use (under a lock). When false, such
        a database is refused with a :class:`~dsa110_contimg.errors.SchemaError`.
    log_level : str
        Logging level used by the command line and the API.
    job_lease_seconds : float, optional
        Shorthand for ``jobs.lease_seconds`` (environment ``CONTIMG_JOB_LEASE_SECONDS``).

    Examples
    --------
    >>> s = Settings(state_dir="/tmp/contimg-doc")
    >>> s.database_url
    'sqlite:////tmp/contimg-doc/contimg.sqlite3'
    """

    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    state_dir: Path = Path("contimg-state")
    database_url: str | None = None
    config: Path | None = None
    auto_migrate: bool = True
    log_level: str = "INFO"
    job_lease_seconds: float | None = None

    catalog: CatalogSettings = CatalogSettings()
    photometry: PhotometrySettings = PhotometrySettings()
    jobs: JobSettings = JobSettings()
    stream: StreamSettings = StreamSettings()
    imaging: ImagingSettings = ImagingSettings()
    mosaic: MosaicSettings = MosaicSettings()
    normalize: NormalizeSettings = NormalizeSettings()
    api: ApiSettings = ApiSettings()
    calibration: CalibrationSettings = CalibrationSettings()

    _engine: Any = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            where = kwargs.get("config") or os.environ.get(_ENV_PREFIX + "CONFIG")
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"invalid setting {key!r}: {first['msg']}", path=where
            ) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources: flags > environment > TOML > defaults."""
        init_kwargs = getattr(init_settings, "init_kwargs", {}) or {}
        path = init_kwargs.get("config") or os.environ.get(_ENV_PREFIX + "CONFIG")
        return (init_settings, env_settings, _TomlSource(settings_cls, Path(path) if path else None))

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if self.database_url is None:
            db = (Path(self.state_dir).expanduser().resolve() / "contimg.sqlite3").as_posix()
            self.database_url = f"sqlite:///{db}"
        if self.job_lease_seconds is not None:
            self.jobs.lease_seconds = float(self.job_lease_seconds)
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the database URL names an SQLite database."""
        return str(self.database_url).startswith("sqlite")

    def child_kwargs(self) -> dict[str, Any]:
        """Return keyword arguments that rebuild these settings in another process.

        Processes started by the project (workers, Dask tasks) are handed their settings
        explicitly instead of re-reading the environment::

            Settings(**settings.child_kwargs())
        """
        data = self.model_dump(mode="json", exclude={"config", "job_lease_seconds"})
        if self.api.token is not None:
            data["api"]["token"] = self.api.token.get_secret_value()
        return data

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        private = dict(state.get("__pydantic_private__") or {})
        private["_engine"] = None
        state["__pydantic_private__"] = private
        return state


def resolve_settings(settings: Settings | None) -> Settings:
    """Return ``settings``, or ``Settings()`` from the environment when it is ``None``.

    Parameters
    ----------
    settings : Settings or None
        Settings passed by the caller.

    Returns
    -------
    Settings
        The settings to use.
    """
    return settings if settings is not None else Settings()
