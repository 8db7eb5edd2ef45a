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
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ..errors import ConfigError
from .alerts import AlertSettings  # issue 15
from .api import ApiSettings
from .calibration import CalibrationSettings
from .catalog import CatalogSettings
from .imaging import ImagingSettings
from .jobs import JobSettings
from .mosaic import MosaicSettings
from .normalize import NormalizeSettings
from .photometry import PhotometrySettings
from .retention import RetentionSettings  # issue 15
from .stream import StreamSettings

__all__ = [
    "AlertSettings",
    "ApiSettings",
    "CalibrationSettings",
    "CatalogSettings",
    "ImagingSettings",
    "JobSettings",
    "MosaicSettings",
    "NormalizeSettings",
    "PhotometrySettings",
    "RetentionSettings",
    "Settings",
    "StreamSettings",
    "default_settings",
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
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    job_lease_seconds: float | None = Field(None, gt=0, le=86400)

    catalog: CatalogSettings = CatalogSettings()
    photometry: PhotometrySettings = PhotometrySettings()
    jobs: JobSettings = JobSettings()
    stream: StreamSettings = StreamSettings()
    imaging: ImagingSettings = ImagingSettings()
    mosaic: MosaicSettings = MosaicSettings()
    normalize: NormalizeSettings = NormalizeSettings()
    api: ApiSettings = ApiSettings()
    calibration: CalibrationSettings = CalibrationSettings()
    alerts: AlertSettings = AlertSettings()  # issue 15
    retention: RetentionSettings = RetentionSettings()  # issue 15

    _engine: Any = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            where = kwargs.get("config") or os.environ.get(_ENV_PREFIX + "CONFIG")
            first = exc.errors()[0]
            loc = [str(p) for p in first["loc"]]
            key = ".".join(loc)
            allowed = allowed_values(loc)
            env = _ENV_PREFIX + "__".join(loc[:2]).upper()
            raise ConfigError(
                f"invalid setting {key!r} ({env}): {first['msg']}"
                + (f"; allowed: {allowed}" if allowed else ""),
                path=where,
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
        toml = _TomlSource(settings_cls, Path(path) if path else None)
        return (init_settings, env_settings, toml)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

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


def allowed_values(loc: list[str]) -> str | None:
    """Describe the allowed values of the setting at ``loc`` (``["jobs", "lease_seconds"]``).

    Examples
    --------
    >>> allowed_values(["jobs", "lease_seconds"])
    '0 < value <= 86400'
    >>> allowed_values(["log_level"])
    "one of 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'"
    """
    import typing

    model: Any = Settings
    field = None
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            break
        field = fields[part]
        model = field.annotation
    if field is None:
        return None
    parts = []
    for m in field.metadata:
        for attr, op in (("gt", "<"), ("ge", "<=")):
            if getattr(m, attr, None) is not None:
                parts.append(f"{getattr(m, attr)} {op} value")
        for attr, op in (("lt", "<"), ("le", "<=")):
            if getattr(m, attr, None) is not None:
                parts.append(f"value {op} {getattr(m, attr)}")
    if len(parts) == 2 and parts[0].endswith("value") and parts[1].startswith("value"):
        return f"{parts[0]}{parts[1][len('value'):]}"
    if parts:
        return ", ".join(parts)
    args = [a for a in typing.get_args(field.annotation) if a is not type(None)]
    if typing.get_origin(field.annotation) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(field.annotation))
    if args and typing.get_origin(args[0]) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(args[0]))
    return None


#: The process's default settings, keyed by what they were read from (see
#: :func:`default_settings`). The one piece of module-level state the project allows: without
#: it every call with ``settings=None`` would build new settings, a new engine and check the
#: schema again (11 ms per call instead of ~1.5 ms).
_DEFAULT: dict[tuple, Settings] = {}


def _environment_key() -> tuple:
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIX)))
    config = os.environ.get(_ENV_PREFIX + "CONFIG")
    try:
        stamp = os.stat(config).st_mtime_ns if config else None
    except OSError:
        stamp = None
    return (os.getpid(), os.getcwd(), env, stamp)


def default_settings() -> Settings:
    """Return the settings read from the environment, built once per process.

    They are rebuilt when what they are read from changes: a ``CONTIMG_*`` variable (the
    database URL among them), the current directory (the default state directory is relative),
    the TOML file's modification time, or the process (after a fork). Their database engine is
    cached on them, so the schema is checked once per engine.

    Examples
    --------
    >>> default_settings() is default_settings()
    True
    """
    key = _environment_key()
    cached = _DEFAULT.get(key)
    if cached is None:
        cached = Settings()
        _DEFAULT.clear()  # one entry: an old environment's engine is not kept alive
        _DEFAULT[key] = cached
    return cached


def resolve_settings(settings: Settings | None) -> Settings:
    """Return ``settings``, or the process's default settings when it is ``None``.

    Parameters
    ----------
    settings : Settings or None
        Settings passed by the caller.

    Returns
    -------
    Settings
        The settings to use (:func:`default_settings` for None).
    """
    return settings if settings is not None else default_settings()
