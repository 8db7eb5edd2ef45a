"""Watch the input directory for new subband files: watchdog events with a polling fallback.

:class:`DirectoryWatcher` lists the directory on every wake-up (so nothing is missed when an
event is lost, or when watchdog is unavailable) and hands out files not modified for
``settle_seconds`` (a file still being written is not touched; each file is then checked
before it is queued). watchdog events only shorten the wait between scans.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

__all__ = ["DirectoryWatcher"]

log = logging.getLogger(__name__)


class DirectoryWatcher:
    """New, settled files of a directory.

    Parameters
    ----------
    directory : str or Path
        The watched directory.
    pattern : str
        Glob of the files of interest.
    settle_seconds : float
        A file is handed out once unchanged for this long.
    use_watchdog : bool
        Start a watchdog observer (falls back to polling if it cannot start).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        pattern: str,
        settle_seconds: float = 2.0,
        use_watchdog: bool = True,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.pattern = pattern
        self.settle_seconds = float(settle_seconds)
        self._wake = threading.Event()
        self._observer = None
        if use_watchdog:
            self._start_observer()

    @property
    def using_watchdog(self) -> bool:
        """Whether file-system events are being received."""
        return self._observer is not None

    def _start_observer(self) -> None:
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            log.info("watchdog not installed: polling %s", self.directory)
            return
        wake = self._wake

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:  # noqa: ANN001
                wake.set()

        try:
            observer = Observer()
            observer.schedule(_Handler(), str(self.directory), recursive=False)
            observer.daemon = True
            observer.start()
        except OSError as exc:  # e.g. inotify watch limit
            log.warning("watchdog unavailable for %s (%s): polling instead", self.directory, exc)
            return
        self._observer = observer

    def wait(self, timeout: float) -> None:
        """Sleep until a file-system event or ``timeout`` seconds."""
        self._wake.wait(timeout)
        self._wake.clear()

    def wake(self) -> None:
        """Interrupt :meth:`wait` (shutdown)."""
        self._wake.set()

    def ready_files(self, known: set[str]) -> list[Path]:
        """Files matching the pattern, not in ``known``, not modified for ``settle_seconds``."""
        now = time.time()
        out = []
        for p in sorted(self.directory.glob(self.pattern)):
            if str(p) in known or p.name.startswith("."):
                continue
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            if now - st.st_mtime >= self.settle_seconds:
                out.append(p)
        return out

    def seconds_until_settled(self, known: set[str], now: float | None = None) -> float:
        """Seconds until every new file now present has been unchanged ``settle_seconds``.

        0 when all are settled (or there are none). ``now`` may be injected (tests).
        """
        now = time.time() if now is None else now
        wait = 0.0
        for p in self.directory.glob(self.pattern):
            if str(p) in known or p.name.startswith("."):
                continue
            try:
                age = now - p.stat().st_mtime
            except FileNotFoundError:
                continue
            wait = max(wait, self.settle_seconds - age)
        return wait

    def close(self) -> None:
        """Stop the watchdog observer."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
