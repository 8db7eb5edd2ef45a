"""Download survey catalog files from their public archives (for machines with a network)."""

from __future__ import annotations

import logging
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..config import Settings, resolve_settings
from ..errors import CatalogError

__all__ = ["download_catalog"]

log = logging.getLogger(__name__)


def _file_name(name: str, url: str) -> str:
    base = os.path.basename(urllib.parse.urlparse(url).path)
    if not base or "." not in base or base.startswith("asu-") or base.startswith("nph-"):
        base = f"{name}.fits"
    return base


def download_catalog(
    name: str,
    *,
    url: str | None = None,
    dest: str | Path,
    settings: Settings | None = None,
) -> Path:
    """Download a catalog file into ``dest`` (atomically: a partial file never remains).

    Parameters
    ----------
    name : str
        Catalog name; its default URL is ``settings.catalog.download_urls[name]``.
    url : str, optional
        Download from here instead.
    dest : str or Path
        Directory to write into (created if needed).
    settings : Settings, optional
        Supplies the default URLs and the timeout.

    Returns
    -------
    Path
        The downloaded file (named after the URL's file name).

    Raises
    ------
    CatalogError
        No URL known for ``name``, or the download failed.
    """
    settings = resolve_settings(settings)
    if url is None:
        url = settings.catalog.download_urls.get(name)
        if url is None:
            known = ", ".join(sorted(settings.catalog.download_urls))
            raise CatalogError(
                f"no download URL known for catalog {name!r} (known: {known}); pass --url"
            )
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / _file_name(name, url)
    log.info("downloading %s from %s", name, url)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=dest)
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "dsa110-contimg"})
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(req, timeout=settings.catalog.download_timeout_s) as resp,
        ):
            while True:
                block = resp.read(1 << 20)
                if not block:
                    break
                out.write(block)
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CatalogError(f"download of {name!r} from {url} failed ({exc})", path=target) from None
    return target
