"""Request-level protections: the bearer token and the data-root confinement of paths."""

from __future__ import annotations

import hmac
from pathlib import Path

from fastapi import Request

from ..config import Settings
from .errors import ApiError

__all__ = ["require_token", "resolve_request_path"]

_MAX_PATH_CHARS = 4096
#: Longest file-name component (NAME_MAX of Linux file systems).
_MAX_NAME_CHARS = 255


def require_token(request: Request) -> None:
    """FastAPI dependency: demand ``Authorization: Bearer <token>`` when a token is set.

    Raises
    ------
    ApiError
        401 when the header is missing or wrong (constant-time comparison).
    """
    settings: Settings = request.app.state.settings
    token = settings.api.token
    if token is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise ApiError(
            401,
            "this endpoint needs 'Authorization: Bearer <token>' (the api.token setting, "
            "CONTIMG_API__TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def resolve_request_path(settings: Settings, raw: str) -> Path:
    """Resolve an image path given in a request, confined to ``settings.api.data_roots``.

    A relative path is taken relative to each data root in turn. The path is resolved
    (``..`` removed, symlinks followed) *before* anything else; only a path whose real
    location is inside a root is then checked for existence. The file is never opened here.

    Parameters
    ----------
    settings : Settings
        Settings with ``api.data_roots``.
    raw : str
        The path as given by the client.

    Returns
    -------
    Path
        The resolved path of an existing regular file inside a data root.

    Raises
    ------
    ApiError
        422 for an empty or malformed path, 403 for a path outside every root (or when no
        root is configured), 404 for a path inside a root that is not an existing file.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.fits").write_bytes(b"")
    >>> s = Settings(state_dir=root, api={"data_roots": [root]})
    >>> resolve_request_path(s, "a.fits") == (root / "a.fits").resolve()
    True
    >>> resolve_request_path(s, "../etc/passwd")
    Traceback (most recent call last):
    ...
    dsa110_contimg.api.errors.ApiError: path '../etc/passwd' is outside the configured data roots
    """
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw or len(raw) > _MAX_PATH_CHARS:
        raise ApiError(422, "image path must be a non-empty string without NUL bytes")
    roots = []
    for root in settings.api.data_roots:
        try:
            roots.append(Path(root).resolve())
        except (OSError, RuntimeError):
            continue
    if not roots:
        raise ApiError(
            403, "no data roots are configured (api.data_roots, 'contimg serve --data-root DIR')"
        )
    given = Path(raw)
    if any(len(part.encode("utf-8", "surrogateescape")) > _MAX_NAME_CHARS for part in given.parts):
        raise ApiError(422, f"a component of the path is longer than {_MAX_NAME_CHARS} bytes")
    candidates = [given] if given.is_absolute() else [root / given for root in roots]
    inside = None
    for cand in candidates:
        try:
            real = cand.resolve(strict=False)
        except (OSError, RuntimeError):  # symlink loop, permission
            continue
        if any(real.is_relative_to(root) for root in roots):
            inside = real
            try:
                if real.is_file():
                    return real
            except OSError as exc:  # name too long, permission, I/O error: not servable
                raise ApiError(422, f"path {raw!r} cannot be read ({exc.strerror})") from None
    if inside is None:
        raise ApiError(403, f"path {raw!r} is outside the configured data roots")
    raise ApiError(404, f"path {raw!r} does not exist in the data roots")
